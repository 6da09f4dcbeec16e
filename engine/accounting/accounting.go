// Package accounting prices requests and credits what the gateway saved
// them: a request's cost from its usage and its model's prices, the saving
// of each technique (response cache, provider prompt cache, boilerplate
// stripping, file dedup, routing), the token count of the text the policies
// removed, and the Prometheus counters of cost and savings. The engine
// decides what happened to a request; this package says what it cost.
package accounting

import (
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/providers"
)

// Savings technique labels: the technique label of gateway_saved_usd_total
// and the keys of the ledger's savings.
const (
	SaveCache   = "response_cache"
	SavePrompt  = "provider_prompt_cache"
	SaveStrip   = "ide_boilerplate"
	SaveDedup   = "file_dedup"
	SaveRouting = "routing"
)

// Technique indexes Saved.
type Technique int

// The techniques, in the order of Saved.
const (
	Cache Technique = iota
	Prompt
	Strip
	Dedup
	Routing
	NumTechniques
)

var labels = [NumTechniques]string{SaveCache, SavePrompt, SaveStrip, SaveDedup, SaveRouting}

// String is the technique's label.
func (t Technique) String() string { return labels[t] }

// Saved is one request's saving per technique, in USD; negative when a
// technique cost the request (a cache write never read).
type Saved [NumTechniques]float64

// Cost is the price of one request's real usage, in USD.
func Cost(m *catalog.Model, u providers.Usage) float64 {
	if m == nil || !u.Set {
		return 0
	}
	uncached := u.PromptTokens - u.CachedTokens - u.CacheWriteTokens
	if uncached < 0 {
		uncached = 0
	}
	cached := m.CachedPrice
	if cached == 0 {
		cached = m.InputPrice
	}
	write := m.CacheWritePrice
	if write == 0 {
		write = m.InputPrice
	}
	return (float64(uncached)*m.InputPrice+float64(u.CachedTokens)*cached+
		float64(u.CacheWriteTokens)*write+float64(u.CompletionTokens)*m.OutputPrice)/1e6 + hourPremium(m, u)
}

// HourWriteRatio is Anthropic's price of a 1-hour cache write in base
// input prices (2×; a 5-minute write is the catalog's cache_write_price,
// 1.25×): https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching,
// "Pricing".
const HourWriteRatio = 2.0

// hourPremium is what u's 1-hour cache writes cost over the cache-write
// price.
func hourPremium(m *catalog.Model, u providers.Usage) float64 {
	if u.CacheWrite1h <= 0 {
		return 0
	}
	write := m.CacheWritePrice
	if write == 0 {
		write = m.InputPrice
	}
	return float64(min(u.CacheWrite1h, u.CacheWriteTokens)) * max(HourWriteRatio*m.InputPrice-write, 0) / 1e6
}

// Credit is what a finished request that an upstream answered (not a cache
// hit) saved:
//   - stripped and deduplicated tokens at the request's blended prompt
//     price: had they been sent, they would have been cache reads, writes or
//     plain input in the same proportions as the rest of the prompt;
//   - provider prompt caching the gateway added (gatewayBreakpoints: the
//     client set none): reads at the input minus the cached price, less the
//     write premium, so negative for a request that only wrote;
//   - routing: the price of the same usage on baseline (the strong tier)
//     minus m's, when positive; baseline is nil when the request was not
//     routed.
//
// It fills the techniques it knows and leaves Cache alone.
func Credit(saved *Saved, m *catalog.Model, u providers.Usage, stripTokens, dedupTokens int, gatewayBreakpoints bool, baseline *catalog.Model) {
	if m == nil || !u.Set {
		return
	}
	price := m.InputPrice
	if u.PromptTokens > 0 {
		prompt := Cost(m, providers.Usage{PromptTokens: u.PromptTokens, CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens,
			CacheWrite1h: u.CacheWrite1h, Set: true})
		price = prompt * 1e6 / float64(u.PromptTokens)
	}
	saved[Strip] = float64(stripTokens) * price / 1e6
	saved[Dedup] = float64(dedupTokens) * price / 1e6
	if gatewayBreakpoints {
		read := m.CachedPrice
		write := m.CacheWritePrice
		if write == 0 {
			write = m.InputPrice
		}
		saved[Prompt] = (float64(u.CachedTokens)*(m.InputPrice-read)-float64(u.CacheWriteTokens)*(write-m.InputPrice))/1e6 - hourPremium(m, u)
	}
	if baseline != nil && baseline.Name != m.Name {
		if d := Cost(baseline, u) - Cost(m, u); d > 0 {
			saved[Routing] = d
		}
	}
}

var (
	costCounters  sync.Map // provider/model → *metrics.FloatCounter
	savedCounters [NumTechniques]*metrics.FloatCounter
	// savedNegCounters count what a technique cost (negative savings).
	savedNegCounters [NumTechniques]*metrics.FloatCounter
)

func init() {
	for i, t := range labels {
		savedCounters[i] = metrics.NewFloatCounter(`gateway_saved_usd_total{technique="` + t + `"}`)
		savedNegCounters[i] = metrics.NewFloatCounter(`gateway_technique_cost_usd_total{technique="` + t + `"}`)
	}
}

// Count adds one finished request's cost and savings to the Prometheus
// counters. The per-request record is the ledger's row (engine/ledger).
func Count(m *catalog.Model, cost float64, saved *Saved) {
	if m != nil && cost > 0 {
		model := m.Name
		c, ok := costCounters.Load(model)
		if !ok {
			c, _ = costCounters.LoadOrStore(strings.Clone(model), metrics.GetOrCreateFloatCounter(`gateway_cost_usd_total{provider="`+api.Label(m.Provider)+`",model="`+api.Label(model)+`"}`))
		}
		c.(*metrics.FloatCounter).Add(cost)
	}
	if saved != nil {
		for i, v := range saved {
			switch {
			case v > 0:
				savedCounters[i].Add(v)
			case v < 0:
				// Counters only grow: a technique's costs (the Anthropic
				// cache-write premium) are counted separately.
				savedNegCounters[i].Add(-v)
			}
		}
	}
}
