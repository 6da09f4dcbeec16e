package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/kinds"
	"github.com/aigateway/gateway/wasm"
)

// Config is the gateway's configuration: gateway.toml, then environment
// variables on top (env > file > defaults). It is immutable once Validate
// has succeeded.
type Config struct {
	// Listen is the address to serve on.
	Listen string `toml:"listen"`
	// AllowUnauthenticated permits serving without client keys on a
	// non-loopback address.
	AllowUnauthenticated bool `toml:"allow_unauthenticated"`
	// MaxBodyBytes bounds a request body (413 above it).
	MaxBodyBytes int `toml:"max_body_bytes"`
	// DrainTimeout bounds graceful shutdown.
	DrainTimeout Duration `toml:"drain_timeout"`
	// DefaultModel answers requests that name no model.
	DefaultModel string `toml:"default_model"`
	// LogPrompts puts prompts in the access log (off by default).
	LogPrompts bool `toml:"log_prompts"`
	// DataDir holds persisted state (uploaded policies, compilation cache).
	DataDir string `toml:"data_dir"`
	// AdminKey enables the admin API.
	AdminKey string `toml:"admin_key"`
	// ReadTimeout bounds reading one request, headers and body.
	ReadTimeout Duration `toml:"read_timeout"`
	// FirstByteTimeout closes a connection that sends nothing this long
	// after it is accepted (0: only read_timeout).
	FirstByteTimeout Duration `toml:"first_byte_timeout"`
	// WriteTimeout cuts a connection when one write to it makes no progress
	// this long, streams included: a client that stops reading a stream
	// frees its provider slot (0: never).
	WriteTimeout Duration `toml:"write_timeout"`
	// MaxConnsPerIP caps open connections per client address; beyond it a
	// connection is answered 429 and closed (0: no cap).
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// MaxHeaderBytes bounds the request line and headers (431 above it).
	MaxHeaderBytes int `toml:"max_header_bytes"`
	// TrustedProxies lists the addresses (an IP or a CIDR prefix) of the
	// load balancers and reverse proxies in front of the gateway: from a
	// peer in it, the client's address is read from X-Forwarded-For
	// (clientaddr.go). Empty: the peer is the client.
	TrustedProxies []string `toml:"trusted_proxies"`
	trusted        []netip.Prefix
	// QueueTimeout is how long a request waits for a provider slot when the
	// provider is at max_in_flight before a 503.
	QueueTimeout Duration `toml:"queue_timeout"`
	// MemoryTrimInterval is how often the process checks whether it went
	// quiet after a burst, and then gives its free memory back to the
	// system (internal/memtrim; cmd/gateway runs it). 0: never.
	MemoryTrimInterval Duration `toml:"memory_trim_interval"`
	// PolicyQuietRelease is what a quiet trim gives back of the Wasm
	// policies idle for one memory_trim_interval: "off" (the default: only
	// the 5-minute idle release), "instances", or "code" (instances, and
	// the compiled code of built-ins no request runs until their first
	// call: the router, the judge, the triggered ones). Either of the last
	// two makes the first request after a pause pay the instantiation
	// (docs/deploying.md, "Memory").
	PolicyQuietRelease string `toml:"policy_quiet_release"`
	// PolicyKeepInstances is how many instances of a policy that every
	// request runs a quiet trim keeps.
	PolicyKeepInstances int `toml:"policy_keep_instances"`

	Keys []KeyConfig `toml:"keys"`
	// Policies binds Wasm policies to stages, in order. Empty: the
	// built-ins (stripper, skills, diff-first, router).
	Policies []wasm.PolicyConfig `toml:"policies"`
	// PolicyTimeout is the per-call deadline of policies that set none,
	// uploads included.
	PolicyTimeout Duration `toml:"policy_timeout"`
	// PolicyLimits bound what an uploaded (or file) module may cost the
	// host before it runs.
	PolicyLimits PolicyLimitsConfig `toml:"policy_limits"`
	// Skills add to (or replace, by id) the eight built-in skills.
	Skills    []policies.Skill          `toml:"skills"`
	Providers map[string]ProviderConfig `toml:"providers"`
	Models    []catalog.ModelConfig     `toml:"models"`
	Routing   RoutingConfig             `toml:"routing"`
	Cache     CacheConfig               `toml:"cache"`
	Optimize  OptimizeConfig            `toml:"optimize"`
	Pruning   PruningConfig             `toml:"pruning"`
	Sessions  SessionsConfig            `toml:"sessions"`
	Reliab    ReliabilityConfig         `toml:"reliability"`

	// Tenancy and accounting (config_tenancy.go).
	Store     StoreConfig      `toml:"store"`
	Projects  []ProjectConfig  `toml:"projects"`
	Webhooks  WebhooksConfig   `toml:"webhooks"`
	AdminKeys []AdminKeyConfig `toml:"admin_keys"`
	// Batch is the Batch API's runner (batches.go, docs/batch.md).
	Batch BatchConfig `toml:"batch"`

	// wasmCacheDir overrides data_dir/wasm-cache, the compiled modules'
	// cache (tests share one across gateways with data dirs of their own).
	wasmCacheDir string
	// clockFile, when set, is read for the time by Anthropic's
	// cache-lifetime bookkeeping (GATEWAY_SIM_CLOCK_FILE, simclock.go).
	// A path, not a func, so that configurations still compare (reload).
	clockFile string
}

