package prune

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// conv builds a chat body: a system prompt, then n tool turns calling
// read_file on paths[i] with a result of size bytes each, then a user
// question.
func conv(t *testing.T, paths []string, size int, extra string) *providers.Request {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"messages":[{"role":"system","content":"you are an agent"},{"role":"user","content":"fix the bug"}`)
	for i, p := range paths {
		id := "call_" + string(rune('a'+i))
		b.WriteString(`,{"role":"assistant","content":null,"tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"` + p + `\"}"}}]}`)
		b.WriteString(`,{"role":"tool","tool_call_id":"` + id + `","content":"` + strings.Repeat(string(rune('a'+i)), size) + `"}`)
	}
	b.WriteString(extra)
	b.WriteString(`,{"role":"user","content":"go on"}],"model":"gpt-4o"}`)
	r := providers.AcquireRequest()
	t.Cleanup(func() { providers.ReleaseRequest(r) })
	if err := r.Decode([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	return r
}

func indexes(es []Edit) []int {
	var out []int
	for _, e := range es {
		out = append(out, e.Index)
	}
	return out
}

func TestPlan(t *testing.T) {
	t.Parallel()
	base := Config{Mode: Budget, BudgetTokens: 3000, Target: 0.7, KeepTurns: 1, MinTokens: 50, Horizon: 8}
	cheap := Prices{Input: 3, Cached: 0.3, Write: 3.75}
	tests := []struct {
		name   string
		paths  []string
		size   int
		extra  string
		cfg    func(*Config)
		model  Model
		want   []int
		reason string
	}{
		{name: "under the budget", paths: []string{"a", "b"}, size: 1000, want: nil, reason: ""},
		{name: "off", paths: []string{"a", "b", "c", "d", "e"}, size: 3000, cfg: func(c *Config) { c.Mode = Off }, want: nil},
		// Messages: 0 system, 1 user, then (assistant, tool) pairs: the
		// results are 3, 5, 7, 9, 11. The last turn's (11) is protected.
		{name: "oldest first down to the target", paths: []string{"a", "b", "c", "d", "e"}, size: 3000, want: []int{3, 5, 7, 9}, reason: "budget"},
		{name: "superseded first", paths: []string{"a", "b", "c", "a", "e"}, size: 2000, want: []int{3, 5, 7}, reason: "budget"},
		{name: "keep_turns protects more", paths: []string{"a", "b", "c", "d", "e"}, size: 3000, cfg: func(c *Config) { c.KeepTurns = 3 }, want: []int{3, 5}, reason: "budget"},
		{name: "small results are kept", paths: []string{"a", "b", "c"}, size: 100, cfg: func(c *Config) { c.BudgetTokens = 100; c.MinTokens = 50 }, want: nil, reason: "short"},
		{name: "a dedup reference keeps its target", paths: []string{"a", "b", "c", "d", "e"}, size: 3000,
			extra: `,{"role":"user","content":"[unchanged: a (sha256 0000…), identical to the copy in message 4]"}`, want: []int{5, 7, 9}, reason: "budget"},
		{name: "cost-aware: a long horizon pays", paths: []string{"a", "b", "c", "d", "e"}, size: 3000, cfg: func(c *Config) { c.CostAware = true }, model: Model{Prices: cheap}, want: []int{3, 5, 7, 9}, reason: "budget"},
		{name: "cost-aware: no horizon does not pay", paths: []string{"a", "b", "c", "d", "e"}, size: 3000, cfg: func(c *Config) { c.CostAware = true; c.Horizon = 0 }, model: Model{Prices: cheap}, want: nil, reason: "cost"},
		{name: "window mode ignores the budget", paths: []string{"a", "b", "c", "d", "e"}, size: 3000, cfg: func(c *Config) { c.Mode = Window }, model: Model{Window: 1 << 20}, want: nil},
		{name: "window mode prunes past the window", paths: []string{"a", "b", "c", "d", "e"}, size: 3000, cfg: func(c *Config) { c.Mode = Window; c.CostAware = true; c.Horizon = 0 },
			model: Model{Window: 5000, MaxOutput: 1000, Prices: cheap}, want: []int{3, 5, 7}, reason: "window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := conv(t, tt.paths, tt.size, tt.extra)
			cfg := base
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			res := Plan(r, cfg, tt.model, nil)
			if got := indexes(res.Edits); !equal(got, tt.want) || res.Reason != tt.reason {
				t.Fatalf("edits %v reason %q, want %v %q (before %d after %d limit %d)", got, res.Reason, tt.want, tt.reason, res.Before, res.After, res.Limit)
			}
			for _, e := range res.Edits {
				if r.Messages[e.Index].Role != "tool" || !strings.HasPrefix(e.Text, "[output pruned by the gateway") || !strings.Contains(e.Text, "read_file") {
					t.Fatalf("edit %d: %q", e.Index, e.Text)
				}
			}
			if len(res.Edits) > 0 && (res.After >= res.Before || res.Removed != res.Before-res.After) {
				t.Fatalf("before %d after %d removed %d", res.Before, res.After, res.Removed)
			}
		})
	}
}

// TestStubIsStable: a message pruned on one turn is pruned to the same
// bytes on the next, longer turn, so the provider's cached prefix before
// the next newly pruned message stays the same.
func TestStubIsStable(t *testing.T) {
	t.Parallel()
	cfg := Config{Mode: Budget, BudgetTokens: 3000, Target: 0.7, KeepTurns: 1, MinTokens: 50}
	prev := map[int]string{}
	for n := 3; n <= 9; n++ {
		paths := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}[:n]
		res := Plan(conv(t, paths, 3000, ""), cfg, Model{}, nil)
		got := map[int]string{}
		for _, e := range res.Edits {
			got[e.Index] = e.Text
		}
		for i, s := range prev {
			if got[i] != s {
				t.Fatalf("turn %d: message %d was pruned to %q, now %q", n, i, s, got[i])
			}
		}
		prev = got
	}
}

func TestStubCutsArgumentsOnARuneBoundary(t *testing.T) {
	t.Parallel()
	r := providers.AcquireRequest()
	defer providers.ReleaseRequest(r)
	args := strings.Repeat("é", 200)
	body := `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"x","type":"function","function":{"name":"f","arguments":"` + args + `"}}]},{"role":"tool","tool_call_id":"x","content":"out"}]}`
	if err := r.Decode([]byte(body)); err != nil {
		t.Fatal(err)
	}
	s := stub(r, 1)
	if !strings.Contains(s, "…") || !isValidUTF8(s) {
		t.Fatalf("%q", s)
	}
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
