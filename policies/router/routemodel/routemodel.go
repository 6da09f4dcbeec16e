// Package routemodel is the learned half of the built-in router: the
// features it reads from a request and the logistic model that turns them
// into the probability that the strong tier's answer is needed (that it
// would be judged better than the weak tier's).
//
// The same code runs in the router's Wasm guest (scoring) and in
// `gateway router train` (training), so a model trained on the host scores
// identically in the guest. The package imports nothing that would pull
// reflection into the Wasm module.
//
// # Features
//
// All features are hashed into one weight vector of 2^Bits float32 slots:
//
//   - text: lower-cased word unigrams and bigrams, and character 4-grams of
//     the first CharBytes bytes, read from the last user message (its first
//     HeadBytes and last TailBytes bytes: a bounded excerpt, so that a
//     256 KiB request costs what a 4 KiB one does); their weights are summed
//     and divided by the square root of their count;
//   - shape (one-hot bins, weight 1 each): length of the last user message
//     (in octaves of the excerpt, and in quarter octaves of the whole
//     message: LengthBin) and of the whole conversation, number of messages and of user turns,
//     system prompt length, an IDE system prompt, tool count, an active tool
//     loop, images, JSON output, and over the same excerpt: code fences,
//     code-character density, maths markers (digits, operators, LaTeX),
//     question marks.
//
// # Notes
//
// A Model is immutable after Decode; Score is safe for concurrent use with
// a Scratch per goroutine.
package routemodel

import (
	"math"
	"math/bits"
)

// Limits of the text excerpt the features read.
const (
	HeadBytes = 2048
	TailBytes = 512
	CharBytes = 256
)

// Input is what the features are computed from; the guest fills it from
// the ABI, the trainer from a labelled JSONL line.
type Input struct {
	// Intent is the last user message (the last message when none is a
	// user's).
	Intent []byte
	// System is the first system (or developer) message.
	System []byte
	// TotalChars counts the characters of every message.
	TotalChars int
	// Messages counts every message; UserTurns the user messages.
	Messages, UserTurns int
	// Tools is the number of tool definitions.
	Tools int
	// ToolLoop: the last message is a tool result.
	ToolLoop bool
	// Images, JSON: the request carries images, asks for JSON output.
	Images, JSON bool
	// IDE: the system prompt looks like a coding agent's (the stripper's
	// and router's IDE signals).
	IDE bool
}

// Scratch holds the reusable buffers of one scorer.
type Scratch struct {
	text  []uint32
	shape []uint32
}

// Features appends the hashed text features and the shape features of in
// to the scratch buffers and returns them. bits is the model's hash width.
func (s *Scratch) Features(in *Input, bits uint) (text, shape []uint32) {
	mask := uint32(1)<<bits - 1
	s.text = textFeatures(s.text[:0], in.Intent, mask)
	s.shape = shapeFeatures(s.shape[:0], in, mask)
	return s.text, s.shape
}

// FNV-1a, 32 bits.
const (
	offset32 = 2166136261
	prime32  = 16777619
)

func lowerByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldByte lower-cases c and maps every digit to '0': the numbers of a
// prompt say what kind of prompt it is, not which number, and each value
// hashed on its own would be a feature that no other prompt shares.
func foldByte(c byte) byte {
	if c >= '1' && c <= '9' {
		return '0'
	}
	return lowerByte(c)
}

