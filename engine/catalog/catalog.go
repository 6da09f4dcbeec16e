// Package catalog is the gateway's model catalogue: the built-in models with
// their providers' list prices and capabilities, the [[models]] overrides of
// gateway.toml, aliases, and the resolution of a client's model name to one
// entry.
package catalog

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Model is one catalog entry.
type Model struct {
	// Name is the canonical client-facing name: "provider/upstream".
	Name     string
	Provider string
	// Upstream is the name sent to the provider.
	Upstream        string
	ContextWindow   int
	MaxOutputTokens int
	// Prices in USD per million tokens.
	InputPrice, OutputPrice, CachedPrice, CacheWritePrice float64
	Tools, Vision, JSON                                   bool
	// Reasoning models take a reasoning effort (OpenAI's reasoning_effort,
	// Gemini's thinking budget); the gateway sends one only to them.
	Reasoning bool
	// Deterministic models answer identically without a temperature.
	Deterministic bool
	// Known is false for "provider/anything" names that are not in the
	// catalog: they pass through, with unknown capabilities assumed present.
	Known bool
}

// builtinModels is the catalog shipped with the gateway. Prices are the
// providers' published list prices per million tokens (input, output, cached
// input read, cache write) as of 2026; override them in gateway.toml.
var builtinModels = []Model{
	// OpenAI: https://openai.com/api/pricing
	{Provider: "openai", Upstream: "gpt-4o", ContextWindow: 128000, MaxOutputTokens: 16384, InputPrice: 2.5, OutputPrice: 10, CachedPrice: 1.25, Tools: true, Vision: true, JSON: true},
	{Provider: "openai", Upstream: "gpt-4o-mini", ContextWindow: 128000, MaxOutputTokens: 16384, InputPrice: 0.15, OutputPrice: 0.6, CachedPrice: 0.075, Tools: true, Vision: true, JSON: true},
	{Provider: "openai", Upstream: "gpt-4.1", ContextWindow: 1047576, MaxOutputTokens: 32768, InputPrice: 2, OutputPrice: 8, CachedPrice: 0.5, Tools: true, Vision: true, JSON: true},
	{Provider: "openai", Upstream: "gpt-4.1-mini", ContextWindow: 1047576, MaxOutputTokens: 32768, InputPrice: 0.4, OutputPrice: 1.6, CachedPrice: 0.1, Tools: true, Vision: true, JSON: true},
	{Provider: "openai", Upstream: "gpt-4.1-nano", ContextWindow: 1047576, MaxOutputTokens: 32768, InputPrice: 0.1, OutputPrice: 0.4, CachedPrice: 0.025, Tools: true, Vision: true, JSON: true},
	{Provider: "openai", Upstream: "o1", ContextWindow: 200000, MaxOutputTokens: 100000, InputPrice: 15, OutputPrice: 60, CachedPrice: 7.5, Tools: true, Vision: true, JSON: true, Reasoning: true},
	{Provider: "openai", Upstream: "o1-mini", ContextWindow: 128000, MaxOutputTokens: 65536, InputPrice: 1.1, OutputPrice: 4.4, CachedPrice: 0.55},
	{Provider: "openai", Upstream: "o3-mini", ContextWindow: 200000, MaxOutputTokens: 100000, InputPrice: 1.1, OutputPrice: 4.4, CachedPrice: 0.55, Tools: true, JSON: true, Reasoning: true},
	{Provider: "openai", Upstream: "o3", ContextWindow: 200000, MaxOutputTokens: 100000, InputPrice: 2, OutputPrice: 8, CachedPrice: 0.5, Tools: true, Vision: true, JSON: true, Reasoning: true},
	{Provider: "openai", Upstream: "o4-mini", ContextWindow: 200000, MaxOutputTokens: 100000, InputPrice: 1.1, OutputPrice: 4.4, CachedPrice: 0.275, Tools: true, Vision: true, JSON: true, Reasoning: true},
	// Anthropic: https://www.anthropic.com/pricing (cache write = 1.25x input)
	{Provider: "anthropic", Upstream: "claude-opus-4-5", ContextWindow: 200000, MaxOutputTokens: 64000, InputPrice: 5, OutputPrice: 25, CachedPrice: 0.5, CacheWritePrice: 6.25, Tools: true, Vision: true, JSON: true, Reasoning: true},
	{Provider: "anthropic", Upstream: "claude-opus-4-1", ContextWindow: 200000, MaxOutputTokens: 32000, InputPrice: 15, OutputPrice: 75, CachedPrice: 1.5, CacheWritePrice: 18.75, Tools: true, Vision: true, JSON: true, Reasoning: true},
	{Provider: "anthropic", Upstream: "claude-sonnet-4-5", ContextWindow: 200000, MaxOutputTokens: 64000, InputPrice: 3, OutputPrice: 15, CachedPrice: 0.3, CacheWritePrice: 3.75, Tools: true, Vision: true, JSON: true, Reasoning: true},
	{Provider: "anthropic", Upstream: "claude-sonnet-4-0", ContextWindow: 200000, MaxOutputTokens: 64000, InputPrice: 3, OutputPrice: 15, CachedPrice: 0.3, CacheWritePrice: 3.75, Tools: true, Vision: true, JSON: true, Reasoning: true},
	{Provider: "anthropic", Upstream: "claude-haiku-4-5", ContextWindow: 200000, MaxOutputTokens: 64000, InputPrice: 1, OutputPrice: 5, CachedPrice: 0.1, CacheWritePrice: 1.25, Tools: true, Vision: true, JSON: true, Reasoning: true},
	{Provider: "anthropic", Upstream: "claude-3-5-haiku-latest", ContextWindow: 200000, MaxOutputTokens: 8192, InputPrice: 0.8, OutputPrice: 4, CachedPrice: 0.08, CacheWritePrice: 1, Tools: true, Vision: true, JSON: true},
	// Gemini: https://ai.google.dev/gemini-api/docs/pricing
	{Provider: "gemini", Upstream: "gemini-2.5-pro", ContextWindow: 1048576, MaxOutputTokens: 65536, InputPrice: 1.25, OutputPrice: 10, CachedPrice: 0.31, Tools: true, Vision: true, JSON: true, Reasoning: true},
	{Provider: "gemini", Upstream: "gemini-2.5-flash", ContextWindow: 1048576, MaxOutputTokens: 65536, InputPrice: 0.3, OutputPrice: 2.5, CachedPrice: 0.075, Tools: true, Vision: true, JSON: true, Reasoning: true},
	{Provider: "gemini", Upstream: "gemini-2.0-flash", ContextWindow: 1048576, MaxOutputTokens: 8192, InputPrice: 0.1, OutputPrice: 0.4, CachedPrice: 0.025, Tools: true, Vision: true, JSON: true},
	{Provider: "gemini", Upstream: "gemini-1.5-pro", ContextWindow: 2097152, MaxOutputTokens: 8192, InputPrice: 1.25, OutputPrice: 5, CachedPrice: 0.3125, Tools: true, Vision: true, JSON: true},
	// DeepSeek: https://api-docs.deepseek.com/quick_start/pricing (V3.2:
	// input on a context-cache miss, on a hit (the cached price), output;
	// no cache-write premium: https://api-docs.deepseek.com/guides/kv_cache).
	{Provider: "deepseek", Upstream: "deepseek-chat", ContextWindow: 131072, MaxOutputTokens: 8192, InputPrice: 0.28, OutputPrice: 0.42, CachedPrice: 0.028, Tools: true, JSON: true},
	{Provider: "deepseek", Upstream: "deepseek-reasoner", ContextWindow: 131072, MaxOutputTokens: 65536, InputPrice: 0.28, OutputPrice: 0.42, CachedPrice: 0.028, Tools: true, JSON: true, Reasoning: true},
	// Groq: https://groq.com/pricing
	{Provider: "groq", Upstream: "llama-3.3-70b-versatile", ContextWindow: 131072, MaxOutputTokens: 32768, InputPrice: 0.59, OutputPrice: 0.79, Tools: true, JSON: true},
	{Provider: "groq", Upstream: "llama-3.1-8b-instant", ContextWindow: 131072, MaxOutputTokens: 131072, InputPrice: 0.05, OutputPrice: 0.08, Tools: true, JSON: true},
	{Provider: "groq", Upstream: "gemma2-9b-it", ContextWindow: 8192, MaxOutputTokens: 8192, InputPrice: 0.2, OutputPrice: 0.2, JSON: true},
	// The in-process mock.
	{Provider: "mock", Upstream: "echo", ContextWindow: 1 << 20, MaxOutputTokens: 1 << 16, Tools: true, Vision: true, JSON: true, Deterministic: true},
	{Provider: "mock", Upstream: "lorem", ContextWindow: 1 << 20, MaxOutputTokens: 1 << 16, Tools: true, Vision: true, JSON: true, Deterministic: true},
	{Provider: "mock", Upstream: "tool", ContextWindow: 1 << 20, MaxOutputTokens: 1 << 16, Tools: true, Vision: true, JSON: true, Deterministic: true},
}

