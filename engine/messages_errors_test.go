package engine

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/valyala/fasthttp"
)

// anthropicErrorOf checks that body is Anthropic's error envelope
// ({"type":"error","error":{"type","message"}},
// https://docs.anthropic.com/en/api/errors) and returns error.type and
// error.message.
func anthropicErrorOf(t *testing.T, body string) (typ, msg string) {
	t.Helper()
	b := []byte(body)
	ev := jsonscan.Get(b, "error")
	if jsonscan.Validate(b) != nil || string(jsonscan.Get(b, "type")) != `"error"` || jsonscan.KindOf(ev) != jsonscan.Object {
		t.Fatalf("not Anthropic's error envelope: %s", body)
	}
	typ, _ = unquoted(jsonscan.Get(ev, "type"))
	msg, _ = unquoted(jsonscan.Get(ev, "message"))
	if typ == "" || msg == "" {
		t.Fatalf("error without type or message: %s", body)
	}
	return typ, msg
}

func unquoted(v []byte) (string, bool) {
	if jsonscan.KindOf(v) != jsonscan.String {
		return "", false
	}
	s, _, err := jsonscan.Unquote(v, nil)
	return string(s), err == nil
}

// TestMessagesRequestErrors: what Anthropic refuses
// (https://docs.anthropic.com/en/api/messages: max_tokens is required, an
// integer ≥ 1), the gateway refuses too, in Anthropic's envelope, whatever
// the model; and the paths and methods around /v1/messages answer in that
// envelope, so that an Anthropic SDK reads the error.
func TestMessagesRequestErrors(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "max_body_bytes = 4096\n", nil)
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, method, path, body string
		status                   int
		errType, inMsg           string
	}{
		{"max_tokens missing", "POST", "/v1/messages", `{"model":"mock/echo",` + msgs + `}`, 400, "invalid_request_error", "max_tokens"},
		{"max_tokens missing, stream", "POST", "/v1/messages", `{"model":"mock/echo","stream":true,` + msgs + `}`, 400, "invalid_request_error", "max_tokens"},
		{"max_tokens a string", "POST", "/v1/messages", `{"model":"mock/echo","max_tokens":"10",` + msgs + `}`, 400, "invalid_request_error", "max_tokens"},
		{"max_tokens zero", "POST", "/v1/messages", `{"model":"mock/echo","max_tokens":0,` + msgs + `}`, 400, "invalid_request_error", "max_tokens"},
		{"max_tokens fractional", "POST", "/v1/messages", `{"model":"mock/echo","max_tokens":1.5,` + msgs + `}`, 400, "invalid_request_error", "max_tokens"},
		{"max_tokens null", "POST", "/v1/messages", `{"model":"mock/echo","max_tokens":null,` + msgs + `}`, 400, "invalid_request_error", "max_tokens"},
		{"body too large", "POST", "/v1/messages", `{"model":"mock/echo","max_tokens":5,"messages":[{"role":"user","content":"` + strings.Repeat("x", 8192) + `"}]}`, 413, "request_too_large", "max_body_bytes"},
		{"count_tokens body too large", "POST", "/v1/messages/count_tokens", `{"model":"mock/echo","messages":[{"role":"user","content":"` + strings.Repeat("x", 8192) + `"}]}`, 413, "request_too_large", "max_body_bytes"},
		{"GET /v1/messages", "GET", "/v1/messages", "", 405, "invalid_request_error", "GET"},
		{"unknown path under /v1/messages", "POST", "/v1/messages/nope", `{}`, 404, "not_found_error", "/v1/messages/nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, g.url+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("x-api-key", testKey)
			req.Header.Set("anthropic-version", "2023-06-01")
			req.Header.Set("content-type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			typ, msg := anthropicErrorOf(t, string(b))
			if typ != tc.errType || !strings.Contains(msg, tc.inMsg) {
				t.Fatalf("error %s %q, want %s naming %q", typ, msg, tc.errType, tc.inMsg)
			}
		})
	}
	// count_tokens takes no max_tokens (https://docs.anthropic.com/en/api/messages-count-tokens).
	if status, _, body := g.post(t, "/v1/messages/count_tokens", `{"model":"mock/echo",`+msgs+`}`, nil); status != 200 {
		t.Fatalf("count_tokens without max_tokens: %d %s", status, body)
	}
}

