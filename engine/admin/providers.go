package admin

// The providers and models page: each provider's live state on this
// replica (in-flight calls, circuit breakers) beside its latency and error
// rate in the ledger (every replica's), and the model catalogue.

import (
	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/valyala/fasthttp"
)

// ProviderView is one provider of GET /admin/providers.
type ProviderView struct {
	ProviderState
	// Health sums it up: "down" while a breaker is open, "degraded" while
	// one is half-open or at least 5% of the window's requests failed,
	// "idle" without requests, else "ok".
	Health string `json:"health"`
	// Requests, Errors and ErrorRate are the window's, from the ledger;
	// P50MS and P99MS are histogram bucket bounds (store.LatencyBounds).
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	CostUSD   float64 `json:"cost_usd"`
}

// degradedErrorRate is the error rate from which a provider is degraded.
const degradedErrorRate = 0.05

// handleProviders serves GET /admin/providers?window=1h|24h|7d|30d (1h by
// default).
func (a *API) handleProviders(ctx *fasthttp.RequestCtx) {
	if !ctx.QueryArgs().Has("window") {
		ctx.QueryArgs().Set("window", "1h")
	}
	name, from, to, _, ok := a.window(ctx)
	if !ok {
		return
	}
	a.flushLedger()
	c, cancel := adminCtx()
	defer cancel()
	provs := a.Facts.Providers()
	out := make([]ProviderView, 0, len(provs))
	for _, p := range provs {
		v := ProviderView{ProviderState: p}
		points, err := a.Store.UsageSeries(c, store.SeriesQuery{From: from, To: to, Step: to.Sub(from), Provider: p.Name})
		if err != nil {
			api.WriteError(ctx, storeError(err, "usage"))
			return
		}
		var hist [len(store.LatencyBounds) + 1]int64
		for i := range points {
			v.Requests += points[i].Requests
			v.Errors += points[i].Errors
			v.CostUSD += points[i].CostUSD
			for k, n := range points[i].Latency {
				hist[k] += n
			}
		}
		if v.Requests > 0 {
			v.ErrorRate = float64(v.Errors) / float64(v.Requests)
		}
		v.P50MS = store.LatencyQuantile(hist[:], 0.5)
		v.P99MS = store.LatencyQuantile(hist[:], 0.99)
		v.Health = health(&v)
		out = append(out, v)
	}
	api.WriteJSON(ctx, 200, map[string]any{"object": "list", "window": name, "from": from, "to": to, "data": out})
}

func health(v *ProviderView) string {
	state := "closed"
	for _, b := range v.Breakers {
		switch {
		case b.State == "open":
			state = "open"
		case b.State == "half-open" && state != "open":
			state = "half-open"
		}
	}
	switch {
	case state == "open":
		return "down"
	case state == "half-open" || v.Requests > 0 && v.ErrorRate >= degradedErrorRate:
		return "degraded"
	case v.Requests == 0:
		return "idle"
	}
	return "ok"
}

// handleModels serves GET /admin/models: the catalogue of the enabled
// providers with prices (USD per million tokens), context windows,
// capabilities and aliases.
func (a *API) handleModels(ctx *fasthttp.RequestCtx) {
	models := a.Facts.Models()
	if models == nil {
		models = []ModelInfo{}
	}
	api.WriteJSON(ctx, 200, map[string]any{"object": "list", "data": models})
}
