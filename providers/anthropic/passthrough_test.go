package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
	sdk "github.com/anthropics/anthropic-sdk-go/v2"
)

// The passthrough: an Anthropic client's request (POST /v1/messages through
// the engine's Messages front-end) sent to Anthropic as the client wrote it.

func TestAppendWithModel(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, model, want string }{
		{"replace", "{ \"max_tokens\" : 5,\n  \"model\":\"claude-x\" , \"messages\":[]}", "claude-sonnet-4-20250514", "{ \"max_tokens\" : 5,\n  \"model\":\"claude-sonnet-4-20250514\" , \"messages\":[]}"},
		{"insert", ` {"messages":[]}`, "m", ` {"model":"m","messages":[]}`},
		{"insert into empty", `{ }`, "m", `{"model":"m" }`},
		{"empty model keeps body", `{"model":"a"}`, "", `{"model":"a"}`},
		{"nested model untouched", `{"metadata":{"model":"a"},"model":"b"}`, "c", `{"metadata":{"model":"a"},"model":"c"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := AppendWithModel(nil, []byte(tt.in), tt.model)
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := AppendWithModel(nil, []byte(`[]`), "m"); err == nil {
		t.Error("a non-object body was accepted")
	}
}

// TestPassthrough: the upstream receives the client's bytes with only the
// model changed, and the answer comes back as Anthropic sent it.
func TestPassthrough(t *testing.T) {
	t.Parallel()
	body := "{\n  \"max_tokens\": 64,\n  \"model\": \"claude-3-opus\",\n  \"system\": [{\"type\": \"text\", \"text\": \"Be brief.\", \"cache_control\": {\"type\": \"ephemeral\"}}],\n  \"messages\": [{\"role\": \"user\", \"content\": \"Hi \\u00e9\"}]%s\n}"
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "non-streaming", true: "streaming"}[stream], func(t *testing.T) {
			t.Parallel()
			srv, p := startFake(t, &providertest.Anthropic{Reply: "Hello there.", InputTokens: 11, CacheRead: 5})
			extra := ""
			if stream {
				extra = `, "stream": true`
			}
			in := []byte(strings.Replace(body, "%s", extra, 1))
			resp, err := p.Messages(context.Background(), in, "claude-sonnet-4-20250514", headers{"anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31"}, nil, stream)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			want := strings.Replace(string(in), "claude-3-opus", "claude-sonnet-4-20250514", 1)
			if got := string(srv.Last().Body); got != want {
				t.Errorf("upstream got\n%s\nwant\n%s", got, want)
			}
			if h := srv.Last().Header; h["X-Api-Key"] != testKey || h["Anthropic-Beta"] != "prompt-caching-2024-07-31" {
				t.Errorf("headers %v", h)
			}
			var m sdk.Message
			if stream {
				out := drain(t, resp.Stream)
				if !strings.HasPrefix(string(out), "event: message_start\ndata: {\"type\":\"message_start\"") {
					t.Errorf("relay changed the stream: %.80s", out)
				}
				m, _ = sdkAccumulate(t, out)
				if u := resp.Stream.Usage(); u.PromptTokens != 16 || u.CachedTokens != 5 || u.CompletionTokens != 2 {
					t.Errorf("stream usage %+v", u)
				}
			} else {
				if err := json.Unmarshal(resp.Body, &m); err != nil {
					t.Fatal(err)
				}
				if resp.Usage.PromptTokens != 16 || resp.Usage.CachedTokens != 5 {
					t.Errorf("usage %+v", resp.Usage)
				}
			}
			if len(m.Content) != 1 || m.Content[0].Text != "Hello there." || m.StopReason != "end_turn" {
				t.Errorf("message %+v", m)
			}
		})
	}
}

func TestPassthroughErrors(t *testing.T) {
	t.Parallel()
	_, p := startFake(t, &providertest.Anthropic{Status: 529})
	_, err := p.Messages(context.Background(), []byte(`{"model":"x","max_tokens":1,"messages":[]}`), "", nil, nil, false)
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 503 {
		t.Fatalf("got %v", err)
	}
	if got := string(AppendError(nil, ue.Status, ue.Message)); got != `{"type":"error","error":{"type":"overloaded_error","message":"upstream anthropic: Overloaded"}}` {
		t.Errorf("envelope %s", got)
	}
	if _, err := p.Messages(context.Background(), []byte(`not json`), "m", nil, nil, false); !errors.As(err, &ue) || ue.Status != 400 {
		t.Errorf("bad body: %v", err)
	}
}

func TestCountTokens(t *testing.T) {
	t.Parallel()
	srv, p := startFake(t, &providertest.Anthropic{InputTokens: 42})
	resp, err := p.CountTokens(context.Background(), []byte(`{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}`), "claude-sonnet-4-20250514", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if string(resp.Body) != `{"input_tokens":42}` || srv.Last().Path != "/v1/messages/count_tokens" {
		t.Errorf("%s %s", resp.Body, srv.Last().Path)
	}
}

// TestPassthroughQuery: the client's query string (Claude Code's
// ?beta=true) reaches Anthropic, on messages and count_tokens.
func TestPassthroughQuery(t *testing.T) {
	t.Parallel()
	srv, err := providertest.StartAnthropic(&providertest.Anthropic{Reply: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p, err := New(Config{BaseURL: srv.URL, APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	for _, tc := range []struct{ name, query, want string }{
		{"beta", "beta=true", "/v1/messages?beta=true"},
		{"none", "", "/v1/messages"},
	} {
		resp, err := p.Messages(context.Background(), body, "claude-sonnet-4-5", headers{"anthropic-beta": "context-management-2025-06-27"}, []byte(tc.query), false)
		if err != nil {
			t.Fatal(err)
		}
		resp.Close()
		if got := srv.Last(); got.Path != tc.want || got.Header["Anthropic-Beta"] != "context-management-2025-06-27" {
			t.Errorf("%s: upstream got %s %v", tc.name, got.Path, got.Header)
		}
	}
	resp, err := p.CountTokens(context.Background(), body, "claude-sonnet-4-5", nil, []byte("beta=true"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Close()
	if got := srv.Last().Path; got != "/v1/messages/count_tokens?beta=true" {
		t.Errorf("count_tokens went to %s", got)
	}
}
