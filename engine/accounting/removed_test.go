package accounting

import (
	"strings"
	"testing"
)

// TestChangedLines: the token count reads only the lines an edit touched,
// and the difference of the counts is the difference of the whole texts'.
func TestChangedLines(t *testing.T) {
	file := strings.Repeat("func add(a, b int) int { return a + b } // keep it simple\n", 400)
	tests := []struct {
		name, before, after   string
		wantBefore, wantAfter string
	}{
		{"same", "abc\ndef", "abc\ndef", "", ""},
		{"marker at the start", "<|im_start|>user\nHow?\n" + file, "How?\n" + file, "<|im_start|>user\nHow?\n", "How?\n"},
		{"marker at the end", file + "Why?<|im_end|>", file + "Why?", "Why?<|im_end|>", "Why?"},
		{"file replaced", "Again:\n" + file + "Sure?", "Again:\n[unchanged: add.go]\nSure?", file, "[unchanged: add.go]\n"},
		{"no line break", "xabcx", "xx", "xabcx", "xx"},
		{"shorter is a prefix", "ab\nab\n", "ab\n", "ab\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, a := changedLines([]byte(tt.before), []byte(tt.after))
			if string(b) != tt.wantBefore || string(a) != tt.wantAfter {
				t.Fatalf("changedLines = %q, %q; want %q, %q", b, a, tt.wantBefore, tt.wantAfter)
			}
			whole := CountTokens(tt.before) - CountTokens(tt.after)
			if part := CountTokens(string(b)) - CountTokens(string(a)); part < whole-2 || part > whole+2 {
				t.Fatalf("removed tokens %d counted on the changed lines, %d on the whole texts", part, whole)
			}
		})
	}
}
