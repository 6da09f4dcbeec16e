package semantic

import (
	"context"
	"math"
	"strconv"
)

// Embedder turns texts into vectors whose cosine similarity says how alike
// the texts are.
//
// # Notes
//
// Implementations are safe for concurrent use. The i-th vector belongs to
// the i-th text; the Cache L2-normalises vectors itself, so an Embedder need
// not. An Embedder that also has an `ID() string` method names the vector
// space: the ID is part of every scope, so that vectors of two embedders
// (or two models) are never compared.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

type identified interface{ ID() string }

// Local embedding dimensions.
const (
	DefaultDims = 1024
	minDims     = 64
	maxDims     = 8192
)

// Local is the built-in embedder: lexical feature hashing, no network, no
// model. It is not a neural embedding and knows no synonyms: it sees which
// words and character trigrams two turns share, after the normalisation the
// guards also use (case, punctuation, whitespace, contractions, greetings
// and politeness, number words). Two turns that say the same thing in the
// same words score near 1; a real paraphrase ("explain goroutines" / "what
// is a goroutine") scores far lower and misses.
//
// Features, hashed with signs into Dims dimensions (term frequency times
// the weight, then L2-normalised):
//
//   - each word, weight 1 (0.3 for articles and the auxiliaries be/do);
//   - each pair of consecutive content words (stopwords skipped), 0.8;
//   - each character trigram of each content word with ^ and $ marking its
//     ends, 0.3.
//
// # Notes
//
// A Local is immutable and safe for concurrent use.
type Local struct{ dims int }

var _ Embedder = (*Local)(nil)

// NewLocal returns a local embedder with dims dimensions (0: DefaultDims;
// clamped to 64…8192).
func NewLocal(dims int) *Local {
	if dims == 0 {
		dims = DefaultDims
	}
	return &Local{dims: min(max(dims, minDims), maxDims)}
}

// Dims returns the vector length.
func (l *Local) Dims() int { return l.dims }

// ID names the vector space: the algorithm version and the dimensions.
func (l *Local) ID() string { return "local-lexical-v1/" + strconv.Itoa(l.dims) }

// Embed returns one normalised vector per text. It fails only when ctx is
// done.
func (l *Local) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a := acquireAnalysis(t)
		out[i] = l.embed(make([]float32, l.dims), a)
		releaseAnalysis(a)
	}
	return out, nil
}

// Feature weights; see the type's comment.
const (
	wWord  = 1.0
	wStop  = 0.3
	wPair  = 0.8
	wTrigr = 0.3
)

// embed writes a's features into v (len Dims, zeroed) and normalises it.
func (l *Local) embed(v []float32, a *analysis) []float32 {
	dims := uint64(len(v))
	add := func(h fnv, w float32) {
		x := uint64(h)
		if x>>63 != 0 {
			w = -w
		}
		v[(x&(1<<62-1))%dims] += w
	}
	prev := ""
	for _, t := range a.toks {
		h := newHash().byte('w').str(t.s)
		if t.stop {
			add(h, wStop)
			continue
		}
		add(h, wWord)
		if prev != "" {
			add(newHash().byte('p').str(prev).str(t.s), wPair)
		}
		prev = t.s
		trigrams(t.s, func(h fnv) { add(h, wTrigr) })
	}
	normalize(v)
	return v
}

// trigrams calls fn with the hash of each character trigram of "^w$".
// Words of one character have none (a Han character is its own word).
func trigrams(w string, fn func(fnv)) {
	// off[k] is the byte offset of rune k; off[n] is len(w).
	var buf [65]int
	off := buf[:0]
	for i := range w {
		off = append(off, i)
	}
	n := len(off)
	if n < 2 {
		return
	}
	off = append(off, len(w))
	// Units are ^, the n runes, $: n+2 of them, n trigrams. Trigram t covers
	// units t, t+1, t+2; unit u > 0 is rune u-1.
	for t := 0; t < n; t++ {
		h := newHash().byte('c')
		first, last := t-1, t+1 // runes covered, clipped below
		if first < 0 {
			h = h.byte('^')
			first = 0
		}
		end := len(w)
		if last < n {
			end = off[last+1]
		}
		for i := off[first]; i < end; i++ {
			h = h.byte(w[i])
		}
		if last >= n {
			h = h.byte('$')
		}
		fn(h)
	}
}

// normalize scales v to unit length (a zero vector stays zero).
func normalize(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}

// dot is the cosine similarity of two unit vectors of the same length.
// Four accumulators let the CPU overlap the multiply-adds.
func dot(a, b []float32) float64 {
	if len(a) != len(b) {
		return 0
	}
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return float64(s0 + s1 + s2 + s3)
}
