package gemini

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/aigateway/gateway/providers/upstream"
)

const (
	echoChat   = `{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}`
	echoStream = `{"model":"gemini-2.0-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}`
)

func startEcho(t *testing.T, key string, midStream bool) *Provider {
	t.Helper()
	srv, err := providertest.StartKeyEcho(&providertest.KeyEcho{Kind: "gemini", MidStream: midStream})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p, err := New(Config{BaseURL: srv.URL, APIKey: key, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeyEchoNeverReachesTheClient: an upstream that echoes the
// x-goog-api-key it was sent (in every encoding, in Google's error format,
// refused or in an error event mid-stream) gets it removed from every error
// and event: chat, streams and embeddings.
func TestKeyEchoNeverReachesTheClient(t *testing.T) {
	t.Parallel()
	for _, tk := range providertest.KeyShapes {
		t.Run(tk.Name, func(t *testing.T) {
			t.Parallel()
			refuse, mid := startEcho(t, tk.Key, false), startEcho(t, tk.Key, true)
			errCases := []struct {
				name string
				call func() (*providers.Response, error)
			}{
				{"chat", func() (*providers.Response, error) {
					return refuse.Chat(context.Background(), testCall(decode(t, []byte(echoChat))))
				}},
				{"chat stream", func() (*providers.Response, error) {
					return refuse.Chat(context.Background(), testCall(decode(t, []byte(echoStream))))
				}},
				{"embeddings", func() (*providers.Response, error) {
					return refuse.Embed(context.Background(), []byte(`{"model":"text-embedding-004","input":["hi"]}`), "text-embedding-004")
				}},
			}
			for _, c := range errCases {
				_, err := c.call()
				text := providertest.ErrorText(err)
				if !strings.Contains(text, "Incorrect API key provided: ") {
					t.Fatalf("%s: %v", c.name, err)
				}
				providertest.NoKey(t, tk.Key, c.name+" error", text)
			}
			resp, err := mid.Chat(context.Background(), testCall(decode(t, []byte(echoStream))))
			if err != nil {
				t.Fatal(err)
			}
			out, err := providertest.ReadStream(resp.Stream)
			resp.Close()
			if err != nil || !strings.Contains(out, "Incorrect API key provided: ") {
				t.Fatalf("mid-stream: %v %s", err, out)
			}
			providertest.NoKey(t, tk.Key, "mid-stream error event", out)
		})
	}
}

// TestConnectionReuse: sequential calls share one upstream connection after
// a clean end, streamed or not; an abandoned stream closes its own.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	const n = 100
	tests := []struct {
		name     string
		body     string
		abandon  bool
		maxConns int64
	}{
		{"stream", echoStream, false, 2},
		{"non-stream", echoChat, false, 2},
		{"abandoned stream", echoStream, true, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := providertest.StartGemini(&providertest.Gemini{Reply: "one two three four"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			p, err := New(Config{BaseURL: srv.URL, Options: upstream.Options{IdleTimeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < n; i++ {
				resp, err := p.Chat(context.Background(), testCall(decode(t, []byte(tt.body))))
				if err != nil {
					t.Fatal(err)
				}
				if resp.Stream != nil {
					if tt.abandon {
						_, _ = resp.Stream.Next()
					} else if out, err := providertest.ReadStream(resp.Stream); err != nil || !strings.HasSuffix(out, "data: [DONE]\n\n") {
						t.Fatalf("%v %q", err, out)
					}
				}
				resp.Close()
			}
			got := srv.Conns.Load()
			t.Logf("%d sequential calls: %d upstream connections", n, got)
			if got > tt.maxConns || tt.abandon && got < n {
				t.Fatalf("%d sequential calls opened %d upstream connections, want ≤ %d (abandon: %v)", n, got, tt.maxConns, tt.abandon)
			}
		})
	}
}
