package engine

import (
	"strconv"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/frontend/messages"
	"github.com/valyala/fasthttp"
)

// POST /v1/messages/count_tokens for models that Anthropic does not serve.
// Anthropic's own endpoint counts exactly for Claude (handleCountTokens
// passes through to it); for every other model the gateway counts locally
// on the canonical request — the Anthropic body translated as for
// /v1/messages, so the system prompt, the tools and every message count —
// with the BPE tokenizer it already carries (o200k_base, savings.go).
//
// The count is an estimate, and the answer says so (X-Gateway-Token-Count:
// estimated): o200k_base is exact for OpenAI's current models' text, and
// each message, tool and image is counted with OpenAI's chat overheads
// (3 tokens a message, 3 to prime the answer, a tool as its name,
// description and JSON Schema). For other families (Llama, Gemini,
// Mistral, Qwen) expect the provider's own count to differ by roughly
// ±15% on English text and code, more on other scripts; an image counts a
// flat 85 tokens (OpenAI's low-detail price), which undercounts large
// images. docs/requests.md repeats this.

// Chat-format overheads of OpenAI's token counting recipe.
const (
	tokensPerMessage = 3
	tokensPerName    = 1
	tokensReply      = 3
	tokensPerTool    = 8
	tokensPerImage   = 85
)

// countTokensLocally answers count_tokens for a non-Anthropic model; x
// is admitted and its model resolved.
func (s *Server) countTokensLocally(ctx *fasthttp.RequestCtx, x *exchange, body []byte) {
	b, err := messages.RequestToOpenAI(x.scratch[:0], body, messages.Target{})
	if !x.decodeTranslated(ctx, b, err) {
		return
	}
	n := estimateInputTokens(x)
	out := append([]byte(`{"input_tokens":`), strconv.Itoa(n)...)
	ctx.Response.Header.Set("X-Gateway-Token-Count", "estimated")
	ctx.Response.Header.Set("X-Gateway-Provider", x.model.Provider)
	ctx.Response.Header.Set("X-Gateway-Model", x.model.Upstream)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(out, '}'))
	x.status = 200
	x.finish()
}

// estimateInputTokens counts x.req's prompt: messages (system included),
// tool calls and results, and tool definitions.
func estimateInputTokens(x *exchange) int {
	r := x.req
	n := tokensReply
	for i := range r.Messages {
		m := &r.Messages[i]
		n += tokensPerMessage + accounting.CountTokens(m.Role)
		if m.Name != "" {
			n += tokensPerName + accounting.CountTokens(m.Name)
		}
		if len(m.Parts) == 0 {
			n += accounting.CountTokens(m.Content)
		}
		for _, p := range m.Parts {
			switch p.Type {
			case "text":
				n += accounting.CountTokens(p.Text)
			case "image_url":
				n += tokensPerImage
			default:
				n += accounting.CountTokens(string(p.Raw))
			}
		}
		for _, tc := range m.ToolCalls {
			n += accounting.CountTokens(tc.Name) + accounting.CountTokens(tc.Arguments)
		}
		if m.ToolCallID != "" {
			n += accounting.CountTokens(m.ToolCallID)
		}
	}
	for _, t := range r.Tools {
		n += tokensPerTool + accounting.CountTokens(t.Name) + accounting.CountTokens(t.Description) + accounting.CountTokens(string(t.Parameters))
	}
	return n
}