// bareAliases are the seed's short names.
var bareAliases = map[string]string{
	"claude-sonnet-4": "anthropic/claude-sonnet-4-0",
	"sonnet":          "anthropic/claude-sonnet-4-5",
	"opus":            "anthropic/claude-opus-4-5",
	"haiku":           "anthropic/claude-haiku-4-5",
}

// prefixes map bare model-name prefixes to the provider that serves them.
var prefixes = []struct{ prefix, provider string }{
	{"gpt-", "openai"}, {"chatgpt-", "openai"}, {"o1", "openai"}, {"o3", "openai"}, {"o4", "openai"},
	{"text-embedding-", "openai"}, {"claude-", "anthropic"}, {"gemini-", "gemini"},
	{"deepseek-", "deepseek"},
}

// Catalog resolves client model names to providers and upstream models.
//
// # Notes
//
// A Catalog is immutable after NewCatalog and safe for concurrent use.
type Catalog struct {
	byName  map[string]*Model // "provider/upstream" and aliases
	enabled map[string]bool   // provider name → enabled
	// dynamic holds the models resolved from names that are not in the
	// catalog ("provider/anything", bare "gpt-…"), keyed by the client's
	// name. Their strings are copies: the name a handler resolves usually
	// points into a pooled request body, and a Model outlives the request
	// in the usage totals, metric series and breakers.
	dynamic  sync.Map // string → *Model
	nDynamic atomic.Int64
	models   []*Model
	// larger maps a catalog model to its provider's model with the next
	// larger context window (and every capability it has): where a prompt
	// that overflowed goes.
	larger map[*Model]*Model
}

