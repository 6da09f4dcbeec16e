package prune

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// BenchmarkPlan: a 100-turn agent conversation (about 120k tokens) over
// its budget, and the same one under it (the common case: one length
// check).
func BenchmarkPlan(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"model":"m","messages":[{"role":"system","content":"agent"},{"role":"user","content":"go"}`)
	for i := 0; i < 100; i++ {
		id := "c" + strconv.Itoa(i)
		sb.WriteString(`,{"role":"assistant","tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"f` + strconv.Itoa(i%30) + `.go\"}"}}]}`)
		sb.WriteString(`,{"role":"tool","tool_call_id":"` + id + `","content":"` + strings.Repeat("x := compute(y)\\n", 256) + `"}`)
	}
	sb.WriteString(`]}`)
	r := providers.AcquireRequest()
	defer providers.ReleaseRequest(r)
	if err := r.Decode([]byte(sb.String())); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		budget int
	}{{"over", 40000}, {"under", 1 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{Mode: Budget, BudgetTokens: bc.budget, Target: 0.7, KeepTurns: 2, MinTokens: 256}
			b.SetBytes(int64(len(r.Body)))
			b.ReportAllocs()
			var dst []Edit
			for i := 0; i < b.N; i++ {
				dst = Plan(r, cfg, Model{}, dst).Edits
			}
		})
	}
}
