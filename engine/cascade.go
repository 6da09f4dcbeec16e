package engine

import (
	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/engine/routing"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// wantsCascade reports whether x should try its routed cheap model first:
// cascade routing is on (ENABLE_CASCADE_ROUTING or X-Gateway-Cascade: 1),
// the router chose the model, its tier is local or fast, a stronger tier
// exists, and a response-stage policy (the judge) can say whether to keep
// the cheap answer.
func (s *Server) wantsCascade(ctx *fasthttp.RequestCtx, x *exchange) bool {
	if x.tier != "local" && x.tier != "fast" {
		return false
	}
	if !s.cfg.Routing.Cascade && string(ctx.Request.Header.Peek("X-Gateway-Cascade")) != "1" {
		return false
	}
	return len(s.policies.Chain(abi.StageResponse)) > 0 && s.tiers.Model(routing.Above(x.tier)) != ""
}

// cascade calls the cheap model m without streaming, lets the response-stage
// judge inspect its answer, and serves it when the judge accepts. It returns
// the model to escalate to ("" when it already answered the client).
func (s *Server) cascade(ctx *fasthttp.RequestCtx, x *exchange, m *catalog.Model) (escalate string) {
	up := s.tiers.Model(routing.Above(x.tier))
	if s.upstreams[m.Provider] == nil {
		return up
	}
	// The cheap call never streams: the judge needs the whole answer.
	body := x.req.Body
	if x.req.Stream {
		b := jsonscan.AppendReplaced(x.scratch[:0], body, "stream", []byte("false"))
		body = jsonscan.AppendWithout(nil, b, "stream_options")
		x.scratch = b
	}
	cheap := providers.AcquireRequest()
	defer providers.ReleaseRequest(cheap)
	if err := cheap.Decode(body); err != nil {
		return up
	}
	call := providers.Call{Req: cheap, ID: x.call.ID, Created: x.start.Unix()}
	uc := upstreamCall{kind: callCascade, models: []*catalog.Model{m}, call: &call, chosen: true} // the router's tier
	err := s.callUpstream(ctx, x, &uc, []limits.Target{{Provider: m.Provider, Model: m.Upstream}})
	if err != nil {
		cascadeTotal("escalated", "cheap_call_failed")
		x.reason = append(x.reason, "; cascade: escalated (cheap call failed)"...)
		return up
	}
	resp := uc.resp
	x.extraCost += accounting.Cost(m, resp.Usage)
	x.out.Reset()
	x.in.Response = resp.Body
	err = s.policies.Run(ctx, abi.StageResponse, &x.in, &x.out)
	x.in.Response = nil
	v := x.out.Verdict
	if err != nil || (v.Set && v.Escalate) {
		why := "judge failed"
		if err == nil {
			why = routing.PrintableASCII(string(v.Reason), 60)
		}
		resp.Close()
		cascadeTotal("escalated", "judge")
		x.reason = append(append(append(x.reason, "; cascade: escalated ("...), why...), ')')
		return up
	}
	cascadeTotal("accepted", "judge")
	x.reason = append(x.reason, "; cascade: accepted"...)
	x.model = m
	x.extraCost -= accounting.Cost(m, resp.Usage) // counted once, as the answer's own cost
	if x.req.Stream {
		e, perr := cache.ParseCompletion(resp.Body, m.Upstream)
		resp.Close()
		if perr != nil {
			return up
		}
		x.resp = e.Response(x.call.ID, true, x.req.IncludeUsage)
	} else {
		x.resp = resp
	}
	s.render(ctx, x)
	return ""
}
