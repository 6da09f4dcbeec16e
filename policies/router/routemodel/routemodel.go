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
// A Model is immutable after Decode; Logit and Predict are safe for
// concurrent use (they need no buffers), Features with a Scratch per
// goroutine. Logit is the guest's path: the features are never listed, each
// weight is summed as its feature is hashed (predict.go).
package routemodel

import (
	"math"
	"math/bits"
)

// Limits of the text excerpt the features read.
const (
	HeadBytes = 1024
	TailBytes = 256
	CharBytes = 256
)

// Input is what the features are computed from; the guest fills it from
// the ABI, the trainer from a labelled JSONL line.
type Input struct {
	// Intent is the last user message (the last message when none is a
	// user's).
	Intent []byte
	// System is the first system (or developer) message. Only its length
	// is a feature: a caller that knows the length can leave System nil
	// and set SystemLen instead.
	System    []byte
	SystemLen int
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

// wordSeed is the FNV-1a state after the word namespace byte 'w'.
const wordSeed = uint32((offset32 ^ 'w') * prime32 & 0xffffffff)

// Byte classes of the word features: separators (space, newline, tab,
// carriage return), word bytes (letters, digits and every non-ASCII byte,
// so that UTF-8 words stay whole) and punctuation (every other byte, a word
// of its own, so that "?", "=" and "`" count).
const (
	classSpace = iota
	classWord
	classPunct
)

// byteClass is each byte's class; foldTab lower-cases ASCII letters and maps
// every digit to '0' (the numbers of a prompt say what kind of prompt it
// is, not which number, and each value hashed on its own would be a feature
// that no other prompt shares). Tables, not comparisons: the guest runs
// this loop over every byte of the excerpt, and in Wasm a lookup costs less
// than the chain of compares it replaces.
var byteClass, foldTab = func() (class, fold [256]byte) {
	for i := range 256 {
		c := byte(i)
		fold[i] = c
		switch {
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
			class[i] = classSpace
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80:
			class[i] = classWord
		case c >= 'A' && c <= 'Z':
			class[i] = classWord
			fold[i] = c + 'a' - 'A'
		default:
			class[i] = classPunct
		}
		if c >= '1' && c <= '9' {
			fold[i] = '0'
		}
	}
	return
}()

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
	var w uint32 // the last four bytes, folded
	for i, b := range c {
		w = w<<8 | uint32(foldTab[b])
		if i >= 3 {
			dst = append(dst, charHash(w)&mask)
		}
	}
	return dst
}

// charHash is the hash of a character 4-gram (its four folded bytes).
func charHash(w uint32) uint32 {
	h := (w ^ 0x9e3779b9) * 0x85ebca6b
	return h ^ h>>15
}

// pairHash is the hash of the word pair (prev, h).
func pairHash(prev, h uint32) uint32 {
	b := (prev*31 ^ h ^ 'b') * prime32
	return b ^ b>>13
}

// nextWord hashes the word that starts at or after t[i] (namespace 'w'):
// it skips separators and returns the word's hash and the index after it,
// or ok false at the end of t.
func nextWord(t []byte, i int) (h uint32, next int, ok bool) {
	for i < len(t) && byteClass[t[i]] == classSpace {
		i++
	}
	if i >= len(t) {
		return 0, i, false
	}
	h = wordSeed
	if c := t[i]; byteClass[c] == classPunct {
		return (h ^ uint32(c)) * prime32, i + 1, true
	}
	for ; i < len(t); i++ {
		c := t[i]
		if byteClass[c] != classWord {
			break
		}
		h = (h ^ uint32(foldTab[c])) * prime32
	}
	return h, i, true
}

// words hashes each word (namespace 'w') and each pair of neighbouring
// words (namespace 'b'); a punctuation byte is a word of its own.
func words(dst []uint32, t []byte, mask uint32) []uint32 {
	h, i, ok := nextWord(t, 0)
	if !ok {
		return dst
	}
	dst = append(dst, h&mask)
	for {
		prev := h
		if h, i, ok = nextWord(t, i); !ok {
			return dst
		}
		dst = append(dst, h&mask, pairHash(prev, h)&mask)
	}
}

// binSeed is the FNV-1a state of a shape feature's namespace: 's' and its
// name.
func binSeed(name string) uint32 {
	h := uint32(offset32)
	h = (h ^ 's') * prime32
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * prime32
	}
	return h
}

// binOf is the index of bucket of the namespace whose seed is seed.
func binOf(seed uint32, bucket int, mask uint32) uint32 {
	return (seed ^ uint32(bucket) ^ 0x5bd1e995) * prime32 & mask
}

// bin is the index of a shape feature: namespace and bucket hashed.
func bin(name string, bucket int, mask uint32) uint32 { return binOf(binSeed(name), bucket, mask) }

