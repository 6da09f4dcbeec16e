package main

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aigateway/gateway/policies/router/routemodel"
)

const (
	headBytes = routemodel.HeadBytes
	tailBytes = routemodel.TailBytes
)

// proseMask marks the bytes of text that scan passes to its callback (as
// subslices of text).
func proseMask(text []byte, scan func([]byte, func([]byte))) []bool {
	mask := make([]bool, len(text))
	scan(text, func(p []byte) {
		if len(p) == 0 {
			return
		}
		off := cap(text) - cap(p)
		for i := range p {
			mask[off+i] = true
		}
	})
	return mask
}

func fenceAcross(text []byte, cut int) bool {
	for i := max(0, cut-len(fence)+1); i < cut && i+len(fence) <= len(text); i++ {
		if string(text[i:i+len(fence)]) == string(fence) {
			return true
		}
	}
	return false
}

// TestExcerptProse: the excerpt's prose is the whole message's prose
// restricted to the head and tail, whenever the message's fences pair up
// and none is cut by the excerpt's edges; a message that fits is read
// whole, fences and all.
func TestExcerptProse(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 9))
	pieces := []string{"prose words here. ", "```", "```go\n", "x := 1 // code\n", "\n", "architect the migration ", "`", "``"}
	checked, paired := 0, 0
	for range 3000 {
		var b strings.Builder
		size := []int{40, headBytes + tailBytes, headBytes + tailBytes + 1, 4000, 16 << 10}[rng.IntN(5)]
		for b.Len() < size {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		text := []byte(b.String())
		want := proseMask(text, func(t []byte, fn func([]byte)) { prose(t, fn) })
		got := proseMask(text, excerptProse)
		n := len(text)
		if n <= headBytes+tailBytes {
			for i := range text {
				if got[i] != want[i] {
					t.Fatalf("%d bytes (fits): byte %d prose %v, whole scan %v", n, i, got[i], want[i])
				}
			}
			checked++
			continue
		}
		for i := headBytes; i < n-tailBytes; i++ {
			if got[i] {
				t.Fatalf("%d bytes: byte %d, outside the excerpt, was read", n, i)
			}
		}
		for i := range headBytes { // counted from the start: always the whole scan's
			if !fenceAcross(text, headBytes) && got[i] != want[i] {
				t.Fatalf("%d bytes: head byte %d prose %v, whole scan %v", n, i, got[i], want[i])
			}
		}
		if strings.Count(string(text), string(fence))%2 != 0 || fenceAcross(text, n-tailBytes) {
			continue
		}
		paired++
		for i := n - tailBytes; i < n; i++ {
			if got[i] != want[i] {
				t.Fatalf("%d bytes, fences paired: tail byte %d prose %v, whole scan %v", n, i, got[i], want[i])
			}
		}
	}
	if checked == 0 || paired < 100 {
		t.Fatalf("%d short and %d long paired texts: the corpus does not test both", checked, paired)
	}
}

// TestTailProse: the tail's fences are counted from the message's end.
func TestTailProse(t *testing.T) {
	tests := []struct{ name, tail, want string }{
		{name: "no fence: prose", tail: "plan the migration", want: "plan the migration|"},
		{name: "closing fence: code, then prose", tail: "x := migrate()\n```\nplan it", want: "\nplan it|"},
		{name: "a block in prose", tail: "see ```go\nx()\n``` and plan", want: "see | and plan|"},
		{name: "open block at the end", tail: "a\n```\nb\n```\nc\n```\nd", want: "\nb\n|\nd|"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got strings.Builder
			tailProse([]byte(tt.tail), func(p []byte) { got.Write(p); got.WriteByte('|') })
			if got.String() != tt.want {
				t.Fatalf("tailProse(%q) = %q, want %q", tt.tail, got.String(), tt.want)
			}
		})
	}
}

// TestLearnedReasoningReadsExcerpt: a request the model sends to strong
// goes to reasoning on the seed's keywords when they are in the excerpt's
// prose, and not when they are in the unread middle of a long message or
// in the code at its end.
func TestLearnedReasoningReadsExcerpt(t *testing.T) {
	const kw = "Architect the security migration after the incident. "
	code := "```go\n" + strings.Repeat("x := compute(y)\n", 40) + "```\n"
	mid := long("", 8<<10)
	tests := []struct {
		name, text, want string
	}{
		{name: "short", text: kw, want: "reasoning"},
		{name: "first line of 16 KiB", text: kw + mid + mid, want: "reasoning"},
		{name: "middle of 16 KiB", text: mid + kw + mid, want: "strong"},
		{name: "after the closing fence", text: mid + mid + code + kw, want: "reasoning"},
		{name: "in the code at the end", text: mid + mid + "```go\n// " + kw + "\nx()\n```\nWhy?", want: "strong"},
	}
	w := `"weights":"` + constModel(6) + `"` // P(strong) = 0.998 for every request
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := route(t, learnedConf(w), req{msgs: []msg{{"user", tt.text}}})
			if got := out.Route.Tier.String(); got != tt.want {
				t.Fatalf("%d bytes: tier %s, want %s: %s", len(tt.text), got, tt.want, out.AppendText(nil))
			}
		})
	}
	// The rules classifier still reads every byte.
	out := run(t, conf("quality"), "auto", 0, 0, msg{"user", mid + kw + mid})
	if got := out.Route.Tier.String(); got != "reasoning" {
		t.Fatalf("rules: the middle's keywords went unread: %s", out.AppendText(nil))
	}
}

// TestIDEExcerpt: the learned classifier's IDE signal reads the system
// prompt's excerpt, the head a piece at a time as hasIDEWord.
func TestIDEExcerpt(t *testing.T) {
	pad := long("You are a careful assistant.", 3*headBytes)
	tests := []struct {
		name, text string
		want       bool
	}{
		{name: "short", text: "You run inside Cursor.", want: true},
		{name: "head", text: "You run inside Cursor. " + pad, want: true},
		{name: "middle", text: pad + " You run inside Cursor. " + pad, want: false},
		{name: "tail prose", text: pad + " You run inside Cursor.", want: true},
		{name: "tail code", text: pad + "```\ncursor := 0\n```\nDone.", want: false},
		{name: "none", text: pad, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hasIDEWordExcerpt([]byte(tt.text)); got != tt.want {
				t.Fatalf("%d bytes: %v, want %v", len(tt.text), got, tt.want)
			}
		})
	}
}
