package prune

import (
	"testing"

	"github.com/aigateway/gateway/providers"
)

// FuzzPlan: any request body that decodes is planned without a panic, and
// only tool results outside the protected tail are edited.
func FuzzPlan(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},{"role":"assistant","tool_calls":[{"id":"b","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"b","content":"y"}]}`), 5)
	f.Add([]byte(`{"messages":[{"role":"tool","tool_call_id":"orphan","content":[{"type":"text","text":"[unchanged: x (sha256 1…), identical to the copy in message 1]"}]}],"model":"m"}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, budget int) {
		r := providers.AcquireRequest()
		defer providers.ReleaseRequest(r)
		if r.Decode(body) != nil {
			return
		}
		cfg := Config{Mode: Budget, BudgetTokens: max(budget, 1), Target: 0.5, KeepTurns: 1}
		res := Plan(r, cfg, Model{Window: 1000}, nil)
		for _, e := range res.Edits {
			if e.Index < 0 || e.Index >= len(r.Messages) || (r.Messages[e.Index].Role != "tool" && r.Messages[e.Index].Role != "function") {
				t.Fatalf("edit of message %d", e.Index)
			}
		}
	})
}
