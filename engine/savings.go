package engine

import (
	"strings"
	"time"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/catalog"
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
	var baseline *catalog.Model
	if x.tier != "" {
		baseline, _ = s.catalog.Resolve(s.tiers["strong"])
	}
	accounting.Credit(&x.saved, x.model, x.usage, x.stripTokens, x.dedupTokens, x.gatewayBreakpoints, baseline)
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
