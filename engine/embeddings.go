package engine

import (
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// handleEmbeddings serves POST /v1/embeddings for providers with embeddings
// (OpenAI-format, Gemini, Ollama, and the mock's deterministic vectors).
func (s *Server) handleEmbeddings(ctx *fasthttp.RequestCtx) {
	x := s.acquireExchange(ctx)
	if err := s.admit(ctx, x); err != nil { // key, project, rate limits (tenancy.go)
		x.fail(ctx, err)
		return
	}
	body := ctx.PostBody()
	name, err := embeddingsModel(body)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	if name == "" {
		x.fail(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "model", Msg: "model: is required"})
		return
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.model = m
	if err := s.admitModel(ctx, x, name, m, body, 0); err != nil { // tenancy.go
		x.fail(ctx, err)
		return
	}
	if _, ok := s.upstreams[m.Provider].p.(providers.Embedder); !ok {
		x.fail(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "not_supported", Param: "model",
			Msg: "Provider " + m.Provider + " does not serve embeddings; use an OpenAI-format, Gemini, Ollama or mock model"})
		return
	}
	s.targets(x, name, m)
	x.uc = upstreamCall{kind: callEmbed, models: x.models, overflowOnly: x.overflowOnly, body: body}
	if err := s.callUpstream(ctx, x, &x.uc, x.targets); err != nil {
		x.fail(ctx, err)
		return
	}
	x.takeAnswer(&x.uc)
	m, resp := x.model, x.resp
	x.resp, x.usage = resp, resp.Usage
	ctx.Response.Header.Set("X-Gateway-Provider", m.Provider)
	ctx.Response.Header.Set("X-Gateway-Model", m.Upstream)
	ctx.SetContentType("application/json")
	ctx.SetBody(resp.Body)
	x.status = 200
	x.finish()
}

// embeddingsModel validates an embeddings request body and reads its model.
// The body reaches OpenAI-format upstreams as sent but for the model, so a
// member the gateway reads must be there once, spelled plainly.
func embeddingsModel(body []byte) (string, error) {
	obj, err := bodyObject(body)
	if err != nil {
		return "", err
	}
	if err := providers.CheckEmbeddingsNames(obj); err != nil {
		return "", err
	}
	return modelOf(obj)
}
