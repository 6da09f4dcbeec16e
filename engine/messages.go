package engine

import (
	"context"
	"log/slog"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/frontend/messages"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/kinds"
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
	if err == nil {
		err = checkMaxTokens(body)
	}
	if err != nil {
		x.fail(ctx, err)
		return
	}
	name := x.requestedModel(requested)
	if name == "" {
		name = s.defaultModel(x)
	}
	if name == "auto" {
		// The router picks the model in serve, after the request stage:
		// translated whatever it picks (a passthrough needs the model
		// first); each attempt caps max_tokens at its model's output
		// limit (upstreamCall.chosen).
		s.serveTranslated(ctx, x, body, name, messages.Target{})
		return
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	slot := s.upstreams[m.Provider]
	if slot == nil {
		x.fail(ctx, catalog.NotConfigured(name, m.Provider))
		return
	}
	if err := s.admitModel(ctx, x, requested, m, body, maxTokensOf(body)); err != nil { // tenancy.go
		x.fail(ctx, err)
		return
	}
	if _, ok := slot.p.(providers.MessagesNative); ok {
		x.model, x.stream = m, stream
		s.targets(x, name, m)
		x.uc = upstreamCall{kind: callMessages, models: x.models, overflowOnly: x.overflowOnly, body: body, header: &ctx.Request.Header, query: ctx.URI().QueryString(), stream: stream}
		if err := s.callUpstream(ctx, x, &x.uc, x.targets); err != nil {
			x.fail(ctx, err)
			return
		}
		x.takeAnswer(&x.uc)
		x.format = formatNative
		s.render(ctx, x)
		return
	}
	kind, _ := kinds.All.Lookup(slot.cfg.Kind)
	s.serveTranslated(ctx, x, body, name, messages.Target{
		NoFiles: kind.NoFiles, // see Target.NoFiles
	})
}

// serveTranslated serves an Anthropic request body through the chat
// pipeline: translated to the canonical request for model name, answered
// in Anthropic's format.
func (s *Server) serveTranslated(ctx *fasthttp.RequestCtx, x *exchange, body []byte, name string, t messages.Target) {
	b, err := messages.RequestToOpenAI(x.scratch[:0], body, t)
	if !x.decodeTranslated(ctx, b, err) {
		return
	}
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		if ignored := messages.IgnoredMembers(nil, body); len(ignored) > 0 {
			s.log.Debug("anthropic request members without an equivalent were ignored",
				"id", string(x.reqID), "model", name, "members", ignored)
		}
	}
	s.serve(ctx, x, name)
}

// handleCountTokens serves POST /v1/messages/count_tokens for every model:
// Anthropic's own count for Anthropic models, a local estimate for the
// others (counttokens.go).
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
	// As /v1/messages would: the project's or the gateway's default, and
	// for "auto" (the router reads the whole request) the default's count.
	if name = x.requestedModel(name); name == "" || name == "auto" {
		name = s.defaultModel(x)
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.model = m
	if p := x.ten.proj; p != nil {
		if err := s.modelRefused(p, name, m, ""); err != nil { // as /v1/messages
			x.fail(ctx, err)
			return
		}
	}
	slot := s.upstreams[m.Provider]
	if slot == nil {
		x.fail(ctx, catalog.NotConfigured(name, m.Provider))
		return
	}
	if _, ok := slot.p.(providers.MessagesNative); !ok {
		s.countTokensLocally(ctx, x, body) // an estimate (counttokens.go)
		return
	}
	s.targets(x, name, m)
	x.uc = upstreamCall{kind: callCountTokens, models: x.models, overflowOnly: x.overflowOnly, body: body, header: &ctx.Request.Header, query: ctx.URI().QueryString()}
	if err := s.callUpstream(ctx, x, &x.uc, x.targets); err != nil {
		x.fail(ctx, err)
		return
	}
	x.takeAnswer(&x.uc)
	resp := x.resp
	x.resp = resp
	ctx.SetContentType("application/json")
	ctx.SetBody(resp.Body)
	x.status = 200
	x.finish()
}

// messagesHead validates an Anthropic request body and reads its model and
// stream flag.
func messagesHead(body []byte) (model string, stream bool, err error) {
	obj, err := bodyObject(body)
	if err != nil {
		return "", false, err
	}
	// Anthropic reads the passthrough body itself: route and stream by the
	// members it will use, or refuse a body where that is ambiguous.
	if err := messages.CheckNames(obj); err != nil {
		return "", false, err
	}
	if model, err = modelOf(obj); err != nil {
		return "", false, err
	}
	return model, string(jsonscan.Get(obj, "stream")) == "true", nil
}

// checkMaxTokens refuses what Anthropic refuses
// (https://docs.anthropic.com/en/api/messages): max_tokens is required and
// is an integer of at least 1. Checked here, before any route, so that
// every model answers as Anthropic would, and the Anthropic SDKs' clients
// see the member they sent named (the translation renames it
// max_completion_tokens). body is a validated JSON object.
func checkMaxTokens(body []byte) error {
	v := jsonscan.Get(body[jsonscan.SkipSpace(body, 0):], "max_tokens")
	msg := ""
	if v == nil {
		msg = "max_tokens: Field required"
	} else if n, err := jsonscan.ParseInt(v); jsonscan.KindOf(v) != jsonscan.Number || err != nil {
		msg = "max_tokens: Input should be a valid integer"
	} else if n < 1 {
		msg = "max_tokens: Input should be greater than or equal to 1"
	}
	if msg == "" {
		return nil
	}
	return &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "max_tokens", Msg: msg}
}

// bodyObject validates a request body and returns its top-level object.
func bodyObject(body []byte) ([]byte, error) {
	if err := jsonscan.Validate(body); err != nil {
		return nil, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Msg: "request body is not valid JSON: " + err.Error()}
	}
	obj := body[jsonscan.SkipSpace(body, 0):]
	if jsonscan.KindOf(obj) != jsonscan.Object {
		return nil, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Msg: "request body must be a JSON object"}
	}
	return obj, nil
}

// modelOf returns the top-level model of the validated object obj; "" when
// absent. Only for bodies whose names were checked: it reads the first.
func modelOf(obj []byte) (string, error) {
	v := jsonscan.Get(obj, "model")
	if v == nil {
		return "", nil
	}
	if jsonscan.KindOf(v) != jsonscan.String {
		return "", &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "model", Msg: "model: expected a string"}
	}
	s, _, _ := jsonscan.Unquote(v, nil)
	return string(s), nil
}
