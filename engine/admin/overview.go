package admin

// The dashboard's overview: one read-only answer with the ledger's totals,
// a time series and the top projects, models and cache tiers of a window.

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/valyala/fasthttp"
)

// overviewWindows are the windows of /admin/overview and their bucket
// widths (50 to 60 buckets each, so that a chart is legible at any width).
var overviewWindows = map[string]struct{ span, step time.Duration }{
	"1h":  {time.Hour, time.Minute},
	"24h": {24 * time.Hour, 30 * time.Minute},
	"7d":  {7 * 24 * time.Hour, 3 * time.Hour},
	"30d": {30 * 24 * time.Hour, 12 * time.Hour},
}

// overviewTop bounds the top projects and models lists.
const overviewTop = 8

// Overview is the answer of GET /admin/overview.
type Overview struct {
	Object      string          `json:"object"`
	Window      string          `json:"window"`
	Project     string          `json:"project,omitempty"`
	From        time.Time       `json:"from"`
	To          time.Time       `json:"to"`
	StepSeconds int64           `json:"step_seconds"`
	Totals      OverviewPoint   `json:"totals"`
	Series      []OverviewPoint `json:"series"`
	Cache       []OverviewCount `json:"cache"`
	Projects    []OverviewCount `json:"top_projects"`
	Models      []OverviewCount `json:"top_models"`
}

// OverviewPoint is one bucket of the series, or the window's totals.
type OverviewPoint struct {
	Start            time.Time     `json:"start,omitzero"`
	Requests         int64         `json:"requests"`
	Errors           int64         `json:"errors"`
	PromptTokens     int64         `json:"prompt_tokens"`
	CompletionTokens int64         `json:"completion_tokens"`
	CostUSD          float64       `json:"cost_usd"`
	Saved            store.Savings `json:"saved_usd"`
	SavedTotal       float64       `json:"saved_total_usd"`
	// P50MS and P99MS are quantiles of the latency histogram: each is the
	// upper bound of the histogram bucket that holds it
	// (store.LatencyBounds).
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
}

// OverviewCount is a project's, model's or cache tier's share.
type OverviewCount struct {
	Key      string  `json:"key"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	CostUSD  float64 `json:"cost_usd"`
	SavedUSD float64 `json:"saved_usd"`
}

func savedTotal(s *store.Savings) float64 {
	return s.ResponseCache + s.ProviderPromptCache + s.IDEBoilerplate + s.FileDedup + s.Routing
}

func addSavings(dst, s *store.Savings) {
	dst.ResponseCache += s.ResponseCache
	dst.ProviderPromptCache += s.ProviderPromptCache
	dst.IDEBoilerplate += s.IDEBoilerplate
	dst.FileDedup += s.FileDedup
	dst.Routing += s.Routing
}

func overviewPoint(p *store.SeriesPoint) OverviewPoint {
	return OverviewPoint{Start: p.Start, Requests: p.Requests, Errors: p.Errors, PromptTokens: p.PromptTokens,
		CompletionTokens: p.CompletionTokens, CostUSD: p.CostUSD, Saved: p.Savings, SavedTotal: savedTotal(&p.Savings),
		P50MS: store.LatencyQuantile(p.Latency[:], 0.5), P99MS: store.LatencyQuantile(p.Latency[:], 0.99)}
}

// handleOverview serves GET /admin/overview?window=1h|24h|7d|30d&project:
// the window's totals, a series with every bucket (empty ones as zeros),
// requests by cache status, and the top projects and models by requests.
func (a *API) handleOverview(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	name := string(args.Peek("window"))
	if name == "" {
		name = "24h"
	}
	w, ok := overviewWindows[name]
	if !ok {
		api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: "window",
			Msg: "window: expected 1h, 24h, 7d or 30d, got " + strconv.Quote(name)})
		return
	}
	project := string(args.Peek("project"))
	step := int64(w.step / time.Second)
	// The window ends at the end of the current bucket, so that the last
	// bucket is whole and the first one starts on a bucket boundary.
	end := (a.now().Unix()/step + 1) * step
	to := time.Unix(end, 0).UTC()
	from := to.Add(-w.span)
	a.flushLedger()
	c, cancel := adminCtx()
	defer cancel()
	points, err := a.Store.UsageSeries(c, store.SeriesQuery{From: from, To: to, Step: w.step, Project: project})
	if err != nil {
		api.WriteError(ctx, storeError(err, "usage"))
		return
	}
	ov := Overview{Object: "overview", Window: name, Project: project, From: from, To: to, StepSeconds: step,
		Series: make([]OverviewPoint, 0, w.span/w.step), Cache: []OverviewCount{}}
	var hist [len(store.LatencyBounds) + 1]int64
	next := 0
	for t := from; t.Before(to); t = t.Add(w.step) {
		if next < len(points) && points[next].Start.Equal(t) {
			p := &points[next]
			next++
			ov.Series = append(ov.Series, overviewPoint(p))
			tot := &ov.Totals
			tot.Requests += p.Requests
			tot.Errors += p.Errors
			tot.PromptTokens += p.PromptTokens
			tot.CompletionTokens += p.CompletionTokens
			tot.CostUSD += p.CostUSD
			addSavings(&tot.Saved, &p.Savings)
			for i, n := range p.Latency {
				hist[i] += n
			}
			continue
		}
		ov.Series = append(ov.Series, OverviewPoint{Start: t})
	}
	ov.Totals.SavedTotal = savedTotal(&ov.Totals.Saved)
	ov.Totals.P50MS = store.LatencyQuantile(hist[:], 0.5)
	ov.Totals.P99MS = store.LatencyQuantile(hist[:], 0.99)
	for _, g := range []struct {
		by  string
		dst *[]OverviewCount
		top int
	}{{store.GroupCache, &ov.Cache, 0}, {store.GroupProject, &ov.Projects, overviewTop}, {store.GroupModel, &ov.Models, overviewTop}} {
		groups, err := a.Store.UsageSummary(c, store.UsageQuery{From: from, To: to, GroupBy: g.by, Project: project})
		if err != nil {
			api.WriteError(ctx, storeError(err, "usage"))
			return
		}
		out := make([]OverviewCount, 0, len(groups))
		for i := range groups {
			gr := &groups[i]
			out = append(out, OverviewCount{Key: gr.Key, Requests: gr.Requests, Errors: gr.Errors, CostUSD: gr.CostUSD, SavedUSD: savedTotal(&gr.Savings)})
		}
		slices.SortStableFunc(out, func(x, y OverviewCount) int { return cmp.Compare(y.Requests, x.Requests) })
		if g.top > 0 && len(out) > g.top {
			out = out[:g.top]
		}
		*g.dst = out
	}
	api.WriteJSON(ctx, 200, &ov)
}
