package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
)

// TestMessagesAutoModel: model "auto" asks the router on /v1/messages as
// on the OpenAI routes (SPEC.md, "Model names"), streamed or not, so that
// Claude Code with ANTHROPIC_MODEL=auto works; count_tokens estimates for
// the default model.
func TestMessagesAutoModel(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	c := anthropicClient(g)
	params := anthropic.MessageNewParams{
		Model: "auto", MaxTokens: 100,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Write a haiku about the sea."))},
	}
	var raw *http.Response
	msg, err := c.Messages.New(context.Background(), params, aoption.WithResponseInto(&raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "Write a haiku about the sea." || raw.Header.Get("X-Gateway-Route-Reason") == "" {
		t.Fatalf("%+v %v", msg, raw.Header)
	}
	stream := c.Messages.NewStreaming(context.Background(), params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if stream.Err() != nil || len(acc.Content) != 1 || acc.Content[0].Text != "Write a haiku about the sea." {
		t.Fatalf("stream: %v %+v", stream.Err(), acc)
	}
	status, _, body := g.post(t, "/v1/messages/count_tokens", `{"model":"auto","messages":[{"role":"user","content":"hi"}]}`, nil)
	var out struct {
		InputTokens int `json:"input_tokens"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &out) != nil || out.InputTokens <= 0 {
		t.Fatalf("count_tokens auto: %d %s", status, body)
	}
}

// TestCountTokensModelAllowList: count_tokens (and the Responses API's
// input_tokens) apply the project's model allow-list as /v1/messages does
// (403 permission_error), before a passthrough reaches Anthropic with the
// gateway's key.
func TestCountTokensModelAllowList(t *testing.T) {
	t.Parallel()
	fake := &providertest.Anthropic{}
	up, err := providertest.StartAnthropic(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, `
[[projects]]
id = "limited"
models = ["mock/echo"]

[[keys]]
key = "k-limited"
project = "limited"
`, map[string]string{"ANTHROPIC_API_KEY": "sk-ant-x", "ANTHROPIC_BASE_URL": up.URL})
	hdr := map[string]string{"Authorization": "", "x-api-key": "k-limited", "anthropic-version": "2023-06-01"}
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct{ name, path, body string }{
		{"messages passthrough", "/v1/messages", `{"model":"claude-sonnet-4-0","max_tokens":5,` + msgs + `}`},
		{"count_tokens passthrough", "/v1/messages/count_tokens", `{"model":"claude-sonnet-4-0",` + msgs + `}`},
		{"count_tokens estimate", "/v1/messages/count_tokens", `{"model":"mock/lorem",` + msgs + `}`},
	} {
		status, _, body := g.post(t, tc.path, tc.body, hdr)
		if status != 403 {
			t.Fatalf("%s: %d %s", tc.name, status, body)
		}
		if typ, _ := anthropicErrorOf(t, body); typ != "permission_error" {
			t.Fatalf("%s: %s", tc.name, body)
		}
	}
	// And OpenAI's input token count, in OpenAI's envelope.
	status, _, body := g.post(t, "/v1/responses/input_tokens", `{"model":"mock/lorem","input":"hi"}`, map[string]string{"Authorization": "Bearer k-limited"})
	if status != 403 || !strings.Contains(body, `"code":"model_not_allowed"`) {
		t.Fatalf("responses input_tokens: %d %s", status, body)
	}
	if n := up.Hits.Load(); n != 0 {
		t.Fatalf("the upstream was called %d times", n)
	}
	if status, _, body := g.post(t, "/v1/messages/count_tokens", `{"model":"mock/echo",`+msgs+`}`, hdr); status != 200 {
		t.Fatalf("allowed model: %d %s", status, body)
	}
}
