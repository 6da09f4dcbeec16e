package gemini

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"

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
func startAllocUpstream(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var stream []byte
	for range 8 {
		stream = append(stream, allocEvent...)
	}
	stream = append(stream, allocLast...)
	answer := []byte(allocAnswer)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if bytes.Contains(ctx.Path(), streamMethod) {
			ctx.SetContentType("text/event-stream")
			ctx.SetBody(stream)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(answer)
	}}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
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
			one := func() {
				resp, err := p.Chat(context.Background(), call)
				if err != nil {
					t.Fatal(err)
				}
				u := resp.Usage
				if resp.Stream != nil {
					for {
						if _, err := resp.Stream.Next(); err == io.EOF {
							break
						} else if err != nil {
							t.Fatal(err)
						}
					}
					u = resp.Stream.Usage()
				}
				if u.PromptTokens != 8 || u.CompletionTokens != 9 {
					t.Fatalf("usage %+v", u)
				}
				resp.Close()
			}
			for range 50 {
				one()
			}
			if n := testing.AllocsPerRun(500, one); n > tc.budget {
				t.Errorf("Chat allocates %.1f times per %s call, want at most %.0f", n, tc.name, tc.budget)
			}
		})
	}
}