// PolicyLimitsConfig is [policy_limits]: bounds on uploaded and file
// modules, checked before and while they compile.
type PolicyLimitsConfig struct {
	// MaxModuleBytes caps an upload's size (413 above it).
	MaxModuleBytes int64 `toml:"max_module_bytes"`
	// MaxFunctions caps a module's functions, imports included, read from
	// its section headers before anything is decoded.
	MaxFunctions int `toml:"max_functions"`
	// CompileTimeout is a module's compile budget: past it the upload is
	// refused and the compile abandoned (one runs at a time).
	CompileTimeout Duration `toml:"compile_timeout"`
	// CacheMaxMB bounds the on-disk compilation cache of uploaded modules
	// (oldest entries deleted first); the built-ins' entries are kept.
	CacheMaxMB int `toml:"cache_max_mb"`
}

// KeyConfig is one client key. Exactly one of Key and SHA256 is set.
type KeyConfig struct {
	Key     string `toml:"key"`
	SHA256  string `toml:"sha256"`
	Project string `toml:"project"`
	Name    string `toml:"name"`
}

// ProviderConfig declares one upstream.
type ProviderConfig struct {
	Kind      string `toml:"kind"`
	BaseURL   string `toml:"base_url"`
	APIKeyEnv string `toml:"api_key_env"`
	// APIKey may be set directly (discouraged: prefer api_key_env).
	APIKey         string            `toml:"api_key"`
	Timeout        Duration          `toml:"timeout"`
	ConnectTimeout Duration          `toml:"connect_timeout"`
	IdleTimeout    Duration          `toml:"idle_timeout"`
	MaxInFlight    int               `toml:"max_in_flight"`
	Headers        map[string]string `toml:"headers"`
	AuthHeader     string            `toml:"auth_header"`
	Query          string            `toml:"query"`
	Enabled        *bool             `toml:"enabled"`
	// Responses: the upstream serves OpenAI's Responses API, so
	// /v1/responses is passed through to it (OpenAI-format kinds; unset:
	// on for OpenAI itself, off for other OpenAI-compatible servers).
	Responses *bool `toml:"responses"`
	// Mock only.
	Pace       Duration `toml:"pace"`
	Latency    Duration `toml:"latency"`
	ReplyBytes int      `toml:"reply_bytes"`

	// enabled is resolved by Validate from the key's presence.
	enabled bool
	key     string
	// cacheControl is optimize.anthropic_cache_control, for Anthropic.
	cacheControl bool
	// noCacheLedger is !optimize.anthropic_cache_ledger.
	noCacheLedger bool
	// noCacheHourTTL is !optimize.anthropic_cache_1h.
	noCacheHourTTL bool
	// clockFile is Config.clockFile (GATEWAY_SIM_CLOCK_FILE).
	clockFile string
	// contextWindows maps upstream model names to the context windows that
	// [[models]] declare for this provider (Ollama's num_ctx).
	contextWindows map[string]int
}

// foreignSetting returns the first kind-specific key the section sets that
// its kind does not read (providers.KindSettings), or "".
func (p *ProviderConfig) foreignSetting(k providers.Kind) string {
	set := map[string]bool{"auth_header": p.AuthHeader != "", "query": p.Query != "",
		"pace": p.Pace != 0, "latency": p.Latency != 0, "reply_bytes": p.ReplyBytes != 0}
	for _, key := range providers.KindSettings {
		if set[key] && !slices.Contains(k.Reads, key) {
			return key
		}
	}
	return ""
}

// kindsReading names the kinds that read a kind-specific key.
func kindsReading(key string) string {
	var out []string
	for _, k := range kinds.All {
		if slices.Contains(k.Reads, key) {
			out = append(out, k.Name)
		}
	}
	return strings.Join(out, ", ")
}

