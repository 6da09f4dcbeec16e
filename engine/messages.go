package engine

import (
	"time"

	"github.com/aigateway/gateway/providers/anthropic"
	"github.com/aigateway/gateway/providers/jsonscan"
	"github.com/valyala/fasthttp"
)

// handleMessages serves POST /v1/messages, Anthropic's Messages API, so that
// Anthropic clients (Claude Code with ANTHROPIC_BASE_URL pointed here) can use
// any provider. An Anthropic upstream gets the client's bytes unchanged but
// for the model value (its prompt cache depends on byte-stable prefixes) and
// its answer is relayed as is; any other upstream gets the request
// translated to the canonical form and its answer translated back, streams
// included.
func (s *Server) handleMessages(ctx *fasthttp.RequestCtx) {
	x := s.acquireExchange(ctx)
	x.format = formatAnthropic
	if err := s.admit(ctx, x); err != nil { // key, project, rate limits (tenancy.go)
		x.fail(ctx, err)
		return
	}
	body := ctx.PostBody()
	requested, stream, err := messagesHead(body)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	name := x.requestedModel(requested)
	if name == "" {
		name = s.defaultModel(x)
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	if err := s.admitModel(ctx, x, requested, m, body, maxTokensOf(body)); err != nil { // tenancy.go
		x.fail(ctx, err)
		return
	}
	slot := s.upstreams[m.Provider]
	if ap, ok := slot.p.(*anthropic.Provider); ok {
		x.model, x.slot, x.stream = m, slot, stream
		if err := s.acquireSlot(x); err != nil {
			x.fail(ctx, err)
			return
		}
		t0 := time.Now()
		resp, err := ap.Messages(body, m.Upstream, &ctx.Request.Header, stream)
		x.upstream = time.Since(t0)
		if err != nil {
			x.fail(ctx, err)
			return
		}
		x.resp = resp
		x.format = formatNative
		s.render(ctx, x)
		return
	}
	b, err := anthropic.RequestToOpenAI(x.scratch[:0], body)
	x.scratch = b
	if err != nil {
		x.fail(ctx, err)
		return
	}
	if err := x.req.Decode(b); err != nil {
		x.fail(ctx, err)
		return
	}
	s.serve(ctx, x, name)
}

// handleCountTokens serves POST /v1/messages/count_tokens where the upstream
// supports it (Anthropic); for other providers it is a 404 that says so.
func (s *Server) handleCountTokens(ctx *fasthttp.RequestCtx) {
	x := s.acquireExchange(ctx)
	x.format = formatAnthropic
	if err := s.admit(ctx, x); err != nil { // key, project, rate limits (tenancy.go)
		x.fail(ctx, err)
		return
	}
	body := ctx.PostBody()
	name, _, err := messagesHead(body)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.model = m
	ap, ok := s.upstreams[m.Provider].p.(*anthropic.Provider)
	if !ok {
		x.fail(ctx, &apiError{Status: 404, Type: typeInvalidRequest, Code: "not_supported",
			Msg: "count_tokens is only available for Anthropic models; " + m.Name + " is served by " + m.Provider})
		return
	}
	t0 := time.Now()
	resp, err := ap.CountTokens(body, m.Upstream, &ctx.Request.Header)
	x.upstream = time.Since(t0)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.resp = resp
	ctx.SetContentType("application/json")
	ctx.SetBody(resp.Body)
	x.status = 200
	x.finish()
}

// messagesHead validates an Anthropic request body and reads its model and
// stream flag.
func messagesHead(body []byte) (model string, stream bool, err error) {
	if err := jsonscan.Validate(body); err != nil {
		return "", false, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Msg: "request body is not valid JSON: " + err.Error()}
	}
	i := jsonscan.SkipSpace(body, 0)
	if jsonscan.KindOf(body[i:]) != jsonscan.Object {
		return "", false, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Msg: "request body must be a JSON object"}
	}
	if v := jsonscan.Get(body[i:], "model"); v != nil {
		if jsonscan.KindOf(v) != jsonscan.String {
			return "", false, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "model", Msg: "model: expected a string"}
		}
		s, _, _ := jsonscan.Unquote(v, nil)
		model = string(s)
	}
	return model, string(jsonscan.Get(body[i:], "stream")) == "true", nil
}
