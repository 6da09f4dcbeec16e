package routemodel

import (
	"math"
	"math/bits"
)

// The reference implementation: the feature code as it was before the
// table-driven rewrite (session 8), kept verbatim (names prefixed ref) so
// that TestFeaturesMatchReference can prove the rewrite changes no feature,
// no hash and no score.

// refFeatures is the old Scratch.Features.
func refFeatures(in *Input, bits uint) (text, shape []uint32) {
	mask := uint32(1)<<bits - 1
	return refTextFeatures(nil, in.Intent, mask), refShapeFeatures(nil, in, mask)
}

func refLowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldByte lower-cases c and maps every digit to '0': the numbers of a
// prompt say what kind of prompt it is, not which number, and each value
// hashed on its own would be a feature that no other prompt shares.
func refFoldByte(c byte) byte {
	if c >= '1' && c <= '9' {
		return '0'
	}
	return refLowerByte(c)
}

// wordByte: letters, digits and every non-ASCII byte (UTF-8 words stay
// whole).
func refWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// textFeatures hashes the excerpt's words, word pairs and character
// 4-grams.
func refTextFeatures(dst []uint32, intent []byte, mask uint32) []uint32 {
	if len(intent) <= HeadBytes+TailBytes {
		dst = refWords(dst, intent, mask)
	} else {
		dst = refWords(dst, intent[:HeadBytes], mask)
		dst = refWords(dst, intent[len(intent)-TailBytes:], mask)
	}
	c := intent
	if len(c) > CharBytes {
		c = c[:CharBytes]
	}
	var w uint32 // the last four bytes, lower-cased
	for i := 0; i < len(c); i++ {
		w = w<<8 | uint32(refFoldByte(c[i]))
		if i >= 3 {
			h := (w ^ 0x9e3779b9) * 0x85ebca6b
			h ^= h >> 15
			dst = append(dst, h&mask)
		}
	}
	return dst
}

// words hashes each word (namespace 'w') and each pair of neighbouring
// words (namespace 'b'); a punctuation byte is a word of its own, so that
// "?", "=" and "`" count.
func refWords(dst []uint32, t []byte, mask uint32) []uint32 {
	var prev uint32
	havePrev := false
	for i := 0; i < len(t); {
		c := t[i]
		if c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			i++
			continue
		}
		h := uint32(offset32)
		h = (h ^ 'w') * prime32
		if refWordByte(c) {
			for i < len(t) && refWordByte(t[i]) {
				h = (h ^ uint32(refFoldByte(t[i]))) * prime32
				i++
			}
		} else {
			h = (h ^ uint32(c)) * prime32
			i++
		}
		dst = append(dst, h&mask)
		if havePrev {
			b := (prev*31 ^ h ^ 'b') * prime32
			b ^= b >> 13
			dst = append(dst, b&mask)
		}
		prev, havePrev = h, true
	}
	return dst
}

// bin is the index of a shape feature: namespace and bucket hashed.
func refBin(name string, bucket int, mask uint32) uint32 {
	h := uint32(offset32)
	h = (h ^ 's') * prime32
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * prime32
	}
	h = (h ^ uint32(bucket) ^ 0x5bd1e995) * prime32
	return h & mask
}

// 2^17 bytes.

// LengthBucket is about 4·log2(n+1): the octave of n+1 and the two bits
// below its leading one, capped at LengthBuckets-1.
func refLengthBucket(n int) int {
	x := uint(n + 1)
	b := bits.Len(x) - 1
	var f uint
	if b >= 2 {
		f = x >> (b - 2) & 3
	} else {
		f = x << (2 - b) & 3
	}
	return min(4*b+int(f), LengthBuckets-1)
}

// LengthBin is the shape feature of the last user message's length in
// bytes, in quarter octaves; the trainer adds its length prior there.
func refLengthBin(n int, mask uint32) uint32 { return refLengthBucketBin(refLengthBucket(n), mask) }

