package abi

import (
	"strings"
	"testing"
)

func TestMatcher(t *testing.T) {
	t.Parallel()
	pats := []string{"explain", "what is", "architect", "architecture", ".py", "every file", "é"}
	m := NewMatcher(pats...)
	tests := []struct {
		name string
		text string
	}{
		{"none", "nothing to see here"},
		{"case", "Please EXPLAIN What Is this"},
		{"overlap", "ARCHITECTURE review"},
		{"ext at end", "edit main.py"},
		{"utf8", "café in every file"},
		{"prefix only", "explai"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var set Set
			m.Scan([]byte(tt.text), &set)
			for id, p := range pats {
				want := strings.Contains(strings.ToLower(tt.text), p)
				if set.Has(id) != want {
					t.Fatalf("pattern %q: got %v, want %v", p, set.Has(id), want)
				}
			}
		})
	}
}

func FuzzMatcher(f *testing.F) {
	pats := []string{"a", "ab", "abc", "bc", "fix the typo", "in all files", ".go"}
	m := NewMatcher(pats...)
	f.Add([]byte("Fix The Typo in all files: x.GO abc"))
	f.Fuzz(func(t *testing.T, text []byte) {
		var set Set
		m.Scan(text, &set)
		lower := make([]byte, len(text))
		for i, c := range text {
			lower[i] = Lower(c)
		}
		for id, p := range pats {
			if want := strings.Contains(string(lower), p); set.Has(id) != want {
				t.Fatalf("pattern %q in %q: got %v", p, text, set.Has(id))
			}
			if want := strings.Index(string(lower), p); IndexFold(text, p) != want {
				t.Fatalf("IndexFold(%q, %q) = %d, want %d", text, p, IndexFold(text, p), want)
			}
		}
	})
}
