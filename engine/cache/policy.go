package cache

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aigateway/gateway/providers"
)

// Mode says which requests are cached.
type Mode string

// Modes. The empty Mode inherits.
const (
	// ModeAuto caches when the temperature is 0, or absent on a model
	// configured deterministic.
	ModeAuto Mode = "auto"
	// ModeAlways caches whatever the temperature: the operator accepts that
	// one sampled answer is replayed for every identical request.
	ModeAlways Mode = "always"
	// ModeNever caches nothing.
	ModeNever Mode = "never"
)

// Rule overrides the policy for one model or one project.
type Rule struct {
	Mode Mode          // "" inherits
	TTL  time.Duration // 0 inherits
}

// Policy decides what is cached and for how long.
//
// # Notes
//
// A Policy is immutable once passed to New.
type Policy struct {
	// Mode applies when no rule says otherwise (default ModeAuto).
	Mode Mode
	// TTL is how long an entry lives (default 1h).
	TTL time.Duration
	// MaxEntryBytes bounds an entry's encoded size before compression
	// (default 1 MiB); larger answers are served but not stored.
	MaxEntryBytes int
	// SkipToolCalls refuses answers that call tools. By default they are
	// cached: an identical conversation with identical tool results
	// deserves the identical call, and agent loops repeat such turns.
	SkipToolCalls bool
	// Models holds per-model rules keyed "provider/upstream-model"
	// ("openai/gpt-4o"); Projects per-project rules keyed by project. When
	// both apply, "never" wins over "always", which wins over "auto", and the
	// shorter TTL wins.
	Models   map[string]Rule
	Projects map[string]Rule

	models map[route]Rule
}

type route struct{ provider, model string }

// Defaults for a zero Policy.
const (
	DefaultTTL           = time.Hour
	DefaultMaxEntryBytes = 1 << 20
)

