package semantic

import (
	"context"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// TestLookupAllocs: in steady state a lookup allocates nothing, whether it
// hits or misses without a candidate (a miss with candidates hands its
// vector to the Store that follows).
func TestLookupAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	ctx := context.Background()
	c := newTestCache(t, Config{})
	if err := c.Store(ctx, turn(t, "s", "How do I enable logging in main.go?"), "acme", "openai", "gpt-4o", answer(t, "x")); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(ctx, turn(t, "s", "What is a goroutine?"), "acme", "openai", "gpt-4o", answer(t, "x")); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		req *providers.Request
		ok  bool
	}{
		"hit":             {turn(t, "s", "please, how do I enable logging in main.go"), true},
		"hit, apostrophe": {turn(t, "s", "what's a goroutine"), true},
		"miss":            {turn(t, "s", "How do I disable logging in main.go?"), false},
		"ineligible":      {chatReq(t, []msg{{Role: "user", Content: "x"}, {Role: "tool", ToolCallID: "1", Content: "y"}}, nil), false},
	} {
		req := tc.req
		n := testing.AllocsPerRun(200, func() {
			if _, _, ok := c.Lookup(ctx, req, "acme", "openai", "gpt-4o"); ok != tc.ok {
				t.Fatalf("%s: ok=%v", name, ok)
			}
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per lookup", name, n)
		}
	}
}
