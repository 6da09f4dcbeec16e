package main

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
)

// refIDEWord is ideSystem as it was: the whole prose scanned at once.
func refIDEWord(text []byte) bool {
	var s abi.Set
	prose(text, func(p []byte) { ideMatcher.Scan(p, &s) })
	return s != abi.Set{}
}

// TestIDESystemStopsEarly: scanning in overlapping pieces and stopping at
// the first match answers as the whole scan does, with the IDE words at
// every offset across several piece boundaries, in any case, inside and
// outside code fences, and cut by a fence.
func TestIDESystemStopsEarly(t *testing.T) {
	filler := strings.Repeat("When making code changes, use the edit tools; keep answers short. ", 80)
	words := append([]string{"CURSOR", "Coding Agent", "ide assistant"}, ideWords...)
	var texts []string
	for pos := 0; pos <= 3*idePiece+20; pos++ {
		w := words[pos%len(words)]
		texts = append(texts, filler[:pos]+w+filler[pos:])
	}
	for pos := 0; pos <= 2*idePiece; pos += 7 {
		w := words[pos%len(words)]
		texts = append(texts,
			filler[:pos]+"```go\n"+w+"\n```"+filler[pos:], // in code: not prose
			filler[:pos]+"```go\nx\n```"+w+filler[pos:],   // after a fence
			filler[:pos]+w[:len(w)/2]+"```"+w[len(w)/2:],  // cut by a fence
			"```"+filler[:pos]+w,                          // unclosed fence
			filler[:pos]+strings.ToUpper(w[:len(w)-1]),    // a prefix only
		)
	}
	for pos := idePiece - 40; pos <= idePiece+40; pos++ { // fences across a piece's end
		texts = append(texts,
			filler[:pos]+"```"+filler[:30]+"```cursor",
			filler[:pos]+"````cursor````",
			filler[:pos]+"``"+"cursor",
			"```"+filler[:pos]+"```"+filler[:pos%50]+"Code Editor",
			filler[:pos]+"```go\n"+filler+"\n```\ncontinue",
		)
	}
	texts = append(texts, "", "```", filler, "cursor", "continu", strings.Repeat("x", 5000)+"code editor")
	found := 0
	for _, text := range texts {
		want := refIDEWord([]byte(text))
		if got := hasIDEWord([]byte(text)); got != want {
			t.Fatalf("%d bytes, %.60q…: hasIDEWord %v, whole scan %v", len(text), text, got, want)
		}
		if want {
			found++
		}
	}
	if found == 0 || found == len(texts) {
		t.Fatalf("%d of %d texts name an IDE: the corpus does not test both answers", found, len(texts))
	}
}
