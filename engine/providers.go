package engine

import (
	"fmt"
	"strings"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/anthropic"
	"github.com/aigateway/gateway/providers/gemini"
	"github.com/aigateway/gateway/providers/mock"
	"github.com/aigateway/gateway/providers/ollama"
	"github.com/aigateway/gateway/providers/openai"
	"github.com/aigateway/gateway/providers/upstream"
)

// providerFactories build a provider from its configuration, by kind.
var providerFactories = map[string]func(name string, pc ProviderConfig) (providers.Provider, error){
	"openai": func(name string, pc ProviderConfig) (providers.Provider, error) {
		return openai.New(openai.Config{
			Name: name, BaseURL: pc.BaseURL, APIKey: pc.key, AuthHeader: pc.AuthHeader,
			Query: pc.Query, Headers: pc.Headers, Timeout: pc.Timeout.D(), Options: upstreamOptions(pc),
			PromptCacheKey: strings.Contains(pc.BaseURL, "api.openai.com"),
		})
	},
	"ollama": func(name string, pc ProviderConfig) (providers.Provider, error) {
		return ollama.New(ollama.Config{
			Name: name, BaseURL: pc.BaseURL, APIKey: pc.key, Headers: pc.Headers,
			Timeout: pc.Timeout.D(), Options: upstreamOptions(pc), ModelNumCtx: pc.contextWindows,
		})
	},
	"anthropic": func(name string, pc ProviderConfig) (providers.Provider, error) {
		return anthropic.New(anthropic.Config{Name: name, BaseURL: pc.BaseURL, APIKey: pc.key, Timeout: pc.Timeout.D(), Options: upstreamOptions(pc), CacheControl: pc.cacheControl})
	},
	"gemini": func(name string, pc ProviderConfig) (providers.Provider, error) {
		return gemini.New(gemini.Config{Name: name, BaseURL: pc.BaseURL, APIKey: pc.key, Timeout: pc.Timeout.D(), Options: upstreamOptions(pc)})
	},
	"mock": func(name string, pc ProviderConfig) (providers.Provider, error) {
		return mock.New(mock.Config{Name: name, Pace: pc.Pace.D(), Latency: pc.Latency.D(), ReplyBytes: pc.ReplyBytes}), nil
	},
}

func upstreamOptions(pc ProviderConfig) upstream.Options {
	return upstream.Options{
		ConnectTimeout: pc.ConnectTimeout.D(),
		IdleTimeout:    pc.IdleTimeout.D(),
		MaxConns:       pc.MaxInFlight,
	}
}

func buildProvider(name string, pc ProviderConfig) (providers.Provider, error) {
	f, ok := providerFactories[pc.Kind]
	if !ok {
		return nil, fmt.Errorf("kind %q is not available in this build", pc.Kind)
	}
	return f(name, pc)
}
