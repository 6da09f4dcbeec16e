package admin

// The routing page: tier shares over time, phase-2 and cascade rates and
// their cost, from the ledger's route reasons (every replica's). The live
// trace is the request log filtered to routed rows
// (GET /admin/requests?routed=1, then the tail with routed=1).

import (
	"strconv"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/valyala/fasthttp"
)

// Routing is the answer of GET /admin/routing.
type Routing struct {
	Object      string    `json:"object"`
	Window      string    `json:"window"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	StepSeconds int64     `json:"step_seconds"`
	// Tiers names the columns of every point's tiers.
	Tiers  []string           `json:"tier_names"`
	Totals store.RoutingPoint `json:"totals"`
	// Series has every bucket of the window, empty ones as zeros.
	Series []store.RoutingPoint `json:"series"`
	// Requests is every request of the window, routed or not, for the
	// share of routed traffic.
	Requests int64 `json:"requests"`
}

// window parses ?window= (the overview's windows) and returns its name,
// bounds and step; the window ends at the end of the current bucket.
func (a *API) window(ctx *fasthttp.RequestCtx) (name string, from, to time.Time, step time.Duration, ok bool) {
	name = string(ctx.QueryArgs().Peek("window"))
	if name == "" {
		name = "24h"
	}
	w, found := overviewWindows[name]
	if !found {
		api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: "window",
			Msg: "window: expected 1h, 24h, 7d or 30d, got " + strconv.Quote(name)})
		return "", time.Time{}, time.Time{}, 0, false
	}
	s := int64(w.step / time.Second)
	to = time.Unix((a.now().Unix()/s+1)*s, 0).UTC()
	return name, to.Add(-w.span), to, w.step, true
}

// handleRouting serves GET /admin/routing?window=1h|24h|7d|30d.
func (a *API) handleRouting(ctx *fasthttp.RequestCtx) {
	name, from, to, step, ok := a.window(ctx)
	if !ok {
		return
	}
	a.flushLedger()
	c, cancel := adminCtx()
	defer cancel()
	points, err := a.Store.RoutingSeries(c, store.SeriesQuery{From: from, To: to, Step: step})
	if err != nil {
		api.WriteError(ctx, storeError(err, "usage"))
		return
	}
	all, err := a.Store.UsageSummary(c, store.UsageQuery{From: from, To: to})
	if err != nil {
		api.WriteError(ctx, storeError(err, "usage"))
		return
	}
	out := Routing{Object: "routing", Window: name, From: from, To: to, StepSeconds: int64(step / time.Second),
		Tiers: store.RouteTiers[:], Series: make([]store.RoutingPoint, 0, to.Sub(from)/step)}
	if len(all) > 0 {
		out.Requests = all[0].Requests
	}
	next := 0
	for t := from; t.Before(to); t = t.Add(step) {
		p := store.RoutingPoint{Start: t}
		if next < len(points) && points[next].Start.Equal(t) {
			p = points[next]
			next++
		}
		out.Series = append(out.Series, p)
		addRouting(&out.Totals, &p)
	}
	api.WriteJSON(ctx, 200, &out)
}

func addRouting(dst, p *store.RoutingPoint) {
	dst.Routed += p.Routed
	dst.CostUSD += p.CostUSD
	for i := range dst.Tiers {
		dst.Tiers[i] += p.Tiers[i]
	}
	dst.Other += p.Other
	dst.Phase2 += p.Phase2
	dst.Phase2CostUSD += p.Phase2CostUSD
	dst.CascadeAccepted += p.CascadeAccepted
	dst.CascadeEscalated += p.CascadeEscalated
	dst.CascadeCostUSD += p.CascadeCostUSD
	dst.Phase2Calls += p.Phase2Calls
	dst.ClassifierCostUSD += p.ClassifierCostUSD
	dst.CascadeExtraCostUSD += p.CascadeExtraCostUSD
}
