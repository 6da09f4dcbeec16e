package main

import (
	"math"
	"regexp"
	"strings"

	"github.com/aigateway/gateway/policies/router/routemodel"
)

// signal is a label-free prompt signal; the prior adds strength × f to the
// logit.
type signal struct {
	name string
	f    func(intent []byte) float64
}

func find(sigs []signal, name string) (signal, bool) {
	for _, s := range sigs {
		if s.name == name {
			return s, true
		}
	}
	return signal{}, false
}

// excerpt is the part of the last user message the guest's features read
// (routemodel.HeadBytes and TailBytes), so that a signal found here could
// be computed there at the same cost.
func excerpt(t []byte) []byte {
	if len(t) <= routemodel.HeadBytes+routemodel.TailBytes {
		return t
	}
	return append(append([]byte(nil), t[:routemodel.HeadBytes]...), t[len(t)-routemodel.TailBytes:]...)
}

// wordStats counts an excerpt's words (runs of ASCII letters and
// apostrophes, two letters or more) by frequency rank.
type wordStats struct {
	words           int
	over5k, over20k int // rank above 5,000 / 20,000 (absent: above both)
	over50k         int // absent from the 50k list
	midCaps         int // capitalised, not first in a sentence or line
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func countWords(t []byte, ranks map[string]int) wordStats {
	var s wordStats
	start := true // at the start of a sentence or line
	var lower []byte
	for i := 0; i < len(t); {
		c := t[i]
		if !isLetter(c) {
			if c == '.' || c == '?' || c == '!' || c == ':' || c == '\n' {
				start = true
			}
			i++
			continue
		}
		j := i
		for j < len(t) && (isLetter(t[j]) || t[j] == '\'') {
			j++
		}
		w := t[i:j]
		for len(w) > 0 && w[len(w)-1] == '\'' {
			w = w[:len(w)-1]
		}
		i = j
		if len(w) < 2 {
			start = false
			continue
		}
		s.words++
		lower = append(lower[:0], w...)
		for k, c := range lower {
			if c >= 'A' && c <= 'Z' {
				lower[k] = c + 'a' - 'A'
			}
		}
		r, ok := ranks[string(lower)]
		if !ok {
			r = math.MaxInt
			s.over50k++
		}
		if r > 5000 {
			s.over5k++
		}
		if r > 20000 {
			s.over20k++
		}
		if !start && w[0] >= 'A' && w[0] <= 'Z' {
			s.midCaps++
		}
		start = false
	}
	return s
}

var (
	// A number followed by a unit: "12 km", "3.5kg", "40%", "$20".
	unitRE = regexp.MustCompile(`(?i)\$\d|\b\d+(?:[.,]\d+)?\s?(?:%|kg|km|cm|mm|mg|ml|m|g|l|s|h|lbs?|ft|mph|hours?|minutes?|seconds?|days?|weeks?|months?|years?|miles?|feet|inch(?:es)?|pounds?|dollars?|cents?|met(?:er|re)s?|lit(?:er|re)s?|degrees?)\b`)
	// Multiple-choice options: lines starting "A." / "B)" / "(C)".
	optionRE = regexp.MustCompile(`(?m)^\s*\(?[A-Da-d][.)]\s`)
	whichRE  = regexp.MustCompile(`(?i)which of the following`)
	// Explicit reasoning demands.
	reasonRE = regexp.MustCompile(`(?i)\b(?:step by step|explain|prove|why|calculate|compute|how many|how much|solve|derive|reason)\b`)
)

func log2p1(n int) float64 { return math.Log2(1 + float64(n)) }

// share is a/(n+1): 0 for an empty excerpt.
func share(a, n int) float64 { return float64(a) / float64(n+1) }

func signals(ranks map[string]int) []signal {
	words := func(f func(s wordStats) float64) func([]byte) float64 {
		return func(t []byte) float64 { return f(countWords(excerpt(t), ranks)) }
	}
	count := func(re *regexp.Regexp) func([]byte) float64 {
		return func(t []byte) float64 { return log2p1(len(re.FindAllIndex(excerpt(t), -1))) }
	}
	bytesShare := func(set string) func([]byte) float64 {
		return func(t []byte) float64 {
			t = excerpt(t)
			n := 0
			for _, c := range t {
				if strings.IndexByte(set, c) >= 0 {
					n++
				}
			}
			return 10 * share(n, len(t))
		}
	}
	return []signal{
		// Knowledge rarity.
		{"share-over-5k", words(func(s wordStats) float64 { return share(s.over5k, s.words) })},
		{"share-over-20k", words(func(s wordStats) float64 { return share(s.over20k, s.words) })},
		{"share-over-50k", words(func(s wordStats) float64 { return share(s.over50k, s.words) })},
		{"log2-over-5k", words(func(s wordStats) float64 { return log2p1(s.over5k) })},
		{"log2-over-20k", words(func(s wordStats) float64 { return log2p1(s.over20k) })},
		{"log2-over-50k", words(func(s wordStats) float64 { return log2p1(s.over50k) })},
		{"log2-mid-caps", words(func(s wordStats) float64 { return log2p1(s.midCaps) })},
		{"log2-units", count(unitRE)},
		// The two rarity signals that helped GSM8K most, summed.
		{"log2-over-50k+mid-caps", words(func(s wordStats) float64 { return log2p1(s.over50k) + log2p1(s.midCaps) })},
		// Question type.
		{"options", func(t []byte) float64 {
			if len(optionRE.FindAllIndex(excerpt(t), 4)) >= 3 {
				return 1
			}
			return 0
		}},
		{"which-of-the-following", func(t []byte) float64 {
			if whichRE.Match(excerpt(t)) {
				return 1
			}
			return 0
		}},
		// Reasoning demands and maths density.
		{"log2-reasoning", count(reasonRE)},
		{"digit-share", bytesShare("0123456789")},
		{"operator-share", bytesShare("+-*/=^<>")},
	}
}
