package session

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
)

func decode(t *testing.T, body string) *providers.Request {
	t.Helper()
	r := providers.AcquireRequest()
	t.Cleanup(func() { providers.ReleaseRequest(r) })
	if err := r.Decode([]byte(body)); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return r
}

func joined(msgs [][]byte) string { return string(Encode(nil, msgs)) }

func TestMerge(t *testing.T) {
	t.Parallel()
	stored := `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}`
	tests := []struct {
		name, stored, req string
		want              string
		resent            bool
	}{
		{name: "no history", req: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			want: `{"messages":[{"role":"user","content":"hi"}]}`, resent: true},
		{name: "new turn only", stored: stored, req: `{"messages":[{"role":"user","content":"and?"}],"model":"m"}`,
			want: `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"and?"}]}`},
		{name: "new turn repeating the first words", stored: stored, req: `{"messages":[{"role":"user","content":"hi"}],"model":"m"}`,
			want: `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"hi"}]}`},
		{name: "the request's system prompt wins", stored: stored, req: `{"model":"m","messages":[{"role":"system","content":"be long"},{"role":"user","content":"and?"}]}`,
			want: `{"messages":[{"role":"system","content":"be long"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"and?"}]}`},
		{name: "full history resent, re-serialised", stored: stored,
			req:  `{"model":"m","messages":[ {"content":"be brief","role":"system"}, {"content":[{"type":"text","text":"h\u0069"}],"role":"user"},{"role":"assistant","content":"hello","x":1},{"role":"user","content":"and?"}]}`,
			want: `{"messages":[ {"content":"be brief","role":"system"},{"content":[{"type":"text","text":"h\u0069"}],"role":"user"},{"role":"assistant","content":"hello","x":1},{"role":"user","content":"and?"}]}`, resent: true},
		{name: "truncated history that keeps the last answer", stored: stored,
			req:  `{"model":"m","messages":[{"role":"assistant","content":"hello"},{"role":"user","content":"and?"}]}`,
			want: `{"messages":[{"role":"assistant","content":"hello"},{"role":"user","content":"and?"}]}`, resent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var st *providers.Request
			if tt.stored != "" {
				st = decode(t, tt.stored)
			}
			msgs, resent := Merge(st, decode(t, tt.req))
			got := joined(msgs)
			if resent != tt.resent || strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(tt.want, " ", "") {
				t.Fatalf("resent %v, %s\nwant %v, %s", resent, got, tt.resent, tt.want)
			}
		})
	}
}

func TestTrimNeverOpensWithAnOrphan(t *testing.T) {
	t.Parallel()
	r := decode(t, `{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u1"},
{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},
{"role":"tool","tool_call_id":"a","content":"out"},{"role":"assistant","content":"done"},{"role":"user","content":"u2"},{"role":"assistant","content":"ok"}]}`)
	for _, tt := range []struct {
		max  int
		want string
	}{
		{max: 100, want: "system user assistant tool assistant user assistant"},
		{max: 6, want: "system user assistant"}, // dropping u1 alone would open with a tool call
		{max: 2, want: "system"},
	} {
		msgs := Trim(r, Raw(r), tt.max, 1<<20)
		out := decode(t, string(Encode(nil, msgs)))
		var roles []string
		for _, m := range out.Messages {
			roles = append(roles, m.Role)
		}
		if got := strings.Join(roles, " "); got != tt.want {
			t.Fatalf("max %d: %s, want %s", tt.max, got, tt.want)
		}
	}
}

func TestAnswerMessage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, body, want string }{
		{name: "text", body: `{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"hi \u00e9","refusal":null,"annotations":[]},"finish_reason":"stop"}]}`,
			want: `{"role":"assistant","content":"hi \u00e9"}`},
		{name: "tool call", body: `{"choices":[{"message":{"content":null,"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`,
			want: `{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}`},
		{name: "no choices", body: `{"error":{"message":"x"}}`, want: ""},
	} {
		got, ok := AnswerMessage(nil, []byte(tt.body))
		if string(got) != tt.want || ok != (tt.want != "") {
			t.Fatalf("%s: %s %v", tt.name, got, ok)
		}
	}
}

func TestMemoryTTLAndBound(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	m := NewMemory(10)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	_ = m.Set(ctx, "a", []byte("aaaa"), time.Minute)
	_ = m.Set(ctx, "b", []byte("bbbb"), 2*time.Minute)
	if v, _ := m.Get(ctx, "a"); string(v) != "aaaa" {
		t.Fatalf("a: %q", v)
	}
	_ = m.Set(ctx, "c", []byte("cccc"), 3*time.Minute) // over 10 bytes: a (closest to expiry) goes
	if v, _ := m.Get(ctx, "a"); v != nil {
		t.Fatal("a should have been evicted")
	}
	now = now.Add(2 * time.Minute)
	if v, _ := m.Get(ctx, "b"); v != nil {
		t.Fatal("b expired")
	}
	if v, _ := m.Get(ctx, "c"); string(v) != "cccc" {
		t.Fatalf("c: %q", v)
	}
	if err := m.Set(ctx, "d", make([]byte, 11), time.Minute); err != ErrTooLarge {
		t.Fatalf("too large: %v", err)
	}
}

func TestKeyIsScoped(t *testing.T) {
	t.Parallel()
	a := Key("p", "k1", "s")
	for _, k := range []string{Key("p", "k2", "s"), Key("q", "k1", "s"), Key("p", "k1", "t"), Key("pk", "1", "s")} {
		if k == a {
			t.Fatal("keys collide")
		}
	}
}
