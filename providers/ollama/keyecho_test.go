package ollama

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/aigateway/gateway/providers/upstream"
)

func startEcho(t *testing.T, key string, midStream bool) *Provider {
	t.Helper()
	srv, err := providertest.StartKeyEcho(&providertest.KeyEcho{Kind: "ollama", MidStream: midStream})
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

// TestKeyEchoNeverReachesTheClient: an authenticating proxy in front of
// Ollama that echoes the Bearer key it was sent (in every encoding, in
// Ollama's {"error":…} format, refused or as an error line mid-stream) gets
// it removed from every error and event: chat, streams, embeddings and the
// model list.
func TestKeyEchoNeverReachesTheClient(t *testing.T) {
	t.Parallel()
	for _, tk := range providertest.KeyShapes {
		t.Run(tk.Name, func(t *testing.T) {
			t.Parallel()
			refuse, mid := startEcho(t, tk.Key, false), startEcho(t, tk.Key, true)
			errCases := []struct {
				name string
				call func() (any, error)
			}{
				{"chat", func() (any, error) { return chat(t, refuse, `{"messages":[{"role":"user","content":"hi"}]}`) }},
				{"chat stream", func() (any, error) {
					return chat(t, refuse, `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
				}},
				{"embeddings", func() (any, error) {
					return refuse.Embed(context.Background(), []byte(`{"model":"all-minilm","input":"hi"}`), "all-minilm")
				}},
				{"model list", func() (any, error) { return refuse.ListModels() }},
			}
			for _, c := range errCases {
				_, err := c.call()
				text := providertest.ErrorText(err)
				if !strings.Contains(text, "Incorrect API key provided: ") {
					t.Fatalf("%s: %v", c.name, err)
				}
				providertest.NoKey(t, tk.Key, c.name+" error", text)
			}
			resp, err := chat(t, mid, `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if err != nil {
				t.Fatal(err)
			}
			out, err := providertest.ReadStream(resp.Stream)
			resp.Close()
			if err != nil || !strings.Contains(out, "Incorrect API key provided: ") {
				t.Fatalf("mid-stream: %v %s", err, out)
			}
			providertest.NoKey(t, tk.Key, "mid-stream error line", out)
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
		{"stream", `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`, false, 2},
		{"non-stream", `{"messages":[{"role":"user","content":"hi"}]}`, false, 2},
		{"abandoned stream", `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`, true, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, srv := start(t, &providertest.Ollama{Reply: "one two three four"}, Config{Options: upstream.Options{IdleTimeout: 5 * time.Second}})
			for i := 0; i < n; i++ {
				resp, err := chat(t, p, tt.body)
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
