package gemini

import (
	"bytes"
	"testing"

	"github.com/aigateway/gateway/providers/internal/alloctest"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/providers"
)

// Fixed answers in the Gemini API's wire format: a GenerateContentResponse
// (https://ai.google.dev/api/generate-content#generatecontentresponse) and
// streamGenerateContent?alt=sse events, CRLF-framed as Google sends them,
// the last with finishReason and usageMetadata.
const (
	allocAnswer = `{"candidates":[{"content":{"parts":[{"text":"Hello! How can I help you today?"}],"role":"model"},"finishReason":"STOP","index":0}],` +
		`"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":9,"totalTokenCount":17},"modelVersion":"gemini-2.0-flash"}`
	allocEvent = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hello\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"gemini-2.0-flash\"}\r\n\r\n"
	allocLast  = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"!\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}]," +
		"\"usageMetadata\":{\"promptTokenCount\":8,\"candidatesTokenCount\":9,\"totalTokenCount\":17},\"modelVersion\":\"gemini-2.0-flash\"}\r\n\r\n"
)

var streamMethod = []byte(":streamGenerateContent")

// startAllocUpstream serves the fixed answers on loopback with a handler
// that allocates nothing, so that what a test counts is the client's.
func startAllocUpstream(t testing.TB) string {
	return alloctest.Upstream(t, func(ctx *fasthttp.RequestCtx) bool { return bytes.Contains(ctx.Path(), streamMethod) },
		alloctest.Answer{Type: "application/json", Body: []byte(allocAnswer)},
		alloctest.Answer{Type: "text/event-stream", Body: alloctest.Repeat("", allocEvent, 8, allocLast)})
}

// TestChatAllocs: a non-streaming call allocates nothing once the pools are
// warm (the Response, its release and the translator are pooled together:
// pooledCall); a stream read to its end allocates only fasthttp's own four
// per streamed response (the client's stream body and its three closures,
// fasthttp v1.78.0 client.go).
func TestChatAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p, err := New(Config{Name: "gemini", BaseURL: startAllocUpstream(t), APIKey: "alloc-key"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		body   string
		budget float64
	}{
		{"non-stream", `{"model":"gemini/gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}`, 0},
		{"stream", `{"model":"gemini/gemini-2.0-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := providers.AcquireRequest()
			t.Cleanup(func() { providers.ReleaseRequest(r) })
			if err := r.Decode([]byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			call := &providers.Call{Req: r, Model: "gemini-2.0-flash", ID: "chatcmpl-alloc", Created: 1751919739}
			n := alloctest.ChatAllocs(t, p, call, func(u providers.Usage, _ bool) {
				if u.PromptTokens != 8 || u.CompletionTokens != 9 {
					t.Fatalf("usage %+v", u)
				}
			})
			if n > tc.budget {
				t.Errorf("Chat allocates %.1f times per %s call, want at most %.0f", n, tc.name, tc.budget)
			}
		})
	}
}