// LengthBucketBin is the index of LengthBin's bucket b.
func refLengthBucketBin(b int, mask uint32) uint32 { return refBin("intent_len4", b, mask) }

// log2Bucket is floor(log2(n+1)) capped at max.
func refLog2Bucket(n, max int) int {
	b := 0
	for n > 0 && b < max {
		n >>= 1
		b++
	}
	return b
}

func refFlag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shapeFeatures are one-hot bins of the request's shape.
func refShapeFeatures(dst []uint32, in *Input, mask uint32) []uint32 {
	// Markers are counted over the excerpt too: a whole 256 KiB paste
	// would cost more than every other feature together.
	var code, maths, digits, questions, fences int
	n := len(in.Intent)
	if n <= HeadBytes+TailBytes {
		code, maths, digits, questions, fences = refMarkers(in.Intent)
	} else {
		c1, m1, d1, q1, f1 := refMarkers(in.Intent[:HeadBytes])
		c2, m2, d2, q2, f2 := refMarkers(in.Intent[n-TailBytes:])
		code, maths, digits, questions, fences = c1+c2, m1+m2, d1+d2, q1+q2, f1+f2
		n = HeadBytes + TailBytes
	}
	dst = append(dst,
		refBin("bias", 0, mask),
		refBin("intent_len", refLog2Bucket(n, 18), mask),
		refLengthBin(len(in.Intent), mask),
		refBin("total_len", refLog2Bucket(in.TotalChars, 20), mask),
		refBin("messages", min(in.Messages, 12), mask),
		refBin("user_turns", min(in.UserTurns, 8), mask),
		refBin("system_len", refLog2Bucket(len(in.System), 16), mask),
		refBin("ide", refFlag(in.IDE), mask),
		refBin("tools", min(in.Tools, 9), mask),
		refBin("tool_loop", refFlag(in.ToolLoop), mask),
		refBin("images", refFlag(in.Images), mask),
		refBin("json", refFlag(in.JSON), mask),
		refBin("fences", min(fences, 4), mask),
		refBin("questions", min(questions, 4), mask),
	)
	// Densities in sixteenths of the message length.
	if n > 0 {
		dst = append(dst,
			refBin("code_density", min(code*64/n, 16), mask),
			refBin("maths_density", min(maths*64/n, 16), mask),
			refBin("digit_density", min(digits*32/n, 16), mask),
		)
	}
	return dst
}

// markers counts code characters ({}();=<>[] and the backslash-free ones
// of code), maths markers (+*/^=<> between digits, LaTeX backslashes and
// dollars), digits, question marks and ``` fences: one pass, no
// allocation.
func refMarkers(t []byte) (code, maths, digits, questions, fences int) {
	run := 0 // consecutive backticks
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c == '`' {
			run++
			if run == 3 {
				fences++
				run = 0
			}
			continue
		}
		run = 0
		switch c {
		case '{', '}', '(', ')', ';', '[', ']', '_':
			code++
		case '\\', '$', '^':
			maths++
		case '+', '*', '/', '=', '<', '>':
			if i > 0 && i+1 < len(t) && (refIsDigit(t[i-1]) || refIsDigit(t[i+1]) || t[i-1] == ' ' && t[i+1] == ' ') {
				maths++
			} else {
				code++
			}
		case '?':
			questions++
		default:
			if refIsDigit(c) {
				digits++
			}
		}
	}
	return
}

func refIsDigit(c byte) bool { return c >= '0' && c <= '9' }

// Score returns the logit of P(strong needed) for the given features.
func refScore(m *Model, text, shape []uint32) float64 {
	w := m.W
	s := float64(m.Bias)
	var t float32
	for _, i := range text {
		t += w[i]
	}
	if len(text) > 0 {
		s += float64(t) / math.Sqrt(float64(len(text)))
	}
	for _, i := range shape {
		s += float64(w[i])
	}
	return s
}
