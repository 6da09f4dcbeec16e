package engine

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
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

// TestPromptCacheKeyWholeSystemMessage: the key follows every byte of the
// system message (hashed eight bytes at a time, with the rest byte by
// byte), and only the opening of the first user message.
func TestPromptCacheKeyWholeSystemMessage(t *testing.T) {
	t.Parallel()
	key := func(sys, user string) string {
		var h fasthttp.RequestHeader
		x := &exchange{project: "p", req: &providers.Request{Messages: []providers.Message{{Role: "system", Content: sys}, {Role: "user", Content: user}}}}
		return string([]byte(x.promptCacheKey(&h)))
	}
	sys := strings.Repeat("You are a coding agent. ", 1300) // 31 KB
	base := key(sys, "fix it")
	seen := map[string]int{base: -1}
	for i := len(sys) - 40; i < len(sys); i++ { // every offset within a word
		b := []byte(sys)
		b[i] ^= 1
		k := key(string(b), "fix it")
		if j, ok := seen[k]; ok {
			t.Fatalf("flipping byte %d gives the key of %d: %s", i, j, k)
		}
		seen[k] = i
	}
	if key(sys+"x", "fix it") == base || key(sys[:len(sys)-1], "fix it") == base {
		t.Fatal("the key ignores the system message's length")
	}
	if key("ab", "c") == key("a", "bc") {
		t.Fatal("moving text across the system/user boundary keeps the key")
	}
	long := strings.Repeat("x", promptKeyOpening)
	if key(sys, long+"a") != key(sys, long+"b") {
		t.Fatal("the key reads the user message past its opening")
	}
}

// BenchmarkPromptCacheKey: an agent's 31 KB system prompt is hashed whole
// on every request to an OpenAI upstream.
func BenchmarkPromptCacheKey(b *testing.B) {
	var h fasthttp.RequestHeader
	x := &exchange{project: "p", req: &providers.Request{Messages: []providers.Message{
		{Role: "system", Content: strings.Repeat("You are a coding agent. ", 1300)},
		{Role: "user", Content: strings.Repeat("fix the bug in cart.go ", 100)},
	}}}
	b.ReportAllocs()
	b.SetBytes(int64(len(x.req.Messages[0].Content) + promptKeyOpening))
	cpu0 := cpuTime()
	for b.Loop() {
		_ = x.promptCacheKey(&h)
	}
	// CPU time per key: on a shared machine ns/op also measures waits.
	b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N), "cpu-us/op")
}

// TestPromptCacheKeySwitch checks [optimize] prompt_cache_key: on (the
// default) the upstream gets the conversation's key, off it gets none, and
// a client's own key passes either way.
func TestPromptCacheKeySwitch(t *testing.T) {
	t.Parallel()
	fake := &providertest.OpenAI{Reply: "ok", PromptTokens: 5}
	up, err := providertest.StartOpenAI(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	env := map[string]string{"OPENAI_API_KEY": "sk-upstream", "OPENAI_BASE_URL": up.URL + "/v1"}
	for _, tc := range []struct {
		toml, body, want string
	}{
		{"", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}]}`, `"prompt_cache_key":"gw-`},
		{"[optimize]\nprompt_cache_key = false\n", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}]}`, ""},
		{"[optimize]\nprompt_cache_key = false\n", `{"model":"gpt-4o","messages":[{"role":"user","content":"a"}],"prompt_cache_key":"mine"}`, `"prompt_cache_key":"mine"`},
	} {
		g := startGateway(t, tc.toml, env)
		if status, _, resp := g.post(t, "/v1/chat/completions", tc.body, nil); status != 200 {
			t.Fatalf("status %d: %s", status, resp)
		}
		got := string(up.Last().Body)
		if n := strings.Count(got, `"prompt_cache_key"`); (tc.want == "") != (n == 0) || n > 1 || !strings.Contains(got, tc.want) {
			t.Fatalf("config %q: upstream body %s, want %q once", tc.toml, got, tc.want)
		}
	}
}
