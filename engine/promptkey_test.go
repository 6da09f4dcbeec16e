package engine

import (
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// TestPromptCacheKey checks that a conversation keeps its prompt_cache_key
// from turn to turn and that different conversations, projects and
// sessions get different ones.
func TestPromptCacheKey(t *testing.T) {
	t.Parallel()
	msgs := func(first string, more ...string) []providers.Message {
		out := []providers.Message{{Role: "system", Content: "You are an agent."}, {Role: "user", Content: first}}
		for _, m := range more {
			out = append(out, providers.Message{Role: "assistant", Content: "ok"}, providers.Message{Role: "user", Content: m})
		}
		return out
	}
	key := func(project, session string, m []providers.Message) string {
		var h fasthttp.RequestHeader
		if session != "" {
			h.Set("X-Session-Id", session)
		}
		x := &exchange{project: project, req: &providers.Request{Messages: m}}
		return string([]byte(x.promptCacheKey(&h)))
	}
	turn1 := key("p", "", msgs("fix the bug in cart.go"))
	tests := []struct {
		name string
		got  string
		same bool
	}{
		{"next turn of the same conversation", key("p", "", msgs("fix the bug in cart.go", "and add a test")), true},
		{"another conversation", key("p", "", msgs("rename the handler")), false},
		{"another project", key("q", "", msgs("fix the bug in cart.go")), false},
		{"a session id wins", key("p", "s1", msgs("fix the bug in cart.go")), false},
		{"same session, other opening", key("p", "s1", msgs("something else")), false},
	}
	if a, b := key("p", "s1", msgs("something else")), key("p", "s1", msgs("fix the bug in cart.go")); a != b {
		t.Fatalf("a session's key follows its opening: %s, %s", a, b)
	}
	if len(turn1) != 19 || turn1[:3] != "gw-" {
		t.Fatalf("key %q, want gw- and 16 hex digits", turn1)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if (tt.got == turn1) != tt.same {
				t.Fatalf("key %s vs turn 1's %s: same = %v, want %v", tt.got, turn1, tt.got == turn1, tt.same)
			}
		})
	}
}
