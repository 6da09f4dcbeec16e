package ollama

import (
	"testing"

	"github.com/aigateway/gateway/providers/internal/alloctest"

	"github.com/aigateway/gateway/providers"
)

// Fixed /api/chat answers in Ollama's wire format
// (https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion):
// one ChatResponse object, or NDJSON lines ending in the "done" line that
// carries the counts.
const (
	allocAnswer = `{"model":"llama3.2","created_at":"2023-12-12T14:13:43.416799Z","message":{"role":"assistant","content":"Hello! How are you today?"},` +
		`"done":true,"done_reason":"stop","total_duration":5191566416,"load_duration":2154458,"prompt_eval_count":26,"prompt_eval_duration":383809000,"eval_count":5,"eval_duration":4799921000}`
	allocLine = `{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant","content":"The"},"done":false}` + "\n"
	allocDone = `{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop",` +
		`"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":5,"eval_duration":4535599000}` + "\n"
)

// startAllocUpstream serves the fixed answers on loopback with a handler
// that allocates nothing, so that what a test counts is the client's.
func startAllocUpstream(t testing.TB) string {
	return alloctest.Upstream(t, alloctest.AcceptIs("application/x-ndjson"),
		alloctest.Answer{Type: "application/json", Body: []byte(allocAnswer)},
		alloctest.Answer{Type: "application/x-ndjson", Body: alloctest.Repeat("", allocLine, 8, allocDone)})
}

// TestChatAllocs: a non-streaming call (request translation, the call,
// answer translation) allocates nothing once the pools are warm: the
// Response, its release and the stream translator are pooled together
// (pooledCall), and the model Ollama reports is not copied. A stream read
// to its end allocates only fasthttp's own four per streamed response
// (the client's stream body and its three closures, fasthttp v1.78.0
// client.go).
func TestChatAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p, err := New(Config{Name: "ollama", BaseURL: startAllocUpstream(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		body   string
		budget float64
	}{
		{"non-stream", `{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}]}`, 0},
		{"stream", `{"model":"ollama/llama3.2","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := &providers.Call{Req: decode(t, []byte(tc.body)), Model: "llama3.2", ID: "chatcmpl-alloc", Created: 1751919739}
			n := alloctest.ChatAllocs(t, p, call, func(u providers.Usage, _ bool) {
				if u.PromptTokens != 26 || u.CompletionTokens != 5 {
					t.Fatalf("usage %+v", u)
				}
			})
			if n > tc.budget {
				t.Errorf("Chat allocates %.1f times per %s call, want at most %.0f", n, tc.name, tc.budget)
			}
		})
	}
}
