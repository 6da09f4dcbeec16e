package engine

import (
	"strings"
	"time"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
)

// countsRemoved reports whether x's savings need the token count: a policy
// removed text, and an upstream answered with usage (a failed request or a
// cache hit credits no stripping or dedup).
func (x *exchange) countsRemoved() bool { return x.removed.Pending() && x.usage.Set && !x.hit }

// noteRemoved copies the original and the edited text of every message the
// request-stage policies changed, before applyEdits rebuilds the request;
// the accountant counts their tokens after the answer is sent.
func (x *exchange) noteRemoved(finals []wasm.FinalMessage) {
	if !x.removed.Begin(x.out.RemovedBytes(abi.RemovedBoilerplate), x.out.RemovedBytes(abi.RemovedDuplicate)) {
		return
	}
	for _, fm := range finals {
		if fm.Orig >= 0 && fm.Changed {
			x.removed.Add(unsafeconv.Bytes(x.req.Messages[fm.Orig].Text()), fm.Text)
		}
	}
}

// submitAccount hands x to the accountant; false when it must be accounted
// inline.
func (s *Server) submitAccount(x *exchange, total time.Duration) bool {
	// The handler's request memory is reused once it returns: the one
	// string of the row that may view it (a translated request's model
	// name) is copied.
	x.ten.requested = strings.Clone(x.ten.requested)
	x.total = total
	return s.acct.Submit(x)
}

// Account is x's accounting.Job: it accounts x once its removed tokens are
// counted.
func (x *exchange) Account() { x.account(x.total) }

// creditSavings fills x.saved for a finished, non-cached request
// (accounting.Credit); the routing baseline is the strong tier.
func (s *Server) creditSavings(x *exchange) {
	s.credit(&x.saved, x, x.stripTokens, x.dedupTokens)
}

func (s *Server) credit(dst *accounting.Saved, x *exchange, strip, dedup int) {
	var baseline *catalog.Model
	if x.tier != "" {
		baseline, _ = s.catalog.Resolve(s.tiers["strong"])
	}
	accounting.Credit(dst, x.model, x.usage, strip, dedup, x.gatewayBreakpoints, baseline)
}

// holdRow journals the provisional ledger row of x, a request the
// accountant finishes after its answer: the row as price would record it
// but for the boilerplate and dedup savings, which wait for the token
// count. The final row, recorded by the accountant, replaces it
// (ledger.Writer.Provisional); if the process dies first, the provisional
// row is what the next start replays, so a crash costs those two savings
// figures of the requests in flight at the accountant, not their rows.
func (s *Server) holdRow(x *exchange, total time.Duration) {
	t := s.ten
	if t == nil || t.led == nil || x.ten.proj == nil || x.ten.endpoint == "" {
		return
	}
	var r store.UsageRow
	var idBuf *rowIDBuf
	if x.ten.clientID {
		idBuf = rowIDPool.Get().(*rowIDBuf)
		defer rowIDPool.Put(idBuf)
	}
	s.fillRow(&r, x, total, idBuf)
	cost := x.cost
	if cost == 0 { // as price: countsRemoved excludes cache hits
		cost = accounting.Cost(x.model, x.usage)
	}
	r.CostUSD = cost + x.extraCost
	saved := x.saved
	s.credit(&saved, x, 0, 0)
	r.Savings = store.Savings{ResponseCache: saved[accounting.Cache], ProviderPromptCache: saved[accounting.Prompt],
		IDEBoilerplate: saved[accounting.Strip], FileDedup: saved[accounting.Dedup], Routing: saved[accounting.Routing]}
	x.hold = t.led.Provisional(&r)
}

// noteBreakpoints records whether the gateway's breakpoints (not the
// client's) drive the provider's prompt caching for x.
func (s *Server) noteBreakpoints(x *exchange) {
	if x.model == nil || s.upstreams[x.model.Provider] == nil {
		return
	}
	if bc, ok := s.upstreams[x.model.Provider].p.(providers.BreakpointCacher); ok {
		x.gatewayBreakpoints = bc.GatewayBreakpoints(x.req)
	}
}
