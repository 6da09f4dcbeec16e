package openai

import (
	"context"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

var _ providers.Embedder = (*Provider)(nil)

// Embed forwards an embeddings request to {base}/embeddings with the model
// rewritten; every other member (encoding_format, dimensions, user) passes
// through, and the answer is returned as the upstream sent it.
func (p *Provider) Embed(ctx context.Context, body []byte, model string) (*providers.Response, error) {
	resp, release, err := p.forward(ctx, p.embed, body, model, false)
	if err != nil {
		return nil, err
	}
	out := providers.NewResponse(release)
	out.Body = resp.Body()
	out.Usage = providers.ParseUsage(jsonscan.Get(out.Body, "usage"))
	return out, nil
}
