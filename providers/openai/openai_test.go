package openai

import (
	"context"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
)

func TestAppendBody(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, model, want string }{
		{"model rewritten, bytes kept", `{"model":"gpt-4o", "messages":[{"role":"user","content":"caf\u00e9"}],"x":1}`, "gpt-4o-2024",
			`{"model":"gpt-4o-2024", "messages":[{"role":"user","content":"caf\u00e9"}],"x":1}`},
		{"model inserted", `{"messages":[{"role":"user","content":"x"}]}`, "m",
			`{"messages":[{"role":"user","content":"x"}],"model":"m"}`},
		{"skill dropped in the middle", `{"model":"a","skill":"quick-fix","messages":[{"role":"user","content":"x"}]}`, "a",
			`{"model":"a","messages":[{"role":"user","content":"x"}]}`},
		{"skill dropped first", `{"skill":"s", "model":"a","messages":[{"role":"user","content":"x"}]}`, "a",
			`{"model":"a","messages":[{"role":"user","content":"x"}]}`},
		{"skill dropped last", `{"model":"a","messages":[{"role":"user","content":"x"}], "skill":"s" }`, "a",
			`{"model":"a","messages":[{"role":"user","content":"x"}] }`},
		{"stream gets usage", `{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}]}`, "a",
			`{"model":"a","stream":true,"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`},
		{"stream options merged", `{"model":"a","stream":true,"stream_options":{"include_obfuscation":false},"messages":[{"role":"user","content":"x"}]}`, "a",
			`{"model":"a","stream":true,"stream_options":{"include_usage":true,"include_obfuscation":false},"messages":[{"role":"user","content":"x"}]}`},
		{"client usage kept", `{"model":"a","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, "a",
			`{"model":"a","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`},
		{"unread members kept byte for byte, escaped or repeated",
			`{"model":"a","logit\u005fbias":{"1":2},"messages":[{"role":"user","content":"x","reasoning\u005fcontent":"r"}],"x":1,"x":2,"\ud83d\ude00":0}`, "b",
			`{"model":"b","logit\u005fbias":{"1":2},"messages":[{"role":"user","content":"x","reasoning\u005fcontent":"r"}],"x":1,"x":2,"\ud83d\ude00":0}`},
		{"unread stream option kept escaped", `{"model":"a","stream":true,"stream_options":{"include\u005fobfuscation":false},"messages":[{"role":"user","content":"x"}]}`, "a",
			`{"model":"a","stream":true,"stream_options":{"include_usage":true,"include\u005fobfuscation":false},"messages":[{"role":"user","content":"x"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := providers.AcquireRequest()
			defer providers.ReleaseRequest(r)
			if err := r.Decode([]byte(tc.in)); err != nil {
				t.Fatal(err)
			}
			if got := string(AppendBody(nil, r, tc.model)); got != tc.want {
				t.Fatalf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestAppendBodyNeverSeesTwoModels: AppendBody rewrites the first model and
// stream_options member it finds, so a body with a second one, in any
// spelling, must never reach it: Decode refuses them.
func TestAppendBodyNeverSeesTwoModels(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"model":"cheap","mod\u0065l":"pricey","messages":[{"role":"user","content":"x"}]}`,
		`{"model":"cheap","model":"pricey","messages":[{"role":"user","content":"x"}]}`,
		`{"mod\u0065l":"pricey","messages":[{"role":"user","content":"x"}]}`,
		`{"model":"a","stream":true,"stream_options":{},"stream\u005foptions":{"include_usage":false},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"a","stream":true,"stream_options":{"include_usage":false,"include\u005fusage":false},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"a","skill":"s","sk\u0069ll":"t","messages":[{"role":"user","content":"x"}]}`,
	} {
		r := providers.AcquireRequest()
		if err := r.Decode([]byte(in)); err == nil {
			t.Errorf("Decode accepted %s; AppendBody would send %s", in, AppendBody(nil, r, "m"))
		}
		providers.ReleaseRequest(r)
	}
}

func TestParseErrorRedactsKeys(t *testing.T) {
	t.Parallel()
	e := ParseError("openai", 401, []byte(`{"error":{"message":"Incorrect API key provided: sk-proj-abcdef123. See docs.","type":"invalid_request_error","code":"invalid_api_key"}}`), nil)
	if e.Status != 502 || strings.Contains(e.Message, "abcdef123") || !strings.Contains(e.Message, "Incorrect API key") {
		t.Fatalf("%+v", e)
	}
	e = ParseError("groq", 429, []byte(`{"error":{"message":"slow down","type":"rate_limit","code":"rate_limit_exceeded"}}`), []byte("7"))
	if e.Status != 429 || e.RetryAfter.Seconds() != 7 || e.Code != "rate_limit_exceeded" {
		t.Fatalf("%+v", e)
	}
	e = ParseError("x", 503, []byte(`<html>bad gateway</html>`), nil)
	if e.Status != 502 || !strings.Contains(e.Message, "503") {
		t.Fatalf("%+v", e)
	}
}

// loopBody replays upstream SSE bytes forever without allocating.
type loopBody struct {
	data []byte
	off  int
}

func (l *loopBody) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

const upstreamChunk = `data: {"id":"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_eb9dce56a8","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"

func TestRelay(t *testing.T) {
	t.Parallel()
	in := upstreamChunk + `data: {"id":"x","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4}}}` + "\n\ndata: [DONE]\n\n"
	for _, include := range []bool{false, true} {
		var r Relay
		r.Reset(strings.NewReader(in), include, "openai")
		var out []string
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			out = append(out, string(ev))
		}
		want := 2
		if include {
			want = 3
		}
		if len(out) != want || out[len(out)-1] != "data: [DONE]\n\n" || out[0] != upstreamChunk {
			t.Fatalf("include=%v: %q", include, out)
		}
		if u := r.Usage(); u.PromptTokens != 9 || u.CachedTokens != 4 || u.CompletionTokens != 2 {
			t.Fatalf("usage %+v", u)
		}
	}
	var r Relay
	r.Reset(strings.NewReader(upstreamChunk), false, "openai")
	_, _ = r.Next()
	ev, _ := r.Next()
	if !strings.Contains(string(ev), "closed the stream before it finished") || !strings.HasSuffix(string(ev), "data: [DONE]\n\n") {
		t.Fatalf("truncated upstream: %q", ev)
	}
}

func TestRelayAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	var r Relay
	r.Reset(&loopBody{data: []byte(strings.Repeat(upstreamChunk, 8))}, true, "openai")
	for range 20 {
		_, _ = r.Next()
	}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Relay.Next allocates %.1f per chunk", n)
	}
}

