package ollama

import "github.com/aigateway/gateway/providers"

// Kind is the "ollama" provider kind: a local server, enabled by its base
// URL (LOCAL_LLM_BASE_URL) with or without a key. Its num_ctx comes from
// the context windows that [[models]] declare.
var Kind = providers.Kind{
	Name: "ollama",
	New: func(s providers.Settings) (providers.Provider, error) {
		return New(Config{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Headers: s.Headers,
			Timeout: s.Timeout, Options: s.Upstream, ModelNumCtx: s.ContextWindows})
	},
	EnabledBy: providers.ByBaseURL,
	Presets:   []providers.Preset{{Name: "ollama", BaseURLEnv: "LOCAL_LLM_BASE_URL"}},
	// Ollama's chat API takes images only (docs/api.md, "images").
	NoFiles: true,
}
