package main

import (
	"bytes"

	"github.com/aigateway/gateway/abi"
)

// ideSystem reports whether the system prompt's prose names a coding
// agent (ideWords). A coding agent's system prompt runs to tens of KiB and
// usually names itself in its first lines, so the prose is scanned in
// pieces and the scan stops at the first piece with a match: in the guest
// the automaton costs ~5 ns a byte, 85 us for a 16 KiB prompt scanned
// whole. The answer is the whole scan's (TestIDESystemStopsEarly). For
// the learned classifier it reads the excerpt only (hasIDEWordExcerpt).
func (f *features) ideSystem() bool {
	if f.excerpt {
		return hasIDEWordExcerpt(f.c.Text(f.systemIdx))
	}
	return hasIDEWord(f.c.Text(f.systemIdx))
}

// idePiece is the length of the pieces hasIDEWord reads at a time; the
// pieces of one prose part overlap by ideOverlap, the longest IDE word less
// one byte, so every occurrence lies whole in one piece.
const idePiece = 1024

var ideOverlap = func() (n int) {
	for _, w := range ideWords {
		n = max(n, len(w)-1)
	}
	return n
}()

// hasIDEWord reports whether an IDE word occurs in the prose of text (its
// parts outside ``` fences, as abi.Prose splits them). It reads text a
// piece at a time, the fence search included, and stops at the first
// piece with a match.
func hasIDEWord(text []byte) bool {
	inCode := false
	start, pos := 0, 0 // the current part's start; how far it is read
	for pos < len(text) {
		end := min(len(text), pos+idePiece)
		// A fence that starts before end lies within end+2.
		k := bytes.Index(text[pos:min(len(text), end+len(fence)-1)], fence)
		if k >= 0 {
			end = pos + k
		}
		if !inCode {
			var s abi.Set
			ideMatcher.Scan(text[max(start, pos-ideOverlap):end], &s)
			if s != (abi.Set{}) {
				return true
			}
		}
		pos = end
		if k >= 0 {
			inCode = !inCode
			pos += len(fence)
			start = pos
		}
	}
	return false
}