func BenchmarkRelayChunk(b *testing.B) {
	var r Relay
	r.Reset(&loopBody{data: []byte(strings.Repeat(upstreamChunk, 8))}, true, "openai")
	b.ReportAllocs()
	b.SetBytes(int64(len(upstreamChunk)))
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBody(b *testing.B) {
	r := providers.AcquireRequest()
	defer providers.ReleaseRequest(r)
	body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"system","content":"` + strings.Repeat("You are a careful coding assistant. ", 30) + `"},{"role":"user","content":"fix it"}]}`
	if err := r.Decode([]byte(body)); err != nil {
		b.Fatal(err)
	}
	var dst []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		dst = AppendBody(dst[:0], r, "gpt-4o-2024-08-06")
	}
}

func FuzzRelay(f *testing.F) {
	f.Add([]byte(upstreamChunk+"data: [DONE]\n\n"), true)
	f.Add([]byte("data: {\"usage\":{\"prompt_tokens\":\ndata: x\n\n"), false)
	f.Fuzz(func(t *testing.T, in []byte, include bool) {
		var r Relay
		r.Reset(strings.NewReader(string(in)), include, "openai")
		for range len(in) + 3 {
			if _, err := r.Next(); err != nil {
				return
			}
		}
	})
}

func TestPromptCacheKeySentOnlyWhenEnabled(t *testing.T) {
	t.Parallel()
	up, err := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	for _, on := range []bool{true, false} {
		p, err := New(Config{Name: "openai", BaseURL: up.URL + "/v1", PromptCacheKey: on})
		if err != nil {
			t.Fatal(err)
		}
		r := providers.AcquireRequest()
		if err := r.Decode([]byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`)); err != nil {
			t.Fatal(err)
		}
		resp, err := p.Chat(context.Background(), &providers.Call{Req: r, Model: "gpt-4o", PromptCacheKey: "gw-abc"})
		if err != nil {
			t.Fatal(err)
		}
		resp.Close()
		providers.ReleaseRequest(r)
		if got := strings.Contains(string(up.Last().Body), `"prompt_cache_key":"gw-abc"`); got != on {
			t.Fatalf("enabled=%v: body %s", on, up.Last().Body)
		}
	}
}
