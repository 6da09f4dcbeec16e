package anthropic

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
			errCases := []struct {
				name string
				call func() (*providers.Response, error)
			}{
				{"chat", func() (*providers.Response, error) {
					return refuse.Chat(context.Background(), testCall(decode(t, []byte(chatBody))))
				}},
				{"chat stream", func() (*providers.Response, error) {
					return refuse.Chat(context.Background(), testCall(decode(t, []byte(streamChatBody))))
				}},
				{"passthrough", func() (*providers.Response, error) {
					return refuse.Messages(context.Background(), []byte(nativeBody), "", nil, nil, false)
				}},
				{"passthrough stream", func() (*providers.Response, error) {
					return refuse.Messages(context.Background(), []byte(nativeStreamBody), "", nil, nil, true)
				}},
				{"count tokens", func() (*providers.Response, error) {
					return refuse.CountTokens(context.Background(), []byte(nativeBody), "", nil, nil)
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
			streams := []struct {
				name string
				call func() (*providers.Response, error)
			}{
				{"translated", func() (*providers.Response, error) {
					return mid.Chat(context.Background(), testCall(decode(t, []byte(streamChatBody))))
				}},
				{"passthrough", func() (*providers.Response, error) {
					return mid.Messages(context.Background(), []byte(nativeStreamBody), "", nil, nil, true)
				}},
			}
			for _, c := range streams {
				resp, err := c.call()
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				out, err := providertest.ReadStream(resp.Stream)
				resp.Close()
				if err != nil || !strings.Contains(out, "Incorrect API key provided: ") {
					t.Fatalf("%s: %v %s", c.name, err, out)
				}
				providertest.NoKey(t, tk.Key, c.name+" mid-stream error event", out)
			}
		})
	}
}

const (
	chatBody       = `{"model":"claude","messages":[{"role":"user","content":"hi"}]}`
	streamChatBody = `{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}`
)

// TestConnectionReuse: sequential calls share one upstream connection after
// a clean end, translated or passed through, streamed or not; an abandoned
// stream closes its own.
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
		{"anthropic format over a translated stream", func(p *Provider) (*providers.Response, error) {
			resp, err := p.Chat(context.Background(), testCall(decode(t, []byte(streamChatBody))))
			if err == nil {
				resp.Stream = NewMessageStream(resp.Stream, "claude")
			}
			return resp, err
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
			for i := 0; i < n; i++ {
				resp, err := tt.call(p)
				if err != nil {
					t.Fatal(err)
				}
				if resp.Stream != nil {
					if tt.abandon {
						_, _ = resp.Stream.Next()
					} else if out, err := providertest.ReadStream(resp.Stream); err != nil || !strings.Contains(out, "message_stop") && !strings.HasSuffix(out, "data: [DONE]\n\n") {
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
