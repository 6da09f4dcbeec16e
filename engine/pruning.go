package engine

import (
	"strconv"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/prune"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/wasm"
	"github.com/valyala/fasthttp"
)

var (
	prunedRequests = metrics.NewCounter(`gateway_pruned_requests_total`)
	prunedTokens   = metrics.NewCounter(`gateway_pruned_tokens_total`)
	pruneSkipped   = metrics.NewCounter(`gateway_prune_skipped_total{reason="cost"}`)
)

// pruneContext shortens x's conversation when it exceeds its project's
// context budget or m's window ([pruning], engine/prune), before the cache
// key, the breakpoints and the upstream call see it. It reports the edit
// in X-Gateway-Pruned-Tokens and the access log's policy tags.
func (s *Server) pruneContext(ctx *fasthttp.RequestCtx, x *exchange, m *catalog.Model) error {
	cfg := s.cfg.Pruning.forProject(x.project)
	if cfg.Mode == prune.Off || cfg.Mode == "" {
		return nil
	}
	pm := prune.Model{Window: m.ContextWindow, MaxOutput: m.MaxOutputTokens,
		Prices: prune.Prices{Input: m.InputPrice, Cached: m.CachedPrice, Write: m.CacheWritePrice}}
	if pm.Prices.Cached == 0 {
		pm.Prices.Cached = pm.Prices.Input // no provider cache: every token is paid in full
	}
	res := prune.Plan(x.req, cfg, pm, nil)
	switch {
	case res.Reason == "cost":
		pruneSkipped.Inc()
		x.addTag("prune", "skipped_cost")
		return nil
	case len(res.Edits) == 0:
		if res.Reason == "short" {
			x.addTag("prune", "nothing_to_prune")
		}
		return nil
	}
	if cfg.Summarize {
		s.summarizeEdits(ctx, x, &res)
	}
	finals := make([]wasm.FinalMessage, len(x.req.Messages))
	for i := range finals {
		finals[i] = wasm.FinalMessage{Orig: i}
	}
	for _, e := range res.Edits {
		finals[e.Index].Changed = true
		finals[e.Index].Text = unsafeconv.Bytes(e.Text)
	}
	if err := applyEdits(x, finals); err != nil {
		return &apiError{Status: 500, Type: typeServer, Code: "prune_invalid", Msg: "context pruning produced an invalid request: " + err.Error()}
	}
	x.pruned = res.Removed
	prunedRequests.Inc()
	prunedTokens.Add(res.Removed)
	var buf [20]byte
	ctx.Response.Header.SetBytesV("X-Gateway-Pruned-Tokens", strconv.AppendInt(buf[:0], int64(res.Removed), 10))
	x.addTag("prune", res.Reason)
	return nil
}

// addTag appends key=value to the access log's policy tags.
func (x *exchange) addTag(key, value string) {
	if len(x.tags) > 0 {
		x.tags = append(x.tags, ' ')
	}
	x.tags = append(append(append(x.tags, key...), '='), value...)
}
