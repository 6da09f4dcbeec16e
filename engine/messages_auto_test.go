package engine

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

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