// ModelConfig adds or overrides a catalog entry: one [[models]] section of
// gateway.toml.
type ModelConfig struct {
	Name            string   `toml:"name"`
	Provider        string   `toml:"provider"`
	Upstream        string   `toml:"upstream"`
	Aliases         []string `toml:"aliases"`
	ContextWindow   int      `toml:"context_window"`
	MaxOutputTokens int      `toml:"max_output_tokens"`
	InputPrice      float64  `toml:"input_price"`
	OutputPrice     float64  `toml:"output_price"`
	CachedPrice     float64  `toml:"cached_input_price"`
	CacheWritePrice float64  `toml:"cache_write_price"`
	Tools           *bool    `toml:"tools"`
	Vision          *bool    `toml:"vision"`
	JSON            *bool    `toml:"json"`
	// Reasoning says the model takes a reasoning effort (reasoning_effort,
	// a Gemini thinking budget).
	Reasoning *bool `toml:"reasoning"`
	// Deterministic says the model answers identically without a
	// temperature, so such answers are cached.
	Deterministic *bool `toml:"deterministic"`
}

// ResolveError explains why a model name did not resolve.
type ResolveError struct{ Msg string }

func (e *ResolveError) Error() string { return e.Msg }

// New builds the catalog from the built-ins and the [[models]] entries;
// enabled maps each configured provider's name to whether it is enabled.
func New(enabled map[string]bool, models []ModelConfig) (*Catalog, error) {
	c := &Catalog{byName: map[string]*Model{}, enabled: map[string]bool{}}
	for name, on := range enabled {
		c.enabled[name] = on
	}
	add := func(m Model) {
		m.Name = m.Provider + "/" + m.Upstream
		m.Known = true
		if old, ok := c.byName[m.Name]; ok {
			*old = m
			return
		}
		mm := m
		c.byName[m.Name] = &mm
		c.models = append(c.models, &mm)
	}
	for _, m := range builtinModels {
		add(m)
	}
	for _, mc := range models {
		upstream := mc.Upstream
		if upstream == "" {
			upstream = mc.Name
			if i := strings.IndexByte(upstream, '/'); i >= 0 && upstream[:i] == mc.Provider {
				upstream = upstream[i+1:]
			}
		}
		m := Model{Provider: mc.Provider, Upstream: upstream}
		if old, ok := c.byName[mc.Provider+"/"+upstream]; ok {
			m = *old
		}
		setInt(&m.ContextWindow, mc.ContextWindow)
		setInt(&m.MaxOutputTokens, mc.MaxOutputTokens)
		setF(&m.InputPrice, mc.InputPrice)
		setF(&m.OutputPrice, mc.OutputPrice)
		setF(&m.CachedPrice, mc.CachedPrice)
		setF(&m.CacheWritePrice, mc.CacheWritePrice)
		setB(&m.Tools, mc.Tools)
		setB(&m.Vision, mc.Vision)
		setB(&m.JSON, mc.JSON)
		setB(&m.Deterministic, mc.Deterministic)
		setB(&m.Reasoning, mc.Reasoning)
		add(m)
		full := c.byName[mc.Provider+"/"+upstream]
		if mc.Name != full.Name {
			c.byName[mc.Name] = full
		}
		for _, a := range mc.Aliases {
			if prev, ok := c.byName[a]; ok && prev != full {
				return nil, fmt.Errorf("models: alias %q already names %s", a, prev.Name)
			}
			c.byName[a] = full
		}
	}
	// Bare upstream names ("gpt-4o") resolve to their catalog entry, so they
	// carry prices and capabilities; the first provider listed wins a clash.
	for _, m := range c.models {
		if _, taken := c.byName[m.Upstream]; !taken {
			c.byName[m.Upstream] = m
		}
	}
	for a, target := range bareAliases {
		if _, taken := c.byName[a]; !taken {
			c.byName[a] = c.byName[target]
		}
	}
	sort.Slice(c.models, func(i, j int) bool { return c.models[i].Name < c.models[j].Name })
	c.larger = map[*Model]*Model{}
	for _, m := range c.byName {
		var best *Model
		for _, o := range c.byName {
			if o.Provider != m.Provider || o.ContextWindow <= m.ContextWindow ||
				(m.Tools && !o.Tools) || (m.Vision && !o.Vision) || (m.JSON && !o.JSON) {
				continue
			}
			if best == nil || o.ContextWindow < best.ContextWindow || (o.ContextWindow == best.ContextWindow && o.Name < best.Name) {
				best = o
			}
		}
		if best != nil {
			c.larger[m] = best
		}
	}
	return c, nil
}

