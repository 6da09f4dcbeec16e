package gemini

import (
	"context"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/internal/upcheck"
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
			upcheck.Refused(t, tk.Key, []upcheck.Call{
				{Name: "chat", Do: func() (*providers.Response, error) {
					return refuse.Chat(context.Background(), testCall(decode(t, []byte(echoChat))))
				}},
				{Name: "chat stream", Do: func() (*providers.Response, error) {
					return refuse.Chat(context.Background(), testCall(decode(t, []byte(echoStream))))
				}},
				{Name: "embeddings", Do: func() (*providers.Response, error) {
					return refuse.Embed(context.Background(), []byte(`{"model":"text-embedding-004","input":["hi"]}`), "text-embedding-004")
				}},
			})
			upcheck.BrokenMidStream(t, tk.Key, []upcheck.Call{{Name: "chat stream", Do: func() (*providers.Response, error) {
				return mid.Chat(context.Background(), testCall(decode(t, []byte(echoStream))))
			}}})
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
			upcheck.Reuse(t, srv, n, tt.abandon, false, tt.maxConns, func() (*providers.Response, error) {
				return p.Chat(context.Background(), testCall(decode(t, []byte(tt.body))))
			})
		})
	}
}