func (p *Policy) validate() error {
	if p.Mode == "" {
		p.Mode = ModeAuto
	}
	if p.TTL <= 0 {
		p.TTL = DefaultTTL
	}
	if p.MaxEntryBytes <= 0 {
		p.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if err := p.Mode.validate(); err != nil {
		return fmt.Errorf("cache mode: %w", err)
	}
	p.models = make(map[route]Rule, len(p.Models))
	for name, r := range p.Models {
		prov, model, ok := strings.Cut(name, "/")
		if !ok || prov == "" || model == "" {
			return fmt.Errorf("cache rule for model %q: name it provider/model, e.g. openai/gpt-4o", name)
		}
		if err := r.Mode.validate(); err != nil {
			return fmt.Errorf("cache rule for model %q: %w", name, err)
		}
		p.models[route{prov, model}] = r
	}
	for name, r := range p.Projects {
		if err := r.Mode.validate(); err != nil {
			return fmt.Errorf("cache rule for project %q: %w", name, err)
		}
	}
	return nil
}

func (m Mode) validate() error {
	switch m {
	case "", ModeAuto, ModeAlways, ModeNever:
		return nil
	}
	return fmt.Errorf("unknown mode %q (use auto, always or never)", string(m))
}

// Decision is the policy's answer for one request.
type Decision struct {
	// Cache is true when the request may be answered from the cache and its
	// answer stored.
	Cache bool
	// TTL is the stored entry's lifetime.
	TTL time.Duration
	// Reason says why not, for logs: "mode", "temperature", "n",
	// "logprobs", "audio".
	Reason string
}

// Decide says whether req's answer is cacheable. deterministic is the
// model's configuration: true when the model answers identically without a
// temperature (the mock, a local model pinned to greedy decoding). It
// allocates nothing.
func (p *Policy) Decide(req *providers.Request, project, provider, model string, deterministic bool) Decision {
	mr, mok := p.models[route{provider, model}]
	pr, pok := p.Projects[project]
	// Rules override the default; between rules "never" beats "always",
	// which beats "auto", and the shorter TTL wins.
	mode, ruled, ttl := p.Mode, Mode(""), time.Duration(0)
	for _, r := range [2]struct {
		Rule
		ok bool
	}{{mr, mok}, {pr, pok}} {
		if !r.ok {
			continue
		}
		if rank(r.Mode) > rank(ruled) {
			ruled = r.Mode
		}
		if r.TTL > 0 && (ttl == 0 || r.TTL < ttl) {
			ttl = r.TTL
		}
	}
	if ruled != "" {
		mode = ruled
	}
	if ttl == 0 {
		ttl = p.TTL
	}
	d := Decision{TTL: ttl}
	switch {
	case mode == ModeNever:
		d.Reason = "mode"
	case req.N > 1:
		d.Reason = "n"
	case wantsLogprobs(req):
		d.Reason = "logprobs"
	case wantsAudio(req):
		d.Reason = "audio"
	case mode == ModeAlways:
		d.Cache = true
	case req.Temperature.Set && req.Temperature.V == 0, !req.Temperature.Set && deterministic:
		d.Cache = true
	default:
		d.Reason = "temperature"
	}
	return d
}

func rank(m Mode) int {
	switch m {
	case ModeAuto:
		return 1
	case ModeAlways:
		return 2
	case ModeNever:
		return 3
	}
	return 0
}

func wantsLogprobs(r *providers.Request) bool {
	v := r.Value("logprobs")
	return string(v) == "true" || r.Value("top_logprobs") != nil && string(r.Value("top_logprobs")) != "null"
}

func wantsAudio(r *providers.Request) bool {
	if v := r.Value("audio"); v != nil && string(v) != "null" {
		return true
	}
	return bytes.Contains(r.Value("modalities"), []byte(`"audio"`))
}

// storable says whether an assembled answer may be stored.
func (p *Policy) storable(e *Entry) error {
	if e.Size() > p.MaxEntryBytes {
		return ErrTooLarge
	}
	if p.SkipToolCalls && len(e.ToolCalls) > 0 {
		return errSkipToolCalls
	}
	switch e.Finish {
	case "stop", "length", "tool_calls", "function_call", "":
		return nil
	}
	// content_filter and provider-specific reasons (errors, recitation) may
	// be transient: serve them, never replay them.
	return errFinish
}

var (
	errSkipToolCalls = errors.New("cache: tool-call answers are not cached (skip_tool_calls)")
	errFinish        = errors.New("cache: finish reason is not cached")
)

// Directive is what the client asked of the cache.
type Directive uint8

// Directives: bit 1 forbids reading, bit 2 forbids storing.
const (
	// Use reads and stores (the default).
	Use Directive = 0
	// Refresh skips the lookup and stores the fresh answer
	// (X-Gateway-Cache: refresh, Cache-Control: no-cache).
	Refresh Directive = 1
	// NoStore may be answered from the cache but the answer is not stored
	// (Cache-Control: no-store).
	NoStore Directive = 2
	// Bypass neither reads nor stores (X-Gateway-Cache: bypass, or both
	// Cache-Control directives).
	Bypass Directive = 3
)

// Read reports whether the cache may answer.
func (d Directive) Read() bool { return d&Refresh == 0 }

// Write reports whether the answer may be stored.
func (d Directive) Write() bool { return d&NoStore == 0 }

// ParseDirective reads the X-Gateway-Cache and Cache-Control request header
// values (either may be empty). It allocates nothing.
func ParseDirective(gatewayCache, cacheControl []byte) Directive {
	var d Directive
	switch {
	case asciiEqualFold(bytes.TrimSpace(gatewayCache), "bypass"):
		d = Bypass
	case asciiEqualFold(bytes.TrimSpace(gatewayCache), "refresh"):
		d = Refresh
	}
	for len(cacheControl) > 0 {
		var tok []byte
		if i := bytes.IndexByte(cacheControl, ','); i >= 0 {
			tok, cacheControl = cacheControl[:i], cacheControl[i+1:]
		} else {
			tok, cacheControl = cacheControl, nil
		}
		tok = bytes.TrimSpace(tok)
		switch {
		case asciiEqualFold(tok, "no-store"):
			d |= NoStore
		case asciiEqualFold(tok, "no-cache"):
			d |= Refresh
		}
	}
	return d
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
