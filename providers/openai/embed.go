package openai

import (
	"context"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

var _ providers.Embedder = (*Provider)(nil)

// Embed forwards an embeddings request to {base}/embeddings with the model
// rewritten; every other member (encoding_format, dimensions, user) passes
// through, and the answer is returned as the upstream sent it.
func (p *Provider) Embed(ctx context.Context, body []byte, model string) (*providers.Response, error) {
	bb := bodyPool.Get().(*bodyBuf)
	bb.b = jsonscan.AppendReplaced(bb.b[:0], body, "model", jsonscan.AppendQuote(nil, model))
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(p.embed)
	req.Header.SetContentType("application/json")
	p.setAuth(req)
	req.SetBodyRaw(bb.b)
	resp := fasthttp.AcquireResponse()
	release := func() {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		bodyPool.Put(bb)
	}
	if err := p.client.Do(ctx, req, resp, p.cfg.Timeout); err != nil {
		release()
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		err := p.upstreamError(resp.StatusCode(), resp.Body(), resp.Header.Peek("Retry-After"))
		release()
		return nil, err
	}
	out := providers.NewResponse(release)
	out.Body = resp.Body()
	out.Usage = providers.ParseUsage(jsonscan.Get(out.Body, "usage"))
	return out, nil
}
