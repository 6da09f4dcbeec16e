package ollama

import (
	"context"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/internal/upcheck"
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
			upcheck.Refused(t, tk.Key, []upcheck.Call{
				{Name: "chat", Do: func() (*providers.Response, error) {
					return chat(t, refuse, `{"messages":[{"role":"user","content":"hi"}]}`)
				}},
				{Name: "chat stream", Do: func() (*providers.Response, error) { return chat(t, refuse, streamBody) }},
				{Name: "embeddings", Do: func() (*providers.Response, error) {
					return refuse.Embed(context.Background(), []byte(`{"model":"all-minilm","input":"hi"}`), "all-minilm")
				}},
				{Name: "model list", Do: func() (*providers.Response, error) {
					_, err := refuse.ListModels()
					return nil, err
				}},
			})
			upcheck.BrokenMidStream(t, tk.Key, []upcheck.Call{{Name: "chat stream", Do: func() (*providers.Response, error) {
				return chat(t, mid, streamBody)
			}}})
		})
	}
}

const streamBody = `{"stream":true,"messages":[{"role":"user","content":"hi"}]}`

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
		{"stream", streamBody, false, 2},
		{"non-stream", `{"messages":[{"role":"user","content":"hi"}]}`, false, 2},
		{"abandoned stream", streamBody, true, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, srv := start(t, &providertest.Ollama{Reply: "one two three four"}, Config{Options: upstream.Options{IdleTimeout: 5 * time.Second}})
			upcheck.Reuse(t, srv, n, tt.abandon, false, tt.maxConns, func() (*providers.Response, error) { return chat(t, p, tt.body) })
		})
	}
}
