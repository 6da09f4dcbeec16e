package prune

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// conv builds a chat body: a system prompt, then n tool turns calling
// read_file on paths[i] with a result of size bytes each, then a user
// question.
func conv(t *testing.T, paths []string, size int, extra string) *providers.Request {
	t.Helper()
	return convSized(t, paths, func(int) int { return size }, extra)
}

// convSized is conv with result i of size(i) bytes.
func convSized(t *testing.T, paths []string, size func(int) int, extra string) *providers.Request {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"messages":[{"role":"system","content":"you are an agent"},{"role":"user","content":"fix the bug"}`)
	for i, p := range paths {
		id := "call_" + strconv.Itoa(i)
		b.WriteString(`,{"role":"assistant","content":null,"tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"` + p + `\"}"}}]}`)
		b.WriteString(`,{"role":"tool","tool_call_id":"` + id + `","content":"` + strings.Repeat(string(rune('a'+i%26)), size(i)) + `"}`)
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
		{name: "a repeated call is just older output", paths: []string{"a", "b", "c", "a", "e"}, size: 2000, want: []int{3, 5, 7}, reason: "budget"},
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

// TestPlanMovesInSteps: over a conversation that grows one tool turn at a
// time, a message once pruned stays pruned to the same bytes, and the
// pruned set changes only now and then (at step boundaries), not on every
// turn: the provider's cached prefix before the first newly pruned message
// stays the same between steps. With the cost check on, once a turn is
// pruned every later turn is too.
func TestPlanMovesInSteps(t *testing.T) {
	t.Parallel()
	for _, costAware := range []bool{false, true} {
		cfg := Config{Mode: Budget, BudgetTokens: 6000, Target: 0.6, KeepTurns: 1, MinTokens: 50, CostAware: costAware, Horizon: 8}
		prices := Prices{Input: 2.5, Cached: 1.25} // OpenAI's gpt-4o: no write premium
		prev := map[int]string{}
		changes, prunedTurns, pruning := 0, 0, false
		all := []string{}
		for n := 1; n <= 40; n++ {
			all = append(all, string(rune('a'+n%26)))
			res := Plan(convSized(t, all, func(i int) int { return 500 + (i*37)%700 }, ""), cfg, Model{Prices: prices}, nil)
			got := map[int]string{}
			for _, e := range res.Edits {
				got[e.Index] = e.Text
			}
			if pruning && len(got) == 0 {
				t.Fatalf("cost-aware %v, turn %d: pruned before, not now (%s)", costAware, n, res.Reason)
			}
			for i, s := range prev {
				if got[i] != s {
					t.Fatalf("cost-aware %v, turn %d: message %d was pruned to %q, now %q", costAware, n, i, s, got[i])
				}
			}
			if len(got) != len(prev) {
				changes++
			}
			if len(got) > 0 {
				pruning = true
				prunedTurns++
			}
			prev = got
		}
		if prunedTurns < 10 || changes*3 > prunedTurns {
			t.Fatalf("cost-aware %v: %d turns pruned, the pruned set changed %d times", costAware, prunedTurns, changes)
		}
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
