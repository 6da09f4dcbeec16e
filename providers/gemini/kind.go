package gemini

import "github.com/aigateway/gateway/providers"

// Kind is the "gemini" provider kind.
var Kind = providers.Kind{
	Name: "gemini",
	New: func(s providers.Settings) (providers.Provider, error) {
		return New(Config{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Timeout: s.Timeout, Options: s.Upstream})
	},
	EnabledBy: providers.ByKey,
	Presets: []providers.Preset{
		{Name: "gemini", BaseURL: DefaultBaseURL, APIKeyEnv: "GEMINI_API_KEY", BaseURLEnv: "GEMINI_BASE_URL"},
	},
}
