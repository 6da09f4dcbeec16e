package openai

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/internal/sse"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/internal/upcheck"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/aigateway/gateway/providers/upstream"
)

func startEcho(t *testing.T, midStream bool) *providertest.Server {
	t.Helper()
	srv, err := providertest.StartKeyEcho(&providertest.KeyEcho{Kind: "openai", MidStream: midStream})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func chatCall(t *testing.T, body string) *providers.Call {
	t.Helper()
	r := providers.AcquireRequest()
	if err := r.Decode([]byte(body)); err != nil {
		t.Fatal(err)
	}
	return &providers.Call{Req: r, Model: "gpt-4o", ID: "chatcmpl-test", Created: 1}
}

const (
	chatBody   = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	streamBody = `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`
)

// TestKeyEchoNeverReachesTheClient: an upstream that echoes the key it was
// sent (in every encoding, in OpenAI's error format, refused or mid-stream)
// gets it removed from every error and stream event, whatever the key's
// shape and however it was sent: Bearer, Azure's api-key header, a key=
// query parameter, or a configured basic-auth header.
func TestKeyEchoNeverReachesTheClient(t *testing.T) {
	t.Parallel()
	auths := []struct {
		name string
		cfg  func(key string) Config
		// secrets are what must not leak besides the key.
		secrets func(key string) []string
	}{
		{"bearer", func(key string) Config { return Config{APIKey: key} }, nil},
		{"azure api-key", func(key string) Config {
			return Config{APIKey: key, AuthHeader: "api-key", Query: "api-version=2024-10-21"}
		}, nil},
		{"query key", func(key string) Config {
			return Config{Query: "api-version=2024-10-21&key=" + url.QueryEscape(key)}
		}, nil},
		{"basic header", func(key string) Config {
			return Config{Headers: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("gateway:"+key))}}
		}, func(key string) []string {
			return []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("gateway:"+key))}
		}},
	}
	for _, tk := range providertest.KeyShapes {
		for _, auth := range auths {
			t.Run(tk.Name+"/"+auth.name, func(t *testing.T) {
				t.Parallel()
				var secrets []string
				if auth.secrets != nil {
					secrets = auth.secrets(tk.Key)
				}
				provider := func(srv *providertest.Server) *Provider {
					cfg := auth.cfg(tk.Key)
					cfg.Name, cfg.BaseURL, cfg.Timeout = "openai", srv.URL+"/v1", 5*time.Second
					p, err := New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					return p
				}
				refuse, mid := provider(startEcho(t, false)), provider(startEcho(t, true))
				upcheck.Refused(t, tk.Key, []upcheck.Call{
					{Name: "chat", Do: func() (*providers.Response, error) {
						return refuse.Chat(context.Background(), chatCall(t, chatBody))
					}},
					{Name: "stream", Do: func() (*providers.Response, error) {
						return refuse.Chat(context.Background(), chatCall(t, streamBody))
					}},
					{Name: "embeddings", Do: func() (*providers.Response, error) {
						return refuse.Embed(context.Background(), []byte(`{"model":"text-embedding-3-small","input":"hi"}`), "text-embedding-3-small")
					}},
				}, secrets...)
				upcheck.BrokenMidStream(t, tk.Key, []upcheck.Call{{Name: "stream", Do: func() (*providers.Response, error) {
					return mid.Chat(context.Background(), chatCall(t, streamBody))
				}}}, secrets...)
			})
		}
	}
}

// TestConnectionReuse: sequential calls share one upstream connection,
// streamed or not, after a clean end or an error answer read whole; an
// abandoned stream closes its own.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	const n = 100
	tests := []struct {
		name     string
		body     string
		status   int // of every upstream answer (0: 200)
		abandon  bool
		maxConns int64
	}{
		{"stream", streamBody, 0, false, 2},
		{"non-stream", chatBody, 0, false, 2},
		{"refused stream", streamBody, 429, false, 2},
		{"abandoned stream", streamBody, 0, true, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := providertest.StartOpenAI(&providertest.OpenAI{Reply: "one two three four", Status: tt.status})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			p, err := New(Config{Name: "openai", BaseURL: srv.URL + "/v1", APIKey: "k", Options: upstream.Options{IdleTimeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			upcheck.Reuse(t, srv, n, tt.abandon, tt.status != 0, tt.maxConns, func() (*providers.Response, error) {
				return p.Chat(context.Background(), chatCall(t, tt.body))
			})
		})
	}
}

func TestIsError(t *testing.T) {
	t.Parallel()
	long := `{"id":"gen-1741570283-abcdefghijklmnop","provider":"OpenAI","model":"openai/gpt-4o","object":"chat.completion.chunk","created":1741570283,`
	tests := []struct {
		name, event, data string
		want              bool
	}{
		{"named error event", "error", `{"message":"x"}`, true},
		{"openai error", "", `{"error":{"message":"bad key","type":"invalid_request_error"}}`, true},
		{"vllm error", "", `{"object":"error","message":"bad key","type":"BadRequestError","code":400}`, true},
		{"error member deep in a chunk without usage", "", long + `"error":{"code":502,"message":"x"},"choices":[]}`, true},
		{"ordinary chunk", "", strings.TrimSuffix(strings.TrimPrefix(upstreamChunk, "data: "), "\n\n"), false},
		{"content that says error", "", long + `"choices":[{"index":0,"delta":{"content":"an \"error\" here"}}],"usage":null}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := sse.Event{Data: []byte(tt.data)}
			if tt.event != "" {
				ev.Name = []byte(tt.event)
			}
			if got := isError(ev, strings.Contains(tt.data, `"usage":`)); got != tt.want {
				t.Errorf("isError(%s) = %v, want %v", tt.data, got, tt.want)
			}
		})
	}
}
