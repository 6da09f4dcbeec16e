package anthropic

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
	nativeBody       = `{"model":"claude-sonnet-4-20250514","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`
	nativeStreamBody = `{"model":"claude-sonnet-4-20250514","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
)

func startEcho(t *testing.T, key string, midStream bool) *Provider {
	t.Helper()
	srv, err := providertest.StartKeyEcho(&providertest.KeyEcho{Kind: "anthropic", MidStream: midStream})
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

// TestKeyEchoNeverReachesTheClient: an upstream that echoes the x-api-key it
// was sent (in every encoding, in Anthropic's error format, refused or in an
// error event mid-stream) gets it removed from every error and event, on
// the translated path and on the /v1/messages passthrough alike.
func TestKeyEchoNeverReachesTheClient(t *testing.T) {
	t.Parallel()
	for _, tk := range providertest.KeyShapes {
		t.Run(tk.Name, func(t *testing.T) {
			t.Parallel()
			refuse, mid := startEcho(t, tk.Key, false), startEcho(t, tk.Key, true)
			upcheck.Refused(t, tk.Key, []upcheck.Call{
				{Name: "chat", Do: func() (*providers.Response, error) {
					return refuse.Chat(context.Background(), testCall(decode(t, []byte(chatBody))))
				}},
				{Name: "chat stream", Do: func() (*providers.Response, error) {
					return refuse.Chat(context.Background(), testCall(decode(t, []byte(streamChatBody))))
				}},
				{Name: "passthrough", Do: func() (*providers.Response, error) {
					return refuse.Messages(context.Background(), []byte(nativeBody), "", nil, nil, false)
				}},
				{Name: "passthrough stream", Do: func() (*providers.Response, error) {
					return refuse.Messages(context.Background(), []byte(nativeStreamBody), "", nil, nil, true)
				}},
				{Name: "count tokens", Do: func() (*providers.Response, error) {
					return refuse.CountTokens(context.Background(), []byte(nativeBody), "", nil, nil)
				}},
			})
			upcheck.BrokenMidStream(t, tk.Key, []upcheck.Call{
				{Name: "translated", Do: func() (*providers.Response, error) {
					return mid.Chat(context.Background(), testCall(decode(t, []byte(streamChatBody))))
				}},
				{Name: "passthrough", Do: func() (*providers.Response, error) {
					return mid.Messages(context.Background(), []byte(nativeStreamBody), "", nil, nil, true)
				}},
			})
		})
	}
}

const (
	chatBody       = `{"model":"claude","messages":[{"role":"user","content":"hi"}]}`
	streamChatBody = `{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}`
)

// TestConnectionReuse: sequential calls share one upstream connection after
// a clean end, translated or passed through, streamed or not; an abandoned
// stream closes its own. (The Messages front-end's stream over a translated
// one: engine/frontend/messages, TestStreamConnectionReuse.)
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	const n = 100
	tests := []struct {
		name     string
		call     func(p *Provider) (*providers.Response, error)
		abandon  bool
		maxConns int64
	}{
		{"stream", func(p *Provider) (*providers.Response, error) {
			return p.Chat(context.Background(), testCall(decode(t, []byte(streamChatBody))))
		}, false, 2},
		{"non-stream", func(p *Provider) (*providers.Response, error) {
			return p.Chat(context.Background(), testCall(decode(t, []byte(chatBody))))
		}, false, 2},
		{"passthrough stream", func(p *Provider) (*providers.Response, error) {
			return p.Messages(context.Background(), []byte(nativeStreamBody), "", nil, nil, true)
		}, false, 2},
		{"passthrough", func(p *Provider) (*providers.Response, error) {
			return p.Messages(context.Background(), []byte(nativeBody), "", nil, nil, false)
		}, false, 2},
		{"abandoned stream", func(p *Provider) (*providers.Response, error) {
			return p.Chat(context.Background(), testCall(decode(t, []byte(streamChatBody))))
		}, true, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := providertest.StartAnthropic(&providertest.Anthropic{Reply: "one two three four"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			p, err := New(Config{BaseURL: srv.URL, APIKey: "k", Options: upstream.Options{IdleTimeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			upcheck.Reuse(t, srv, n, tt.abandon, false, tt.maxConns, func() (*providers.Response, error) { return tt.call(p) })
		})
	}
}
