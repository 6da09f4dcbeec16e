package engine

import (
	"strconv"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/frontend/responses"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// handleResponsesInputTokens serves POST /v1/responses/input_tokens,
// OpenAI's input token count for a Responses request
// (https://platform.openai.com/docs/api-reference/responses/input-tokens),
// for every model: a provider that serves the Responses API counts exactly
// (the body passed through as on POST /v1/responses, previous_response_id
// forwarded or expanded the same way); for every other model the gateway
// estimates on the translated request as count_tokens does (counttokens.go:
// o200k_base with OpenAI's chat overheads, X-Gateway-Token-Count:
// estimated). The answer is {"object":"response.input_tokens",
// "input_tokens":N}. Nothing is charged and no ledger row is written.
func (s *Server) handleResponsesInputTokens(ctx *fasthttp.RequestCtx) {
	x := s.acquireExchange(ctx)
	x.format = formatResponses
	if err := s.admit(ctx, x); err != nil {
		x.fail(ctx, err)
		return
	}
	body := append([]byte(nil), ctx.PostBody()...)
	r, err := responses.Parse(body)
	if err != nil {
		if unportable(err) {
			s.countRaw(ctx, x, body, err)
			return
		}
		x.fail(ctx, err)
		return
	}
	items, prevItems, prevUpstream, err := s.chain(x, r.PreviousResponseID, r.Input)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	name := x.requestedModel(r.Model)
	if name == "" || name == "auto" {
		name = s.defaultModel(x)
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.model = m
	if p := x.ten.proj; p != nil {
		if err := s.modelRefused(p, name, m, ""); err != nil { // as POST /v1/responses
			x.fail(ctx, err)
			return
		}
	}
	slot := s.upstreams[m.Provider]
	if slot == nil {
		x.fail(ctx, catalog.NotConfigured(name, m.Provider))
		return
	}
	x.rsp = &responsesState{req: r, items: items, body: body, prevItems: prevItems, prevUpstream: prevUpstream}
	if rp, ok := slot.p.(providers.ResponsesNative); ok && rp.NativeResponses() {
		s.countNative(ctx, x, name, m)
		return
	}
	b, err := r.AppendChat(x.scratch[:0], items)
	if !x.decodeTranslated(ctx, b, err) {
		return
	}
	out := append([]byte(`{"object":"response.input_tokens","input_tokens":`), strconv.Itoa(estimateInputTokens(x))...)
	h := &ctx.Response.Header
	h.Set("X-Gateway-Token-Count", "estimated")
	h.Set("X-Gateway-Provider", m.Provider)
	h.Set("X-Gateway-Model", m.Upstream)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(out, '}'))
	x.status = 200
	x.finish()
}

// countNative asks the provider of m, which serves the Responses API, for
// its count of x.rsp's body.
func (s *Server) countNative(ctx *fasthttp.RequestCtx, x *exchange, name string, m *catalog.Model) {
	s.targets(x, name, m)
	x.uc = upstreamCall{kind: callInputTokens, models: x.models, overflowOnly: x.overflowOnly, rsp: x.rsp}
	if err := s.callUpstream(ctx, x, &x.uc, x.targets); err != nil {
		x.fail(ctx, err)
		return
	}
	x.takeAnswer(&x.uc)
	ctx.Response.Header.Set("X-Gateway-Provider", x.model.Provider)
	ctx.Response.Header.Set("X-Gateway-Model", x.model.Upstream)
	ctx.SetContentType("application/json")
	ctx.SetBody(x.resp.Body)
	x.status = 200
	x.finish()
}

// countRaw counts a request the parser refused as unportable (a hosted
// tool): OpenAI's own count when the model's provider serves the
// Responses API, the parser's 400 otherwise (responsesraw.go).
func (s *Server) countRaw(ctx *fasthttp.RequestCtx, x *exchange, body []byte, perr error) {
	obj := body[jsonscan.SkipSpace(body, 0):]
	_, name, m, err := s.rawTarget(x, obj, perr)
	if m != nil {
		x.model = m
	}
	if err != nil {
		x.fail(ctx, err)
		return
	}
	r := &responses.Request{}
	if v := jsonscan.Get(obj, "previous_response_id"); jsonscan.KindOf(v) == jsonscan.String {
		r.PreviousResponseID = wire.Str(v)
	}
	_, prevItems, prevUpstream, err := s.chain(x, r.PreviousResponseID, nil)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.rsp = &responsesState{req: r, body: body, prevItems: prevItems, prevUpstream: prevUpstream}
	s.countNative(ctx, x, name, m)
}

// inputTokensBody is a Responses create body made an input_tokens one:
// the members that only generation reads (stream, store, and the sampling
// and output settings OpenAI's count does not take) are left out.
func inputTokensBody(body []byte) []byte {
	out := body
	for _, k := range [...]string{"stream", "store", "stream_options", "max_output_tokens", "temperature", "top_p", "metadata", "user", "include", "service_tier", "background", "top_logprobs", "safety_identifier", "prompt_cache_key"} {
		if jsonscan.Get(out, k) != nil {
			out = jsonscan.AppendWithout(nil, out, k)
		}
	}
	return out
}