// TestMessagesUpstreamOverloaded: an Anthropic upstream's 529
// overloaded_error reaches an Anthropic client as Anthropic sends it, 529
// overloaded_error (what the Anthropic SDKs raise as OverloadedError and
// Claude Code retries as "overloaded"), streamed or not, passthrough or
// translated; a 429 stays a 429 rate_limit_error with its Retry-After.
func TestMessagesUpstreamOverloaded(t *testing.T) {
	t.Parallel()
	over := &providertest.Anthropic{Status: 529}
	upOver, err := providertest.StartAnthropic(over)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = upOver.Close() })
	limited := &providertest.Anthropic{Status: 429}
	upLimited, err := providertest.StartAnthropic(limited)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = upLimited.Close() })
	toml := `
[reliability]
retry_max_attempts = 1
breaker_failures = 1000

[providers.over]
kind = "anthropic"
base_url = "` + upOver.URL + `"
api_key = "k"

[providers.limited]
kind = "anthropic"
base_url = "` + upLimited.URL + `"
api_key = "k"
`
	g := startGateway(t, toml, nil)
	tests := []struct {
		name, path, model string
		stream            bool
		status            int
		errType           string
	}{
		{"passthrough", "/v1/messages", "over/claude-sonnet-4-0", false, 529, "overloaded_error"},
		{"passthrough stream", "/v1/messages", "over/claude-sonnet-4-0", true, 529, "overloaded_error"},
		{"rate limited", "/v1/messages", "limited/claude-sonnet-4-0", false, 429, "rate_limit_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := `{"model":"` + tc.model + `","max_tokens":16,"messages":[{"role":"user","content":"hi"}]`
			if tc.stream {
				body += `,"stream":true`
			}
			status, hdr, resp := g.post(t, tc.path, body+"}", map[string]string{"anthropic-version": "2023-06-01"})
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, resp)
			}
			if typ, _ := anthropicErrorOf(t, resp); typ != tc.errType {
				t.Fatalf("type %s, want %s", typ, tc.errType)
			}
			if tc.status == 429 && hdr.Get("Retry-After") == "" {
				t.Fatalf("429 without Retry-After: %v", hdr)
			}
		})
	}
	// The SDK sees the status it would see from Anthropic.
	c := anthropicClient(g)
	_, err = c.Messages.New(context.Background(), anthropic.MessageNewParams{
		Model: "over/claude-sonnet-4-0", MaxTokens: 16,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 529 {
		t.Fatalf("SDK error %v, want a 529", err)
	}
}

// TestOverloadedFirstEventPerClientAPI: an Anthropic stream that answers
// 200 and then, as its first event, overloaded_error (Anthropic sends
// errors after the headers this way,
// https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events)
// fails the attempt before the client saw a byte; the client gets the
// status its API uses for that: 529 overloaded_error on /v1/messages, and
// 503 in OpenAI's envelope on /v1/chat/completions and /v1/responses
// (OpenAI's SDKs know no 529).
func TestOverloadedFirstEventPerClientAPI(t *testing.T) {
	t.Parallel()
	up, err := providertest.Start(func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyString("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, `
[reliability]
retry_max_attempts = 1
breaker_failures = 1000

[providers.up]
kind = "anthropic"
base_url = "`+up.URL+`"
api_key = "k"
`, nil)
	tests := []struct {
		name, path, body string
		status           int
		anthropicErr     bool
	}{
		{"messages passthrough", "/v1/messages", `{"model":"up/claude-sonnet-4-0","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, 529, true},
		{"chat completions", "/v1/chat/completions", `{"model":"up/claude-sonnet-4-0","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 503, false},
		{"responses", "/v1/responses", `{"model":"up/claude-sonnet-4-0","stream":true,"input":"hi"}`, 503, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, _, body := g.post(t, tc.path, tc.body, map[string]string{"anthropic-version": "2023-06-01"})
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.anthropicErr {
				if typ, _ := anthropicErrorOf(t, body); typ != "overloaded_error" {
					t.Fatalf("type %s: %s", typ, body)
				}
			} else if e := jsonscan.Get([]byte(body), "error"); jsonscan.KindOf(jsonscan.Get(e, "message")) != jsonscan.String || jsonscan.Get([]byte(body), "type") != nil {
				t.Fatalf("not OpenAI's error envelope: %s", body)
			}
		})
	}
}
