package anthropic

import "github.com/aigateway/gateway/providers"

// Kind is the "anthropic" provider kind.
var Kind = providers.Kind{
	Name: "anthropic",
	New: func(s providers.Settings) (providers.Provider, error) {
		return New(Config{Name: s.Name, BaseURL: s.BaseURL, APIKey: s.APIKey, Timeout: s.Timeout,
			Options: s.Upstream, CacheControl: s.CacheControl, NoLedger: s.NoCacheLedger,
			NoHourTTL: s.NoCacheHourTTL, Clock: s.Clock})
	},
	EnabledBy: providers.ByKey,
	Presets: []providers.Preset{
		{Name: "anthropic", BaseURL: DefaultBaseURL, APIKeyEnv: "ANTHROPIC_API_KEY", BaseURLEnv: "ANTHROPIC_BASE_URL"},
	},
}