// RoutingConfig holds the seed's routing switches.
type RoutingConfig struct {
	SmartRouting bool   `toml:"smart_routing"`
	Mode         string `toml:"mode"`
	Cascade      bool   `toml:"cascade"`
	// Tiers binds the router's tiers (local, fast, strong, reasoning) to
	// models; unset tiers get sensible models among configured providers.
	Tiers map[string]string `toml:"tiers"`
	// ClassifierModel answers the router's "ambiguous" cases (phase 2),
	// any configured provider's model; empty: no phase 2 (the router's
	// tier stands).
	ClassifierModel string `toml:"classifier_model"`
	// ClassifierTimeout bounds the phase-2 call.
	ClassifierTimeout Duration `toml:"classifier_timeout"`
	// Threshold is the knob of the learned router: the P(strong needed)
	// from which a request goes to the strong tier; 0 means the weights'
	// own default. X-Gateway-Route-Threshold overrides it per request.
	Threshold float64 `toml:"threshold"`
	// AmbiguousMargin: with a classifier model, requests scored within
	// this distance of the threshold go to phase 2 (default 0.05).
	AmbiguousMargin float64 `toml:"ambiguous_margin"`
	// Weights is a `gateway router train` output that replaces the
	// embedded model; an upload (PUT /admin/routing/weights) wins over it.
	Weights string `toml:"weights"`
	// Classifier: "learned" (default) or "rules" (the seed's heuristics).
	Classifier string `toml:"classifier"`
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration time.Duration

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. \"30s\", \"2m\")", b)
	}
	if v < 0 {
		return fmt.Errorf("duration %q must not be negative", b)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults returns the configuration used when gateway.toml is absent or
// empty.
func Defaults() Config {
	bc := limits.DefaultBreakerConfig() // one source for the breaker's defaults
	return Config{
		Listen:              "127.0.0.1:8080",
		MaxBodyBytes:        32 << 20,
		DrainTimeout:        Duration(30 * time.Second),
		DefaultModel:        "mock/echo",
		DataDir:             "data",
		ReadTimeout:         Duration(60 * time.Second),
		FirstByteTimeout:    Duration(10 * time.Second),
		WriteTimeout:        Duration(30 * time.Second),
		MaxConnsPerIP:       256,
		MaxHeaderBytes:      8 << 10,
		QueueTimeout:        Duration(5 * time.Second),
		MemoryTrimInterval:  Duration(time.Second),
		PolicyQuietRelease:  "off",
		PolicyKeepInstances: 1,
		PolicyTimeout:       Duration(100 * time.Millisecond),
		PolicyLimits:        PolicyLimitsConfig{MaxModuleBytes: 16 << 20, MaxFunctions: 100_000, CompileTimeout: Duration(30 * time.Second), CacheMaxMB: 256},
		Providers:           map[string]ProviderConfig{},
		Routing:             RoutingConfig{Mode: "local_first", ClassifierTimeout: Duration(5 * time.Second), AmbiguousMargin: 0.05},
		Cache:               CacheConfig{MemoryMB: 256, Enabled: true, Mode: "auto", TTL: Duration(time.Hour), MaxEntryBytes: 1 << 20},
		Optimize: OptimizeConfig{
			AnthropicCacheControl: true,
			AnthropicCacheLedger:  true,
			AnthropicCache1h:      true,
			PromptCacheKey:        true,
			FileHashCache:         true,
			StripIDEBoilerplate:   true,
		},
		Reliab: ReliabilityConfig{CircuitBreaker: true, Retry: true, RateLimitRPM: 60, RetryMaxAttempts: 3,
			RetryBackoffBase: Duration(time.Second), RetryBackoffMax: Duration(10 * time.Second), RetryBudget: Duration(30 * time.Second),
			BreakerFailures: bc.Failures, BreakerCooldown: Duration(bc.Cooldown), BreakerFailureRatio: bc.FailureRatio, BreakerWindow: Duration(bc.Window),
			BreakerMinRequests: bc.MinRequests, BreakerProbes: bc.Probes, BreakerSuccesses: bc.Successes, BreakerPerModel: bc.PerModel,
			RetryMaxRetryAfter:    Duration(10 * time.Second),
			RateLimitRedisTimeout: Duration(50 * time.Millisecond), RateLimitRedisRetry: Duration(time.Second)},
		Pruning:  defaultPruningConfig(),
		Sessions: defaultSessionsConfig(),
		Store:    defaultStoreConfig(),
		Batch:    defaultBatchConfig(),
		Webhooks: defaultWebhooksConfig(),
	}
}

// builtinProviders are the providers the gateway knows without any
// configuration (each kind's presets, providers/kinds); each is enabled as
// its kind says (a key, a base URL, or always).
func builtinProviders() map[string]ProviderConfig {
	out := map[string]ProviderConfig{}
	for _, k := range kinds.All {
		for _, p := range k.Presets {
			out[p.Name] = ProviderConfig{Kind: k.Name, BaseURL: p.BaseURL, APIKeyEnv: p.APIKeyEnv}
		}
	}
	return out
}

// Load reads path (if not empty) over the defaults, then applies the
// environment. getenv is os.Getenv in production.
func Load(path string, getenv func(string) string) (*Config, error) {
	cfg := Defaults()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		if err := decodeStrict(string(data), &cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return nil, err
	}
	if err := cfg.Validate(getenv); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// decodeStrict decodes TOML and refuses keys that match no field.
func decodeStrict(data string, cfg *Config) error {
	md, err := toml.Decode(data, cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return err
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, 0, len(und))
		for _, k := range und {
			keys = append(keys, k.String())
		}
		return fmt.Errorf("unknown configuration key %q", strings.Join(keys, `", "`))
	}
	return nil
}

// ParseBool accepts the seed's "1" and also true/yes/on (and their negations),
// case-insensitive.
func ParseBool(name, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("environment variable %s=%q is not a boolean: use 1/true/yes/on or 0/false/no/off", name, v)
}

// Validate checks the configuration, fills provider defaults and resolves
// which providers are enabled.
func (c *Config) Validate(getenv func(string) string) error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen %q: %w", c.Listen, err)
	}
	if c.MaxConnsPerIP < 0 {
		return errors.New("max_conns_per_ip must not be negative (0: no cap)")
	}
	if c.MaxHeaderBytes < 1024 {
		return fmt.Errorf("max_header_bytes = %d: at least 1024", c.MaxHeaderBytes)
	}
	if c.MaxBodyBytes <= 0 {
		return fmt.Errorf("max_body_bytes must be positive")
	}
	trusted, err := parseTrustedProxies(c.TrustedProxies)
	if err != nil {
		return err
	}
	c.trusted = trusted
	builtins := builtinProviders()
	merged := map[string]ProviderConfig{}
	for name, p := range builtins {
		merged[name] = p
	}
	for name, p := range c.Providers {
		base, isBuiltin := builtins[name]
		if isBuiltin {
			// Unset fields inherit the built-in defaults.
			if p.Kind == "" {
				p.Kind = base.Kind
			}
			if p.BaseURL == "" {
				p.BaseURL = base.BaseURL
			}
			if p.APIKeyEnv == "" {
				p.APIKeyEnv = base.APIKeyEnv
			}
		}
		if p.Kind == "" {
			return fmt.Errorf("providers.%s: kind is required (%s)", name, kinds.All.Names())
		}
		k, ok := kinds.All.Lookup(p.Kind)
		if !ok {
			return fmt.Errorf("providers.%s: unknown kind %q (%s)", name, p.Kind, kinds.All.Names())
		}
		if key := p.foreignSetting(k); key != "" {
			return fmt.Errorf("providers.%s: %s means nothing to kind %q (only to kinds that read it: %s)", name, key, p.Kind, kindsReading(key))
		}
		if p.MaxInFlight < 0 {
			return fmt.Errorf("providers.%s: max_in_flight must not be negative", name)
		}
		if strings.ContainsAny(name, "/ ") || name == "" {
			return fmt.Errorf("providers.%q: a provider name may not contain '/' or spaces", name)
		}
		merged[name] = p
	}
	for name, p := range merged {
		if p.APIKey == "" && p.APIKeyEnv != "" {
			p.key = getenv(p.APIKeyEnv)
		} else {
			p.key = p.APIKey
		}
		k, _ := kinds.All.Lookup(p.Kind) // every kind in merged was checked above
		switch {
		case p.Enabled != nil:
			p.enabled = *p.Enabled
		case k.EnabledBy == providers.Always:
			p.enabled = true
		case k.EnabledBy == providers.ByBaseURL:
			p.enabled = p.BaseURL != ""
		case p.APIKeyEnv != "" || p.APIKey != "":
			p.enabled = p.key != ""
		default:
			// A keyless OpenAI-compatible server (vLLM, LM Studio).
			p.enabled = p.BaseURL != ""
		}
		if p.enabled && k.EnabledBy != providers.Always && p.BaseURL == "" {
			return fmt.Errorf("providers.%s: base_url is required", name)
		}
		if p.MaxInFlight == 0 {
			p.MaxInFlight = 1024
		}
		p.cacheControl = c.Optimize.AnthropicCacheControl
		p.noCacheLedger = !c.Optimize.AnthropicCacheLedger
		p.noCacheHourTTL = !c.Optimize.AnthropicCache1h
		p.clockFile = c.clockFile
		merged[name] = p
	}
	c.Providers = merged
	for i, k := range c.Keys {
		if (k.Key == "") == (k.SHA256 == "") {
			return fmt.Errorf("keys[%d]: set exactly one of key and sha256", i)
		}
		if k.SHA256 != "" {
			if b, err := hex.DecodeString(k.SHA256); err != nil || len(b) != sha256.Size {
				return fmt.Errorf("keys[%d].sha256: expected 64 hex digits", i)
			}
		}
		if k.Project == "" {
			c.Keys[i].Project = "default"
		}
	}
	// Project keys live in the store: with an admin key to create them, a
	// public gateway may start without gateway.toml keys (it answers 401
	// until a key exists).
	if len(c.Keys) == 0 && c.AdminKey == "" && len(c.AdminKeys) == 0 && !c.AllowUnauthenticated && !isLoopback(c.Listen) {
		return fmt.Errorf("no client key configured (GATEWAY_API_KEY or [[keys]]) and listen address %s is not loopback: set a key, or an admin key to create project keys, or allow_unauthenticated = true to serve without one", c.Listen)
	}
	switch c.Routing.Mode {
	case "local_first", "balanced", "quality", "keyword", "":
	default:
		return fmt.Errorf("routing.mode / SMART_ROUTING_MODE %q: expected local_first, balanced, quality or keyword", c.Routing.Mode)
	}
	if r := c.Routing; r.Threshold < 0 || r.Threshold >= 1 || r.AmbiguousMargin < 0 || r.AmbiguousMargin > 0.5 {
		return fmt.Errorf("routing: threshold must be in [0, 1) and ambiguous_margin in [0, 0.5]")
	}
	switch c.Routing.Classifier {
	case "", "learned", "rules":
	default:
		return fmt.Errorf("routing.classifier %q: expected learned or rules", c.Routing.Classifier)
	}
	switch c.PolicyQuietRelease {
	case "code", "instances", "off":
	default:
		return fmt.Errorf("policy_quiet_release %q: expected code, instances or off", c.PolicyQuietRelease)
	}
	if c.PolicyKeepInstances < 0 {
		return fmt.Errorf("policy_keep_instances %d: must be 0 or more", c.PolicyKeepInstances)
	}
	switch c.Cache.Mode {
	case "auto", "always", "never", "":
	default:
		return fmt.Errorf("cache.mode %q: expected auto, always or never", c.Cache.Mode)
	}
	if l := c.PolicyLimits; l.MaxModuleBytes <= 0 || l.MaxFunctions <= 0 || l.CompileTimeout <= 0 || l.CacheMaxMB <= 0 {
		return fmt.Errorf("policy_limits: max_module_bytes, max_functions, compile_timeout and cache_max_mb must be positive")
	}
	for tier := range c.Routing.Tiers {
		switch tier {
		case "local", "fast", "strong", "reasoning":
		default:
			return fmt.Errorf("routing.tiers.%s: unknown tier (local, fast, strong, reasoning)", tier)
		}
	}
	for i, sk := range c.Skills {
		if sk.ID == "" || sk.Template == "" {
			return fmt.Errorf("skills[%d]: id and template are required", i)
		}
	}
	if err := c.validateTenancy(); err != nil {
		return err
	}
	if err := c.Pruning.validate(); err != nil {
		return err
	}
	if err := c.Sessions.validate(); err != nil {
		return err
	}
	if err := c.Batch.validate(); err != nil {
		return err
	}
	for i, m := range c.Models {
		if m.Name == "" || m.Provider == "" {
			return fmt.Errorf("models[%d]: name and provider are required", i)
		}
		p, ok := c.Providers[m.Provider]
		if !ok {
			return fmt.Errorf("models[%d] (%s): unknown provider %q", i, m.Name, m.Provider)
		}
		if m.ContextWindow > 0 {
			if p.contextWindows == nil {
				p.contextWindows = map[string]int{}
			}
			up := m.Upstream
			if up == "" {
				up = strings.TrimPrefix(m.Name, m.Provider+"/")
			}
			p.contextWindows[up] = m.ContextWindow
			c.Providers[m.Provider] = p
		}
	}
	return nil
}

// EnabledProviders lists the enabled providers' names, sorted.
func (c *Config) EnabledProviders() []string {
	var out []string
	for name, p := range c.Providers {
		if p.enabled {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
