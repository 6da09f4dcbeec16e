package abi

import (
	"strings"
	"testing"
)

func TestParseTrigger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, spec string
		rules      int
		bad        string // part of the refusal; "" to accept
	}{
		{"no rules", `{"any":[]}`, 0, ""},
		{"every key", `{"any":[{"header":"x-a","skill":true,"flags":3,"roles":["user"],"contains":["<|"],"min_count":2,"prefix":["@"],"min_bytes":10}]}`, 1, ""},
		{"two rules", `{"any":[{"header":"x-a"},{"prefix":["@"]}]}`, 2, ""},
		{"not JSON", `{"any":`, 0, "not JSON"},
		{"no any", `{}`, 0, "missing"},
		{"unknown key", `{"all":[]}`, 0, "unknown key"},
		{"unknown rule key", `{"any":[{"suffix":["x"]}]}`, 0, "unknown rule key"},
		{"empty rule", `{"any":[{}]}`, 0, "every request"},
		{"empty string", `{"any":[{"contains":[""]}]}`, 0, "1 to 256"},
		{"empty list", `{"any":[{"roles":[]}]}`, 0, "non-empty"},
		{"min_count alone", `{"any":[{"min_count":2}]}`, 0, "needs contains"},
		{"negative bytes", `{"any":[{"min_bytes":-1}]}`, 0, "min_bytes"},
		{"skill false", `{"any":[{"skill":false}]}`, 0, "skill"},
		{"too long", `{"any":[{"contains":["` + strings.Repeat("a", MaxTriggerLen) + `"]}]}`, 0, "64 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, msg := ParseTrigger([]byte(tc.spec))
			if tc.bad != "" {
				if !strings.Contains(msg, tc.bad) {
					t.Fatalf("refusal %q, want one with %q", msg, tc.bad)
				}
				return
			}
			if msg != "" || len(tr.Rules) != tc.rules {
				t.Fatalf("refused %q, %d rules, want %d", msg, len(tr.Rules), tc.rules)
			}
		})
	}
	tr, _ := ParseTrigger([]byte(`{"any":[{"contains":["x"]}]}`))
	if tr.Rules[0].MinCount != 1 {
		t.Fatalf("min_count defaults to %d, want 1", tr.Rules[0].MinCount)
	}
}
