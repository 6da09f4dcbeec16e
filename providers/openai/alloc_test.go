package openai

import (
	"testing"

	"github.com/aigateway/gateway/providers/internal/alloctest"

	"github.com/aigateway/gateway/providers"
)

// Fixed upstream answers in OpenAI's wire format: a chat.completion object
// (https://platform.openai.com/docs/api-reference/chat/object) and a stream
// of chat.completion.chunk events ending in the usage chunk and [DONE]
// (https://platform.openai.com/docs/api-reference/chat-streaming).
const (
	allocCompletion = `{"id":"chatcmpl-abc123","object":"chat.completion","created":1741569952,"model":"gpt-4o-2024-08-06",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I assist you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_6b68a8204b"}`
	allocChunk = `data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}],"usage":null}` + "\n\n"
	allocLast  = `data: {"id":"chatcmpl-abc123","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29}}` + "\n\n" +
		"data: [DONE]\n\n"
)

// startAllocUpstream serves the fixed answers on loopback with a handler
// that allocates nothing, so that what a test counts is the client's.
func startAllocUpstream(t testing.TB) string {
	return alloctest.Upstream(t, alloctest.AcceptIs("text/event-stream"),
		alloctest.Answer{Type: "application/json", Body: []byte(allocCompletion)},
		alloctest.Answer{Type: "text/event-stream", Body: alloctest.Repeat("", allocChunk, 8, allocLast)})
}

// TestChatAllocs: a non-streaming call allocates nothing once the pools are
// warm: the Response, its release and the stream relay are pooled together
// (pooledCall), and the upstream's model name is not copied out of the body.
// A stream relayed to its end allocates only fasthttp's own four per
// streamed response (Client with StreamResponseBody: the clientStreamBody
// and its three closures, fasthttp v1.78.0 client.go); the gateway's were
// four more (release, cancel, the relay's release and the Response).
func TestChatAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p, err := New(Config{Name: "openai", BaseURL: startAllocUpstream(t) + "/v1", APIKey: "sk-alloc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		body   string
		budget float64
	}{
		{"non-stream", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, 0},
		{"stream", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := chatCall(t, tc.body)
			n := alloctest.ChatAllocs(t, p, call, func(u providers.Usage, streamed bool) {
				if !streamed && u != (providers.Usage{PromptTokens: 19, CompletionTokens: 10, Set: true}) {
					t.Fatalf("usage %+v", u)
				}
				if streamed && u.CompletionTokens != 10 {
					t.Fatalf("stream usage %+v", u)
				}
			})
			if n > tc.budget {
				t.Errorf("Chat allocates %.1f times per %s call, want at most %.0f", n, tc.name, tc.budget)
			}
		})
	}
}
