package openai

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/valyala/fasthttp"
)

func newTestProvider(t *testing.T, url string) *Provider {
	t.Helper()
	p, err := New(Config{Name: "openai", BaseURL: url + "/v1", APIKey: "sk-secret-key-0123456789", Responses: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestResponsesPassthrough: the body reaches /responses with only the
// model replaced; usage comes from the Responses usage object, streaming
// or not; the stream's events are relayed with their names and end at
// response.completed; an upstream error is an UpstreamError.
func TestResponsesPassthrough(t *testing.T) {
	t.Parallel()
	fake := &providertest.OpenAI{Reply: "one two three", PromptTokens: 50, CachedTokens: 20, ReasoningTokens: 4}
	srv, err := providertest.StartOpenAI(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p := newTestProvider(t, srv.URL)
	want := providers.Usage{PromptTokens: 50, CachedTokens: 20, CompletionTokens: 7, ReasoningTokens: 4, Set: true}

	resp, err := p.Responses(context.Background(), []byte(`{"input":"hi","model":"alias","x_unknown":[1]}`), "gpt-4o", false)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage != want || !strings.Contains(string(resp.Body), `"object":"response"`) || !strings.Contains(string(resp.Body), `"model":"gpt-4o"`) {
		t.Fatalf("usage %+v body %s", resp.Usage, resp.Body)
	}
	resp.Close()
	if l := srv.Last(); l.Path != "/v1/responses" || string(l.Body) != `{"input":"hi","model":"gpt-4o","x_unknown":[1]}` || l.Header["Authorization"] != "Bearer sk-secret-key-0123456789" {
		t.Fatalf("upstream got %s %s %v", l.Path, l.Body, l.Header)
	}

	resp, err = p.Responses(context.Background(), []byte(`{"model":"gpt-4o","input":"hi","stream":true}`), "gpt-4o", true)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		ev, err := resp.Stream.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(string(ev), "event: "), "\n")
		names = append(names, name)
		if !strings.HasSuffix(string(ev), "}\n\n") || !strings.Contains(string(ev), "\ndata: {") {
			t.Fatalf("event framing %q", ev)
		}
	}
	if u := resp.Stream.Usage(); u != want {
		t.Fatalf("stream usage %+v", u)
	}
	resp.Close()
	if names[0] != "response.created" || names[len(names)-1] != "response.completed" || len(names) != 11 {
		t.Fatalf("events %v", names)
	}

	fake.Status = 429
	if _, err := p.Responses(context.Background(), []byte(`{"model":"m","input":"x"}`), "gpt-4o", false); err == nil {
		t.Fatal("no error")
	} else if ue, ok := errors.AsType[*providers.UpstreamError](err); !ok || ue.Status != 429 {
		t.Fatalf("error %v", err)
	}
}

// TestResponsesRelayBroken: a stream that ends before its terminal event
// ends with an OpenAI "error" event; an upstream error event has the key
// removed and is the stream's last word.
func TestResponsesRelayBroken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, upstream, last string
	}{
		{"cut", "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0}\n\n",
			`data: {"type":"error","code":"upstream_error","message":"upstream openai closed the stream before it finished","param":null,"sequence_number":1}`},
		{"error event", "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0}\n\nevent: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"key sk-secret-key-0123456789 failed\",\"sequence_number\":1}\n\n",
			`data: {"type":"error","code":"server_error","message":"key [REDACTED] failed","sequence_number":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := providertest.Start(func(ctx *fasthttp.RequestCtx) {
				ctx.SetContentType("text/event-stream")
				ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
					_, _ = w.WriteString(tc.upstream)
					_ = w.Flush()
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			p := newTestProvider(t, srv.URL)
			resp, err := p.Responses(context.Background(), []byte(`{"model":"m","input":"x","stream":true}`), "m", true)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			var last string
			for {
				ev, err := resp.Stream.Next()
				if err != nil {
					break
				}
				last = string(ev)
			}
			if !strings.Contains(last, tc.last) {
				t.Fatalf("last event %q, want %q", last, tc.last)
			}
		})
	}
}

// responsesDelta is one upstream Responses text delta event.
const responsesDelta = "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"hello \",\"logprobs\":[]}\n\n"

// TestResponsesRelayAllocs: relaying a Responses event allocates nothing.
func TestResponsesRelayAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	var r ResponsesRelay
	r.Reset(&loopBody{data: []byte(strings.Repeat(responsesDelta, 8))}, "openai")
	for range 20 {
		_, _ = r.Next()
	}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("ResponsesRelay.Next allocates %.1f per event", n)
	}
}

func BenchmarkResponsesRelayEvent(b *testing.B) {
	var r ResponsesRelay
	r.Reset(&loopBody{data: []byte(strings.Repeat(responsesDelta, 8))}, "openai")
	b.ReportAllocs()
	b.SetBytes(int64(len(responsesDelta)))
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}
