package anthropic

import (
	"testing"

	"github.com/aigateway/gateway/providers/internal/alloctest"

	"github.com/aigateway/gateway/providers"
)

// Fixed answers in the Messages API's wire format: a Message object
// (https://docs.anthropic.com/en/api/messages) and its event stream
// (https://docs.anthropic.com/en/api/messages-streaming): message_start,
// content_block_start, deltas, content_block_stop, message_delta with the
// output tokens, message_stop.
const (
	allocMessage = `{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message","role":"assistant","model":"claude-sonnet-4-20250514",` +
		`"content":[{"type":"text","text":"Hi! My name is Claude."}],"stop_reason":"end_turn","stop_sequence":null,` +
		`"usage":{"input_tokens":2095,"output_tokens":503}}`
	allocStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-20250514\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
	allocDelta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n"
	allocEnd   = "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
)

// startAllocUpstream serves the fixed answers on loopback with a handler
// that allocates nothing, so that what a test counts is the client's.
func startAllocUpstream(t testing.TB) string {
	return alloctest.Upstream(t, alloctest.AcceptIs("text/event-stream"),
		alloctest.Answer{Type: "application/json", Body: []byte(allocMessage)},
		alloctest.Answer{Type: "text/event-stream", Body: alloctest.Repeat(allocStart, allocDelta, 8, allocEnd)})
}

// TestChatAllocs: a translated call allocates no more than its budget once
// the pools are warm: the Response, its release and the stream translator
// are pooled together (pooledCall). A stream read to its end keeps
// fasthttp's own four per streamed response (the client's stream body and
// its three closures, fasthttp v1.78.0 client.go).
func TestChatAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p, err := New(Config{Name: "anthropic", BaseURL: startAllocUpstream(t), APIKey: "sk-ant-alloc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		body   string
		budget float64
	}{
		{"non-stream", `{"model":"anthropic/claude-sonnet-4","messages":[{"role":"user","content":"hi"}]}`, 0},
		{"stream", `{"model":"anthropic/claude-sonnet-4","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := providers.AcquireRequest()
			t.Cleanup(func() { providers.ReleaseRequest(r) })
			if err := r.Decode([]byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			call := &providers.Call{Req: r, Model: "claude-sonnet-4-20250514", ID: "chatcmpl-alloc", Created: 1751919739, MaxOutputTokens: 1024}
			n := alloctest.ChatAllocs(t, p, call, func(u providers.Usage, _ bool) {
				if !u.Set || u.CompletionTokens == 0 {
					t.Fatalf("usage %+v", u)
				}
			})
			if n > tc.budget {
				t.Errorf("Chat allocates %.1f times per %s call, want at most %.0f", n, tc.name, tc.budget)
			}
		})
	}
}
