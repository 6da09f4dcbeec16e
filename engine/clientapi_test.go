package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// TestModelRetrieve checks GET /v1/models/{model}, OpenAI's "retrieve
// model" (https://platform.openai.com/docs/api-reference/models/retrieve):
// the official SDK's Models.Get escapes the slash of mock/echo, a bare
// alias resolves, and an unknown or unlisted model is a 404 envelope with
// code model_not_found.
func TestModelRetrieve(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `
[[models]]
name = "mock/echo"
provider = "mock"
upstream = "echo"
aliases = ["my-echo"]
`, nil)
	c := g.client()
	for _, id := range []string{"mock/echo", "my-echo", "mock/tool"} {
		m, err := c.Models.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("Models.Get(%q): %v", id, err)
		}
		if m.ID != id || m.Object != "model" || m.OwnedBy != "mock" || m.Created == 0 {
			t.Fatalf("Models.Get(%q) = %+v", id, m)
		}
	}
	for _, id := range []string{"nope", "mock/nope", "anthropic/claude-sonnet-4-0"} {
		_, err := c.Models.Get(context.Background(), id)
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Code != "model_not_found" || ae.Param != "model" || !strings.Contains(ae.Message, id) {
			t.Fatalf("Models.Get(%q): %v", id, err)
		}
	}
	if status, body := g.get(t, "/models/mock/lorem", nil); status != 200 || !strings.Contains(body, `"id":"mock/lorem"`) {
		t.Fatalf("/models/mock/lorem: %d %s", status, body)
	}
	if status, body := g.get(t, "/v1/models/mock/echo", map[string]string{"Authorization": "Bearer wrong"}); status != 401 || !strings.Contains(body, `"invalid_api_key"`) {
		t.Fatalf("wrong key: %d %s", status, body)
	}
}