// Larger returns the model of m's provider with the next larger context
// window, or nil.
func (c *Catalog) Larger(m *Model) *Model { return c.larger[m] }

func setInt(dst *int, v int) {
	if v > 0 {
		*dst = v
	}
}

func setF(dst *float64, v float64) {
	if v > 0 {
		*dst = v
	}
}

func setB(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// Resolve maps a client model name to a catalog entry. Unknown
// "provider/model" names of an enabled provider pass through.
func (c *Catalog) Resolve(name string) (*Model, error) {
	if m, ok := c.byName[name]; ok {
		if !c.enabled[m.Provider] {
			return nil, NotConfigured(name, m.Provider)
		}
		return m, nil
	}
	if i := strings.IndexByte(name, '/'); i > 0 {
		prov, up := name[:i], name[i+1:]
		enabled, known := c.enabled[prov]
		if !known {
			return nil, &ResolveError{Msg: "The model `" + name + "` does not exist: no provider named `" + prov + "` (configured: " + strings.Join(c.EnabledProviders(), ", ") + ")"}
		}
		if !enabled {
			return nil, NotConfigured(name, prov)
		}
		if up == "" {
			return nil, &ResolveError{Msg: "The model `" + name + "` does not exist: empty model name after the provider"}
		}
		return c.dynamicModel(name, prov, up, ""), nil
	}
	for _, p := range prefixes {
		if strings.HasPrefix(name, p.prefix) {
			if !c.enabled[p.provider] {
				return nil, NotConfigured(name, p.provider)
			}
			return c.dynamicModel(name, p.provider, name, p.provider+"/"), nil
		}
	}
	return nil, &ResolveError{Msg: "The model `" + name + "` does not exist: use provider/model (e.g. mock/echo), a catalog name, or an alias; see GET /v1/models"}
}

// maxDynamic bounds the cached dynamic models (and so the per-model metric
// series and usage keys that clients can create by inventing names).
const maxDynamic = 1024

// dynamicModel returns the model for a name outside the catalog: a cached
// one, or a new one whose strings are copies of the caller's. The client
// name is key; canonical is prefix+upstream ("openai/gpt-x" for "gpt-x").
func (c *Catalog) dynamicModel(key, provider, upstream, prefix string) *Model {
	if v, ok := c.dynamic.Load(key); ok {
		return v.(*Model)
	}
	up := strings.Clone(upstream)
	m := &Model{Name: prefix + up, Provider: strings.Clone(provider), Upstream: up, Tools: true, Vision: true, JSON: true, Deterministic: provider == "mock"}
	if prefix == "" {
		m.Name = strings.Clone(key)
	}
	if c.nDynamic.Load() >= maxDynamic {
		return m // not cached: the metrics fold it into model="other"
	}
	if v, loaded := c.dynamic.LoadOrStore(strings.Clone(key), m); loaded {
		return v.(*Model)
	}
	c.nDynamic.Add(1)
	return m
}

// NotConfigured is the error for a model whose provider is not configured.
func NotConfigured(name, provider string) error {
	return &ResolveError{Msg: "The model `" + name + "` needs provider `" + provider + "`, which is not configured (set its API key or base URL)"}
}

// EnabledProviders lists enabled provider names, sorted.
func (c *Catalog) EnabledProviders() []string {
	var out []string
	for p, ok := range c.enabled {
		if ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// Enabled reports whether the provider named p is configured and enabled.
func (c *Catalog) Enabled(p string) bool { return c.enabled[p] }

// Models returns the catalog entries of enabled providers, sorted by name.
func (c *Catalog) Models() []*Model {
	var out []*Model
	for _, m := range c.models {
		if c.enabled[m.Provider] {
			out = append(out, m)
		}
	}
	return out
}