// The seeds of the shape features' namespaces, hashed once.
var (
	seedBias         = binSeed("bias")
	seedIntentLen    = binSeed("intent_len")
	seedIntentLen4   = binSeed("intent_len4")
	seedTotalLen     = binSeed("total_len")
	seedMessages     = binSeed("messages")
	seedUserTurns    = binSeed("user_turns")
	seedSystemLen    = binSeed("system_len")
	seedIDE          = binSeed("ide")
	seedTools        = binSeed("tools")
	seedToolLoop     = binSeed("tool_loop")
	seedImages       = binSeed("images")
	seedJSON         = binSeed("json")
	seedFences       = binSeed("fences")
	seedQuestions    = binSeed("questions")
	seedCodeDensity  = binSeed("code_density")
	seedMathsDensity = binSeed("maths_density")
	seedDigitDensity = binSeed("digit_density")
)

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
func LengthBucketBin(b int, mask uint32) uint32 { return binOf(seedIntentLen4, b, mask) }

// log2Bucket is floor(log2(n+1)) capped at max.
func log2Bucket(n, max int) int {
	if n <= 0 {
		return 0
	}
	return min(bits.Len(uint(n)), max)
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// systemLen is len(System), or SystemLen when System is nil.
func (in *Input) systemLen() int {
	if in.System != nil {
		return len(in.System)
	}
	return in.SystemLen
}

// marks are the marker counts of an excerpt.
type marks struct{ code, maths, digits, questions, fences int }

// excerptMarks counts the markers over the excerpt the text features read
// (the whole message, or its head and tail) and returns them with the
// excerpt's length: a whole 256 KiB paste would cost more than every other
// feature together.
func excerptMarks(intent []byte) (m marks, n int) {
	if n = len(intent); n <= HeadBytes+TailBytes {
		markers(intent, &m)
		return m, n
	}
	markers(intent[:HeadBytes], &m)
	markers(intent[n-TailBytes:], &m)
	return m, HeadBytes + TailBytes
}

// shapeFeatures are one-hot bins of the request's shape.
func shapeFeatures(dst []uint32, in *Input, mask uint32) []uint32 {
	m, n := excerptMarks(in.Intent)
	return shapeBins(dst, in, m, n, mask)
}

// shapeBins appends the shape bins given the excerpt's markers m and
// length n.
func shapeBins(dst []uint32, in *Input, m marks, n int, mask uint32) []uint32 {
	dst = append(dst,
		binOf(seedBias, 0, mask),
		binOf(seedIntentLen, log2Bucket(n, 18), mask),
		LengthBin(len(in.Intent), mask),
		binOf(seedTotalLen, log2Bucket(in.TotalChars, 20), mask),
		binOf(seedMessages, min(in.Messages, 12), mask),
		binOf(seedUserTurns, min(in.UserTurns, 8), mask),
		binOf(seedSystemLen, log2Bucket(in.systemLen(), 16), mask),
		binOf(seedIDE, flag(in.IDE), mask),
		binOf(seedTools, min(in.Tools, 9), mask),
		binOf(seedToolLoop, flag(in.ToolLoop), mask),
		binOf(seedImages, flag(in.Images), mask),
		binOf(seedJSON, flag(in.JSON), mask),
		binOf(seedFences, min(m.fences, 4), mask),
		binOf(seedQuestions, min(m.questions, 4), mask),
	)
	// Densities in sixteenths of the message length.
	if n > 0 {
		dst = append(dst,
			binOf(seedCodeDensity, min(m.code*64/n, 16), mask),
			binOf(seedMathsDensity, min(m.maths*64/n, 16), mask),
			binOf(seedDigitDensity, min(m.digits*32/n, 16), mask),
		)
	}
	return dst
}

// Marker kinds of a byte, for markers.
const (
	markNone = iota
	markCode
	markMaths
	markQuestion
	markDigit
	// The two that depend on their neighbours come last (segment tests
	// k >= markOp).
	markOp // maths between digits or spaces, else code
	markTick
)

var markTab = func() (t [256]byte) {
	for _, c := range []byte("{}();[]_") {
		t[c] = markCode
	}
	for _, c := range []byte("\\$^") {
		t[c] = markMaths
	}
	for _, c := range []byte("+*/=<>") {
		t[c] = markOp
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = markDigit
	}
	t['?'] = markQuestion
	t['`'] = markTick
	return
}()

// markers adds to m the code characters ({}();=<>[] and the backslash-free
// ones of code), maths markers (+*/^=<> between digits, LaTeX backslashes
// and dollars), digits, question marks and ``` fences of t: one pass, no
// allocation.
func markers(t []byte, m *marks) {
	var code, maths, digits, questions, fences int
	run := 0 // consecutive backticks
	for i, c := range t {
		k := markTab[c]
		if k == markTick {
			run++
			if run == 3 {
				fences++
				run = 0
			}
			continue
		}
		run = 0
		switch k {
		case markNone:
		case markDigit:
			digits++
		case markCode:
			code++
		case markMaths:
			maths++
		case markQuestion:
			questions++
		case markOp:
			if i > 0 && i+1 < len(t) && (isDigit(t[i-1]) || isDigit(t[i+1]) || t[i-1] == ' ' && t[i+1] == ' ') {
				maths++
			} else {
				code++
			}
		}
	}
	m.code += code
	m.maths += maths
	m.digits += digits
	m.questions += questions
	m.fences += fences
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

// Predict returns P(strong needed) for in: Prob(Logit(in)). s is unused
// (Logit needs no buffers); it stays for callers that keep one.
func (m *Model) Predict(in *Input, s *Scratch) float64 { return Prob(m.Logit(in)) }
