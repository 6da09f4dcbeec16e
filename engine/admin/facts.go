package admin

// Facts are the engine's live views that the routing, providers, models
// and Ollama pages need and the store does not hold. The engine implements
// it; every method is cheap and safe for concurrent use.
type Facts interface {
	// Providers lists the configured providers with their in-flight
	// counts and breakers, sorted by name.
	Providers() []ProviderState
	// Models lists the model catalogue of the enabled providers, sorted by
	// name.
	Models() []ModelInfo
	// Ollama returns the Ollama provider to manage (the first enabled
	// provider of kind ollama, by name), or ok false when none is.
	Ollama() (o OllamaTarget, ok bool)
}

// ProviderState is one provider as the engine sees it now (this replica).
type ProviderState struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// BaseURL is the upstream's address (never a key).
	BaseURL     string `json:"base_url"`
	InFlight    int    `json:"in_flight"`
	MaxInFlight int    `json:"max_in_flight"`
	// Breakers are the provider's circuit breakers (one, or one per model
	// when breakers are per model); empty until the first call.
	Breakers []BreakerState `json:"breakers"`
}

// BreakerState is one circuit breaker: closed, open or half-open.
type BreakerState struct {
	Model string `json:"model,omitempty"`
	State string `json:"state"`
	// RetryAfterS is the seconds an open breaker still refuses calls.
	RetryAfterS float64 `json:"retry_after_s,omitempty"`
}

// ModelInfo is one catalogue entry.
type ModelInfo struct {
	Name            string   `json:"name"`
	Provider        string   `json:"provider"`
	Upstream        string   `json:"upstream"`
	Aliases         []string `json:"aliases"`
	ContextWindow   int      `json:"context_window"`
	MaxOutputTokens int      `json:"max_output_tokens"`
	// Prices in USD per million tokens.
	InputPrice      float64 `json:"input_price"`
	OutputPrice     float64 `json:"output_price"`
	CachedPrice     float64 `json:"cached_price"`
	CacheWritePrice float64 `json:"cache_write_price"`
	Tools           bool    `json:"tools"`
	Vision          bool    `json:"vision"`
	JSON            bool    `json:"json"`
	Reasoning       bool    `json:"reasoning"`
}

// OllamaTarget is where the Ollama page sends its calls.
type OllamaTarget struct {
	// Provider is the provider's name in gateway.toml.
	Provider string
	// BaseURL is the server root (http://127.0.0.1:11434), without /api.
	BaseURL string
	// Headers are sent with every call (gateway.toml's headers and auth).
	Headers map[string]string
}
