package engine

import (
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/providers"
)

// Savings techniques, each counted once per request.
const (
	SaveCache    = "response_cache"
	SavePrompt   = "provider_prompt_cache"
	SaveStrip    = "ide_boilerplate"
	SaveDedup    = "file_dedup"
	SaveRouting  = "routing"
	numTechnique = 5
)

var techniques = [numTechnique]string{SaveCache, SavePrompt, SaveStrip, SaveDedup, SaveRouting}

// Indexes into techniques.
const (
	idxCache = iota
	idxPrompt
	idxStrip
	idxDedup
	idxRouting
)

// Cost is the price of one request's real usage, in USD.
func Cost(m *Model, u providers.Usage) float64 {
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
	return (float64(uncached)*m.InputPrice + float64(u.CachedTokens)*cached +
		float64(u.CacheWriteTokens)*write + float64(u.CompletionTokens)*m.OutputPrice) / 1e6
}

var (
	costCounters  sync.Map // provider/model → *metrics.FloatCounter
	savedCounters [numTechnique]*metrics.FloatCounter
	// savedNegCounters count what a technique cost (negative savings).
	savedNegCounters [numTechnique]*metrics.FloatCounter
)

func init() {
	for i, t := range techniques {
		savedCounters[i] = metrics.NewFloatCounter(`gateway_saved_usd_total{technique="` + t + `"}`)
		savedNegCounters[i] = metrics.NewFloatCounter(`gateway_technique_cost_usd_total{technique="` + t + `"}`)
	}
}

// countCost adds one finished request's cost and savings to the Prometheus
// counters. The per-request record is the ledger's row (engine/ledger).
func countCost(m *Model, cost float64, saved *[numTechnique]float64) {
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
