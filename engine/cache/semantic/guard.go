package semantic

// Guard names the check that refused a candidate whose similarity was above
// the threshold. Similarity says two turns are alike; the guards say
// whether they still differ in a way that changes the answer.
type Guard uint8

// Guards, in the order they are checked. docs/semantic-cache.md documents
// each.
const (
	// GuardNone: the candidate passed every guard.
	GuardNone Guard = iota
	// GuardLanguage: the turns are in different scripts, or in different
	// languages where both are known (an English question and its French
	// translation want answers in their own language). A short Latin turn
	// without function words ("explain CAP theorem") has no known language
	// and is compared with any Latin-script turn.
	GuardLanguage
	// GuardPolarity: the turns differ in negations (not, never, without,
	// n't, …), in a word with a meaningful opposite (enable/disable,
	// add/drop, before/after, min/max, from/to, …) or in a quantifier
	// (all, only, some, …), compared as lemmas in order.
	GuardPolarity
	// GuardNumbers: the turns differ in any digit sequence or number word
	// (top 5 / top 10, port 8080 / 8081, v1.2 / v1.3), compared in order.
	GuardNumbers
	// GuardQuotes: the turns differ in a quoted string or code span, byte
	// for byte.
	GuardQuotes
	// GuardIdentifiers: the turns differ in a named identifier: CamelCase,
	// snake_case, dotted names and file names, paths, URLs, flags,
	// $VARIABLES, @handles, #tags, Type::member, f().
	GuardIdentifiers
	// GuardWords: more than MaxWordDiff content words (words that are not
	// articles or be/do auxiliaries) appear in one turn and not the other.
	GuardWords
	// GuardOrder: the content words both turns share appear in a different
	// order ("convert celsius to fahrenheit" / "convert fahrenheit to
	// celsius").
	GuardOrder
	numGuards
)

var guardNames = [numGuards]string{"none", "language", "polarity", "numbers", "quotes", "identifiers", "words", "order"}

// String returns the guard's name as used in metrics and Stats.
func (g Guard) String() string {
	if g < numGuards {
		return guardNames[g]
	}
	return "unknown"
}

// check compares a query turn's signature q with a candidate's c and
// returns the first guard that refuses the match, or GuardNone. maxWordDiff
// < 0 turns the word guard off (the order guard still applies).
func check(q, c *signature, maxWordDiff int) Guard {
	switch {
	case q.script != c.script, q.lang != c.lang && q.lang != q.script && c.lang != c.script:
		return GuardLanguage
	case !equalStrings(q.neg, c.neg):
		return GuardPolarity
	case !equalStrings(q.nums, c.nums):
		return GuardNumbers
	case !equalStrings(q.quotes, c.quotes):
		return GuardQuotes
	case !equalStrings(q.idents, c.idents):
		return GuardIdentifiers
	}
	if q.exact == c.exact && equalStrings(q.words, c.words) {
		return GuardNone
	}
	return checkWords(q.words, c.words, maxWordDiff)
}

// checkWords matches the two word multisets greedily (each word of q to
// the first unused equal word of c), counts the unmatched words on both
// sides, and compares the order of the matched ones.
func checkWords(q, c []string, maxWordDiff int) Guard {
	var ustack [128]bool
	var qstack [128]int
	used, qm := ustack[:0], qstack[:0] // qm: indexes into c of q's matched words, in q's order
	if len(c) > len(ustack) {
		used = make([]bool, len(c))
	} else {
		used = ustack[:len(c)]
	}
	if len(q)*len(c) <= 64*64 {
		for _, w := range q {
			for j, x := range c {
				if !used[j] && x == w {
					used[j] = true
					qm = append(qm, j)
					break
				}
			}
		}
	} else {
		// Long turns (only reachable with a large MaxTurnChars, or through
		// the exported embedder's callers): positions by word, linear.
		pos := make(map[string][]int, len(c))
		for j, x := range c {
			pos[x] = append(pos[x], j)
		}
		for _, w := range q {
			if p := pos[w]; len(p) > 0 {
				used[p[0]] = true
				qm = append(qm, p[0])
				pos[w] = p[1:]
			}
		}
	}
	diff := len(q) - len(qm) + len(c) - len(qm)
	if maxWordDiff >= 0 && diff > maxWordDiff {
		return GuardWords
	}
	// The matched words in q's order must be the matched words in c's
	// order: compare the words, not the indexes, since equal words are
	// interchangeable.
	k := 0
	for j := range c {
		if !used[j] {
			continue
		}
		if c[qm[k]] != c[j] {
			return GuardOrder
		}
		k++
	}
	return GuardNone
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
