package routemodel

import "math"

// Logit is m.Score(Features(in)) without the feature slices: each weight
// is added as its feature is hashed, in the order Features lists them, so
// the float32 sum of the text weights, and so the logit, is bit for bit
// Score's (TestFeaturesMatchReference). It is what the router's guest runs
// per request: one pass over the excerpt that hashes the words and counts
// the markers together, no allocation.
//
// It is written for the Go compiler's Wasm backend, where every taken jump
// and every call costs several times what it costs natively: one function,
// table lookups instead of compare chains, and the rare cases (operators,
// backticks) off the per-byte path.
func (m *Model) Logit(in *Input) float64 {
	mask := uint32(1)<<m.Bits - 1
	w := m.W[:mask+1] // a power of two long: see segment
	intent := in.Intent
	var sc scan
	if len(intent) <= HeadBytes+TailBytes {
		sc.segment(w, mask, intent)
	} else {
		sc.segment(w, mask, intent[:HeadBytes])
		sc.segment(w, mask, intent[len(intent)-TailBytes:])
	}
	t, n := sc.acc, sc.n
	if c := intent[:min(len(intent), CharBytes)]; len(c) >= 4 {
		x := uint32(foldTab[c[0]])<<16 | uint32(foldTab[c[1]])<<8 | uint32(foldTab[c[2]])
		for _, b := range c[3:] {
			x = x<<8 | uint32(foldTab[b])
			t += w[int(charHash(x))&(len(w)-1)]
		}
		n += len(c) - 3
	}
	s := float64(m.Bias)
	if n > 0 {
		s += float64(t) / math.Sqrt(float64(n))
	}
	mk := marks{
		code:      int(sc.counts & 0xffff),
		maths:     int(sc.counts>>16&0xffff) + sc.maths,
		digits:    int(sc.counts >> 32 & 0xffff),
		questions: int(sc.counts >> 48),
		fences:    sc.fences,
	}
	mk.code += sc.code
	var buf [20]uint32
	for _, i := range shapeBins(buf[:0], in, mk, min(len(intent), HeadBytes+TailBytes), mask) {
		s += float64(w[i])
	}
	return s
}

// scan is the state of Logit's pass over the excerpt.
type scan struct {
	acc float32 // the sum of the word and pair weights so far
	n   int     // their number
	// counts packs the markers counted by table, 16 bits each: code,
	// maths, digits, questions (a segment is at most HeadBytes+TailBytes
	// bytes: excerptFits).
	counts uint64
	// code and maths count the operators (+*/=<>), which markTab leaves
	// out: they count as maths or code depending on their neighbours.
	code, maths, fences int
}

// markInc is each byte's increment of scan.counts; it leaves out digits
// (wordTab counts them) and operators and backticks (segment's rare path).
var markInc = func() (t [256]uint64) {
	for c, k := range markTab {
		switch k {
		case markCode:
			t[c] = 1
		case markMaths:
			t[c] = 1 << 16
		case markQuestion:
			t[c] = 1 << 48
		}
	}
	return
}()

// wordTab is, for a word byte, its folded value plus digitOne if it is a
// digit; 0 for every other byte. Summing it over a segment counts the
// digits above bit 20 (HeadBytes+TailBytes folded bytes sum to less than
// 2^20: excerptFits).
var wordTab = func() (t [256]uint32) {
	for c := range t {
		if byteClass[c] == classWord {
			t[c] = uint32(foldTab[c])
			if isDigit(byte(c)) {
				t[c] += digitOne
			}
		}
	}
	return
}()

const digitOne = 1 << 20

// excerptFits does not compile if a segment could overflow scan.counts'
// 16-bit fields or the folded-byte sum below digitOne.
const excerptFits = uint(1<<16-1-(HeadBytes+TailBytes)) + uint(digitOne-1-255*(HeadBytes+TailBytes))

// segment hashes the words and word pairs of t as words does, adding
// their weights to s.acc, and counts t's markers as markers does.
//
// Weights are indexed by hash & (len(w)-1), not hash & mask: the same
// index (len(w) is mask+1, a power of two), but the compiler then knows it
// is in bounds and drops the check. Tried and measured no faster in the
// guest (bench/RESULTS.md): unrolling the word loop by eight, FNV in 64
// bits, and the operator and backtick case in a function of its own.
func (s *scan) segment(w []float32, mask uint32, t []byte) {
	acc, n, counts := s.acc, s.n, s.counts
	var dsum uint64 // wordTab summed: digits above bit 20
	var prev uint32
	have := false
	run := 0 // consecutive backticks, as in markers
	for i := 0; i < len(t); {
		c := t[i]
		var h uint32
		if v := wordTab[c]; v != 0 {
			dsum += uint64(v)
			h = (wordSeed ^ v&0xff) * prime32
			i++
			for ; i < len(t); i++ {
				v = wordTab[t[i]]
				if v == 0 {
					break
				}
				dsum += uint64(v)
				h = (h ^ v&0xff) * prime32
			}
		} else if byteClass[c] == classPunct {
			h = (wordSeed ^ uint32(c)) * prime32
			counts += markInc[c]
			if k := markTab[c]; k >= markOp {
				if k == markOp {
					if i > 0 && i+1 < len(t) && (isDigit(t[i-1]) || isDigit(t[i+1]) || t[i-1] == ' ' && t[i+1] == ' ') {
						s.maths++
					} else {
						s.code++
					}
				} else { // markTick
					if i > 0 && t[i-1] == '`' {
						run++
					} else {
						run = 1
					}
					if run == 3 {
						s.fences++
						run = 0
					}
				}
			}
			i++
		} else {
			i++
			continue
		}
		acc += w[int(h)&(len(w)-1)]
		n++
		if have {
			acc += w[int(pairHash(prev, h))&(len(w)-1)]
			n++
		}
		prev, have = h, true
		if i < len(t) && byteClass[t[i]] == classSpace {
			i++
		}
	}
	s.acc, s.n, s.counts = acc, n, counts+(dsum>>20)<<32
}