// wordByte: letters, digits and every non-ASCII byte (UTF-8 words stay
// whole).
func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// textFeatures hashes the excerpt's words, word pairs and character
// 4-grams.
func textFeatures(dst []uint32, intent []byte, mask uint32) []uint32 {
	if len(intent) <= HeadBytes+TailBytes {
		dst = words(dst, intent, mask)
	} else {
		dst = words(dst, intent[:HeadBytes], mask)
		dst = words(dst, intent[len(intent)-TailBytes:], mask)
	}
	c := intent
	if len(c) > CharBytes {
		c = c[:CharBytes]
	}
	var w uint32 // the last four bytes, lower-cased
	for i := 0; i < len(c); i++ {
		w = w<<8 | uint32(foldByte(c[i]))
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
func words(dst []uint32, t []byte, mask uint32) []uint32 {
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
		if wordByte(c) {
			for i < len(t) && wordByte(t[i]) {
				h = (h ^ uint32(foldByte(t[i]))) * prime32
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
func bin(name string, bucket int, mask uint32) uint32 {
	h := uint32(offset32)
	h = (h ^ 's') * prime32
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * prime32
	}
	h = (h ^ uint32(bucket) ^ 0x5bd1e995) * prime32
	return h & mask
}

// LengthBuckets is the number of LengthBin buckets: quarter octaves up to
// 2^17 bytes.
const LengthBuckets = 4*17 + 1

// LengthBucket is about 4·log2(n+1): the octave of n+1 and the two bits
// below its leading one, capped at LengthBuckets-1.
func LengthBucket(n int) int {
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
func LengthBin(n int, mask uint32) uint32 { return LengthBucketBin(LengthBucket(n), mask) }

// LengthBucketBin is the index of LengthBin's bucket b.
func LengthBucketBin(b int, mask uint32) uint32 { return bin("intent_len4", b, mask) }

// log2Bucket is floor(log2(n+1)) capped at max.
func log2Bucket(n, max int) int {
	b := 0
	for n > 0 && b < max {
		n >>= 1
		b++
	}
	return b
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shapeFeatures are one-hot bins of the request's shape.
func shapeFeatures(dst []uint32, in *Input, mask uint32) []uint32 {
	// Markers are counted over the excerpt too: a whole 256 KiB paste
	// would cost more than every other feature together.
	var code, maths, digits, questions, fences int
	n := len(in.Intent)
	if n <= HeadBytes+TailBytes {
		code, maths, digits, questions, fences = markers(in.Intent)
	} else {
		c1, m1, d1, q1, f1 := markers(in.Intent[:HeadBytes])
		c2, m2, d2, q2, f2 := markers(in.Intent[n-TailBytes:])
		code, maths, digits, questions, fences = c1+c2, m1+m2, d1+d2, q1+q2, f1+f2
		n = HeadBytes + TailBytes
	}
	dst = append(dst,
		bin("bias", 0, mask),
		bin("intent_len", log2Bucket(n, 18), mask),
		LengthBin(len(in.Intent), mask),
		bin("total_len", log2Bucket(in.TotalChars, 20), mask),
		bin("messages", min(in.Messages, 12), mask),
		bin("user_turns", min(in.UserTurns, 8), mask),
		bin("system_len", log2Bucket(len(in.System), 16), mask),
		bin("ide", flag(in.IDE), mask),
		bin("tools", min(in.Tools, 9), mask),
		bin("tool_loop", flag(in.ToolLoop), mask),
		bin("images", flag(in.Images), mask),
		bin("json", flag(in.JSON), mask),
		bin("fences", min(fences, 4), mask),
		bin("questions", min(questions, 4), mask),
	)
	// Densities in sixteenths of the message length.
	if n > 0 {
		dst = append(dst,
			bin("code_density", min(code*64/n, 16), mask),
			bin("maths_density", min(maths*64/n, 16), mask),
			bin("digit_density", min(digits*32/n, 16), mask),
		)
	}
	return dst
}

// markers counts code characters ({}();=<>[] and the backslash-free ones
// of code), maths markers (+*/^=<> between digits, LaTeX backslashes and
// dollars), digits, question marks and ``` fences: one pass, no
// allocation.
func markers(t []byte) (code, maths, digits, questions, fences int) {
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
			if i > 0 && i+1 < len(t) && (isDigit(t[i-1]) || isDigit(t[i+1]) || t[i-1] == ' ' && t[i+1] == ' ') {
				maths++
			} else {
				code++
			}
		case '?':
			questions++
		default:
			if isDigit(c) {
				digits++
			}
		}
	}
	return
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Score returns the logit of P(strong needed) for the given features.
func (m *Model) Score(text, shape []uint32) float64 {
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

// Prob is the logistic function.
func Prob(logit float64) float64 { return 1 / (1 + math.Exp(-logit)) }

// Predict computes in's features in s and returns P(strong needed).
func (m *Model) Predict(in *Input, s *Scratch) float64 {
	text, shape := s.Features(in, uint(m.Bits))
	return Prob(m.Score(text, shape))
}
