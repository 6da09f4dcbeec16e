package engine

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
)

// upstreamMessages decodes the messages the fake upstream last received.
func upstreamMessages(t *testing.T, up *providertest.Server) []string {
	t.Helper()
	r := providers.AcquireRequest()
	defer providers.ReleaseRequest(r)
	if err := r.Decode(up.Last().Body); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range r.Messages {
		out = append(out, m.Role+":"+m.Text())
	}
	return out
}

// TestSessionContext: a client that sends only its new turn with
// X-Session-Id gets its history (the model's answers included, streamed or
// not) in front of it; another key sending the same id sees nothing; a
// client that sends its whole history is not doubled; without the header
// nothing changes.
func TestSessionContext(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "answer one", PromptTokens: 10})
	t.Cleanup(func() { _ = up.Close() })
	env := map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1", "GATEWAY_API_KEY": testKey + ",other-key-456"}
	g := startGateway(t, "[sessions]\nenabled = true\n", env)
	sid := map[string]string{"X-Session-Id": "s-1"}
	// Turn 1: messages before model, an unknown member, a unicode escape.
	status, hdr, _ := g.post(t, "/v1/chat/completions", `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"caf\u00e9?"}],"model":"gpt-4o","x_extra":{"a":[1]}}`, sid)
	if status != 200 || hdr.Get("X-Gateway-Session") != "new" {
		t.Fatalf("turn 1: %d %v", status, hdr)
	}
	// Turn 2, streamed: only the new turn.
	status, hdr, _ = g.post(t, "/v1/chat/completions", `{ "model" : "gpt-4o", "stream": true, "messages" : [ {"content":"and tea?","role":"user"} ], "x_extra":1 }`, sid)
	got := strings.Join(upstreamMessages(t, up), " | ")
	if status != 200 || hdr.Get("X-Gateway-Session") != "merged" || got != "system:be brief | user:café? | assistant:answer one | user:and tea?" {
		t.Fatalf("turn 2: %d %v: %s", status, hdr, got)
	}
	if !strings.Contains(string(up.Last().Body), `"x_extra":1`) {
		t.Fatalf("turn 2 lost a member: %s", up.Last().Body)
	}
	// Turn 3: the streamed answer was stored too.
	g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"thanks"}]}`, sid)
	if got := strings.Join(upstreamMessages(t, up), " | "); got != "system:be brief | user:café? | assistant:answer one | user:and tea? | assistant:answer one | user:thanks" {
		t.Fatalf("turn 3: %s", got)
	}
	// Another key, same id: nothing.
	status, hdr, _ = g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"who am i?"}]}`,
		map[string]string{"X-Session-Id": "s-1", "Authorization": "Bearer other-key-456"})
	if got := upstreamMessages(t, up); status != 200 || hdr.Get("X-Gateway-Session") != "new" || len(got) != 1 {
		t.Fatalf("other key: %d %v %v", status, hdr, got)
	}
	// A client that resends everything is not doubled.
	full := `{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"café?"},{"role":"assistant","content":"answer one"},` +
		`{"role":"user","content":"and tea?"},{"role":"assistant","content":"answer one"},{"role":"user","content":"thanks"},{"role":"assistant","content":"answer one"},{"role":"user","content":"bye"}]}`
	status, hdr, _ = g.post(t, "/v1/chat/completions", full, sid)
	if got := upstreamMessages(t, up); status != 200 || hdr.Get("X-Gateway-Session") != "resent" || len(got) != 8 {
		t.Fatalf("resent: %d %v %v", status, hdr, got)
	}
	// No header: untouched.
	_, hdr, _ = g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"alone"}]}`, nil)
	if got := upstreamMessages(t, up); hdr.Get("X-Gateway-Session") != "" || len(got) != 1 {
		t.Fatalf("no session: %v %v", hdr, got)
	}
	// Sessions off (the default): the header is ignored.
	g2 := startGateway(t, "", env)
	_, hdr, _ = g2.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"again"}]}`, sid)
	if got := upstreamMessages(t, up); hdr.Get("X-Gateway-Session") != "" || len(got) != 1 {
		t.Fatalf("sessions off: %v %v", hdr, got)
	}
}

// TestSessionContextSharedByRedis: with Redis, a session written through
// one replica continues on another.
func TestSessionContextSharedByRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "from redis", PromptTokens: 10})
	t.Cleanup(func() { _ = up.Close() })
	env := map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1", "REDIS_URL": rs.URL()}
	g1 := startGateway(t, "[sessions]\nenabled = true\nttl = \"10m\"\n", env)
	g2 := startGateway(t, "[sessions]\nenabled = true\nttl = \"10m\"\n", env)
	sid := map[string]string{"X-Session-Id": "shared"}
	g1.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"one"}]}`, sid)
	status, hdr, _ := g2.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"two"}]}`, sid)
	if got := strings.Join(upstreamMessages(t, up), " | "); status != 200 || hdr.Get("X-Gateway-Session") != "merged" || got != "user:one | assistant:from redis | user:two" {
		t.Fatalf("%d %v %s", status, hdr, got)
	}
}

// TestSessionContextStoresCacheHits: an answer served from the response
// cache is stored in the session like an upstream one.
func TestSessionContextStoresCacheHits(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "cached reply", PromptTokens: 10})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "[sessions]\nenabled = true\n", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	first := `{"model":"gpt-4o","temperature":0,"messages":[{"role":"user","content":"same question"}]}`
	g.post(t, "/v1/chat/completions", first, map[string]string{"X-Session-Id": "a"})
	_, hdr, _ := g.post(t, "/v1/chat/completions", first, map[string]string{"X-Session-Id": "b"})
	if hdr.Get("X-Gateway-Cache") != "hit-memory" || hdr.Get("X-Gateway-Session") != "new" {
		t.Fatalf("second session's first turn: %v", hdr)
	}
	_, hdr, _ = g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"next"}]}`, map[string]string{"X-Session-Id": "b"})
	if got := strings.Join(upstreamMessages(t, up), " | "); hdr.Get("X-Gateway-Session") != "merged" || got != "user:same question | assistant:cached reply | user:next" {
		t.Fatalf("%v: %s", hdr, got)
	}
}
