package engine

// The engine's live views for the dashboard's routing, providers, models
// and Ollama pages (engine/admin.Facts): small read-only accessors.

import (
	"sort"

	"github.com/aigateway/gateway/engine/admin"
)

// adminFacts implements admin.Facts over the server.
type adminFacts struct{ s *Server }

var _ admin.Facts = adminFacts{}

// Providers implements admin.Facts.
func (f adminFacts) Providers() []admin.ProviderState {
	s := f.s
	names := make([]string, 0, len(s.upstreams))
	for name := range s.upstreams {
		names = append(names, name)
	}
	sort.Strings(names)
	breakers := s.runner.Breakers().Status()
	out := make([]admin.ProviderState, 0, len(names))
	for _, name := range names {
		u := s.upstreams[name]
		p := admin.ProviderState{Name: name, Kind: u.cfg.Kind, BaseURL: u.cfg.BaseURL, InFlight: len(u.sem),
			MaxInFlight: cap(u.sem), Breakers: []admin.BreakerState{}}
		for _, b := range breakers {
			if b.Provider == name {
				p.Breakers = append(p.Breakers, admin.BreakerState{Model: b.Model, State: b.State.String(), RetryAfterS: b.RetryAfter.Seconds()})
			}
		}
		out = append(out, p)
	}
	return out
}

// Models implements admin.Facts.
func (f adminFacts) Models() []admin.ModelInfo {
	s := f.s
	aliases := map[string][]string{}
	for _, mc := range s.cfg.Models {
		for _, a := range append([]string{mc.Name}, mc.Aliases...) {
			if m, err := s.catalog.Resolve(a); err == nil && a != m.Name {
				aliases[m.Name] = append(aliases[m.Name], a)
			}
		}
	}
	models := s.catalog.Models()
	out := make([]admin.ModelInfo, 0, len(models))
	for _, m := range models {
		al := aliases[m.Name]
		if al == nil {
			al = []string{}
		}
		out = append(out, admin.ModelInfo{Name: m.Name, Provider: m.Provider, Upstream: m.Upstream, Aliases: al,
			ContextWindow: m.ContextWindow, MaxOutputTokens: m.MaxOutputTokens, InputPrice: m.InputPrice,
			OutputPrice: m.OutputPrice, CachedPrice: m.CachedPrice, CacheWritePrice: m.CacheWritePrice,
			Tools: m.Tools, Vision: m.Vision, JSON: m.JSON, Reasoning: m.Reasoning})
	}
	return out
}

// Ollama implements admin.Facts: the first enabled provider of kind
// ollama, by name.
func (f adminFacts) Ollama() (admin.OllamaTarget, bool) {
	s := f.s
	for _, name := range s.cfg.EnabledProviders() {
		pc := s.cfg.Providers[name]
		if pc.Kind != "ollama" {
			continue
		}
		h := make(map[string]string, len(pc.Headers)+1)
		for k, v := range pc.Headers {
			h[k] = v
		}
		if pc.key != "" {
			if pc.AuthHeader != "" {
				h[pc.AuthHeader] = pc.key
			} else {
				h["Authorization"] = "Bearer " + pc.key
			}
		}
		return admin.OllamaTarget{Provider: name, BaseURL: ollamaRoot(pc.BaseURL), Headers: h}, true
	}
	return admin.OllamaTarget{}, false
}

// ollamaRoot strips what the Ollama provider strips from its base URL.
func ollamaRoot(base string) string {
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	for _, suffix := range [...]string{"/api", "/v1"} {
		if len(base) >= len(suffix) && base[len(base)-len(suffix):] == suffix {
			base = base[:len(base)-len(suffix)]
		}
	}
	return base
}
