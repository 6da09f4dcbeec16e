package engine

import (
	"fmt"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/kinds"
	"github.com/aigateway/gateway/providers/upstream"
)

// buildProvider builds a provider from its validated section through its
// kind (providers/kinds).
func buildProvider(name string, pc ProviderConfig) (providers.Provider, error) {
	k, ok := kinds.All.Lookup(pc.Kind)
	if !ok {
		return nil, fmt.Errorf("kind %q is not available in this build", pc.Kind)
	}
	return k.New(providers.Settings{
		Name: name, BaseURL: pc.BaseURL, APIKey: pc.key, AuthHeader: pc.AuthHeader,
		Query: pc.Query, Headers: pc.Headers, Timeout: pc.Timeout.D(),
		Upstream: upstream.Options{
			ConnectTimeout: pc.ConnectTimeout.D(),
			IdleTimeout:    pc.IdleTimeout.D(),
			MaxConns:       pc.MaxInFlight,
		},
		CacheControl: pc.cacheControl, NoCacheLedger: pc.noCacheLedger, NoCacheHourTTL: pc.noCacheHourTTL, Clock: fileClock(pc.clockFile),
		ContextWindows: pc.contextWindows, Responses: pc.Responses,
		Pace: pc.Pace.D(), Latency: pc.Latency.D(), ReplyBytes: pc.ReplyBytes,
	})
}

// NewCatalog builds the model catalogue of cfg: the built-ins, its
// [[models]] and its enabled providers.
func NewCatalog(cfg *Config) (*catalog.Catalog, error) {
	enabled := make(map[string]bool, len(cfg.Providers))
	for name, p := range cfg.Providers {
		enabled[name] = p.enabled
	}
	return catalog.New(enabled, cfg.Models)
}
