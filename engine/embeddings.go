package engine

import (
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// handleEmbeddings serves POST /v1/embeddings for providers with embeddings
// (OpenAI-format, Gemini, Ollama).
func (s *Server) handleEmbeddings(ctx *fasthttp.RequestCtx) {
	x := s.acquireExchange(ctx)
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
	slot := s.upstreams[m.Provider]
	emb, ok := slot.p.(providers.Embedder)
	if !ok {
		x.fail(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "not_supported", Param: "model",
			Msg: "Provider " + m.Provider + " does not serve embeddings; use an OpenAI-format, Gemini or Ollama model"})
		return
	}
	x.slot = slot
	if err := s.acquireSlot(x); err != nil {
		x.fail(ctx, err)
		return
	}
	t0 := time.Now()
	resp, err := emb.Embed(body, m.Upstream)
	x.upstream = time.Since(t0)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.resp, x.usage = resp, resp.Usage
	ctx.Response.Header.Set("X-Gateway-Provider", m.Provider)
	ctx.Response.Header.Set("X-Gateway-Model", m.Upstream)
	ctx.SetContentType("application/json")
	ctx.SetBody(resp.Body)
	x.status = 200
	x.finish()
}
