package providers

import (
	"strings"
	"time"

	"github.com/aigateway/gateway/providers/upstream"
)

// Kind describes one provider kind (the `kind` of a [providers.NAME]
// section): its name, how to build a Provider from a section, how an
// instance is enabled, the instances known without configuration and what
// the engine must know of its wire format. Each provider package declares
// its own; providers/kinds lists them (providers/README.md says how to add
// one).
type Kind struct {
	// Name is the value of `kind` in gateway.toml ("openai", "anthropic", …).
	Name string
	// New builds a Provider from its resolved section.
	New func(Settings) (Provider, error)
	// EnabledBy says what enables an instance whose section does not set
	// `enabled`.
	EnabledBy EnabledBy
	// Presets are the instances the gateway knows without configuration
	// (openai, groq, …); a section of the same name overrides their fields.
	Presets []Preset
	// NoFiles says the upstream takes no file parts: the Messages front-end
	// turns a base64 document into a note that it was left out.
	NoFiles bool
	// Reads lists the kind-specific settings (KindSettings) it reads; a
	// section of this kind that sets another one is refused at start
	// rather than silently ignored.
	Reads []string
}

// KindSettings are the section keys only some kinds read.
var KindSettings = []string{"auth_header", "query", "pace", "latency", "reply_bytes"}

// EnabledBy is what enables a provider instance when its section does not
// set `enabled`.
type EnabledBy uint8

const (
	// ByKey: a configured key (api_key, or the variable api_key_env names)
	// that is set; with no key configured, a base URL (a keyless
	// OpenAI-compatible server such as vLLM).
	ByKey EnabledBy = iota
	// ByBaseURL: a base URL, key or not (a local server such as Ollama).
	ByBaseURL
	// Always: always on, with no base URL (an in-process provider).
	Always
)

// Preset is a provider instance known without configuration.
type Preset struct {
	// Name is the provider's name ("groq"), the prefix of its model names.
	Name string
	// BaseURL is the default base URL ("" for none).
	BaseURL string
	// APIKeyEnv names the environment variable holding its key.
	APIKeyEnv string
	// BaseURLEnv names the environment variable that overrides its base URL.
	BaseURLEnv string
}

// Settings is a provider section as the engine resolved it (defaults,
// environment and [optimize] switches applied), for Kind.New. Each kind
// reads the fields that mean something to it.
type Settings struct {
	// Name is the provider's configured name.
	Name    string
	BaseURL string
	// APIKey is the resolved key ("" for none).
	APIKey string
	// AuthHeader and Query are the OpenAI kind's auth header name and query
	// string (Azure).
	AuthHeader string
	Query      string
	Headers    map[string]string
	Timeout    time.Duration
	Upstream   upstream.Options
	// CacheControl is [optimize] anthropic_cache_control.
	CacheControl bool
	// NoCacheLedger is [optimize] anthropic_cache_ledger = false: breakpoints
	// placed by the stateless rules only.
	NoCacheLedger bool
	// NoCacheHourTTL is [optimize] anthropic_cache_1h = false: every added
	// breakpoint keeps the 5-minute TTL.
	NoCacheHourTTL bool
	// Clock, when set, replaces time.Now for cache-lifetime bookkeeping
	// (the cost benchmark's simulated clock).
	Clock func() time.Time
	// ContextWindows maps upstream model names to the context windows that
	// [[models]] declare for this provider.
	ContextWindows map[string]int
	// Responses says whether an OpenAI-format upstream serves the
	// Responses API natively; nil: the kind decides (OpenAI itself does).
	Responses *bool
	// Pace, Latency and ReplyBytes tune the mock kind.
	Pace       time.Duration
	Latency    time.Duration
	ReplyBytes int
}

// Kinds is a list of provider kinds, in the order error messages name them.
type Kinds []Kind

// Lookup returns the kind named name.
func (ks Kinds) Lookup(name string) (Kind, bool) {
	for _, k := range ks {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Names lists the kinds' names for a message: "a, b or c".
func (ks Kinds) Names() string {
	var b strings.Builder
	for i, k := range ks {
		switch {
		case i == 0:
		case i == len(ks)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(k.Name)
	}
	return b.String()
}
