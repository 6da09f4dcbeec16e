package main

import (
	"bytes"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/router/routemodel"
)

// The learned classifier reads a bounded excerpt of every message: the
// first routemodel.HeadBytes and the last routemodel.TailBytes bytes (the
// whole message when it is no longer). The model's features, the seed's
// keyword score that picks strong or reasoning, the source-file count and
// the IDE signal all read that excerpt, so that a 256 KiB request costs
// what a 4 KiB one does (bench/RESULTS.md, session 9). The rules classifier
// (`classifier = "rules"`) keeps the seed's whole-message reading.
//
// A keyword, file name or IDE word that lies wholly in the middle of a long
// message, or across the excerpt's cut, is not seen: the only decisions
// that change (docs/routing.md, "What the router reads").

// excerptProse calls fn with each prose part (outside ``` fences, as
// abi.Prose) of text's excerpt. The head's fences are counted from the
// start of the message, as abi.Prose does, so its prose is exactly the
// whole scan's. The tail's are counted from the end (tailProse): exact
// when the message's fences pair up, which the unread middle cannot tell.
func excerptProse(text []byte, fn func([]byte)) {
	h, t := routemodel.HeadBytes, routemodel.TailBytes
	if len(text) <= h+t {
		prose(text, fn)
		return
	}
	prose(text[:h], fn)
	tailProse(text[len(text)-t:], fn)
}

// tailProse calls fn with each prose part of the last bytes t of a message,
// taking the message's text after its last fence to be prose (its fences
// pair up: a message rarely ends inside an open code block). So t begins
// inside code when it holds an odd number of fences.
func tailProse(t []byte, fn func([]byte)) {
	inCode := bytes.Count(t, fence)%2 == 1
	for {
		k := bytes.Index(t, fence)
		if k < 0 {
			if !inCode {
				fn(t)
			}
			return
		}
		if !inCode {
			fn(t[:k])
		}
		inCode = !inCode
		t = t[k+len(fence):]
	}
}

// hasIDEWordExcerpt is hasIDEWord over text's excerpt: the head as
// hasIDEWord reads it (a piece at a time, stopping at a match: a coding
// agent names itself in its first lines), then the tail's prose.
func hasIDEWordExcerpt(text []byte) bool {
	h, t := routemodel.HeadBytes, routemodel.TailBytes
	if len(text) <= h+t {
		return hasIDEWord(text)
	}
	if hasIDEWord(text[:h]) {
		return true
	}
	var s abi.Set
	tailProse(text[len(text)-t:], func(p []byte) { ideMatcher.Scan(p, &s) })
	return s != (abi.Set{})
}
