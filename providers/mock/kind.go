package mock

import "github.com/aigateway/gateway/providers"

// Kind is the "mock" provider kind: in process, always on.
var Kind = providers.Kind{
	Name: "mock",
	New: func(s providers.Settings) (providers.Provider, error) {
		return New(Config{Name: s.Name, Pace: s.Pace, Latency: s.Latency, ReplyBytes: s.ReplyBytes}), nil
	},
	EnabledBy: providers.Always,
	Reads:     []string{"pace", "latency", "reply_bytes"},
	Presets:   []providers.Preset{{Name: "mock"}},
}
