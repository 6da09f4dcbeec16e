package main

import (
	"bytes"
	"slices"
	"unicode/utf8"

	"github.com/aigateway/gateway/abi"
)

// refusal returns the id of a refusal phrase in the prose of the first
// refusalWindow characters of text, or -1; hard phrases win over soft ones.
func refusal(text []byte) int {
	head := text
	for i, n := 0, 0; i < len(text); n++ {
		if n == refusalWindow {
			head = text[:i]
			break
		}
		_, size := utf8.DecodeRune(text[i:])
		i += size
	}
	var set abi.Set
	abi.Prose(head, func(p []byte) { cfg.refusals.Scan(p, &set) })
	soft := -1
	for id := 0; id < cfg.refusals.Len(); id++ {
		if set.Has(id) {
			if id < cfg.soft {
				return id
			}
			if soft < 0 {
				soft = id
			}
		}
	}
	return soft
}

// lines calls fn with each line of text (without its '\n').
func lines(text []byte, fn func(line []byte) bool) {
	for len(text) > 0 {
		k := bytes.IndexByte(text, '\n')
		line := text
		if k >= 0 {
			line, text = text[:k], text[k+1:]
		} else {
			text = nil
		}
		if !fn(line) {
			return
		}
	}
}

// isFence reports whether line opens or closes a fenced code block.
func isFence(line []byte) bool {
	i := 0
	for i < len(line) && i < 3 && line[i] == ' ' {
		i++
	}
	line = line[i:]
	return bytes.HasPrefix(line, []byte("```")) || bytes.HasPrefix(line, []byte("~~~"))
}

// codeStarts are line beginnings that mark raw code outside a fence (small
// local models often answer with bare code), matched case-sensitively.
var codeStarts = [...]string{
	"package ", "import ", "from ", "def ", "func ", "class ", "function ", "const ", "let ",
	"var ", "public ", "private ", "#include", "fn ", "pub fn ", "impl ", "return ", "SELECT ",
	"#!/", "export ", "struct ", "interface ", "using ", "namespace ", "@@ ", "--- a/", "+++ b/",
}

// hasCode reports whether an answer carries code: a fence, an indented
// block of three lines or more, or two lines that start like code.
func hasCode(text []byte) bool {
	found, indented, starts := false, 0, 0
	lines(text, func(line []byte) bool {
		if isFence(line) {
			found = true
			return false
		}
		if (bytes.HasPrefix(line, []byte("    ")) || bytes.HasPrefix(line, []byte("\t"))) && len(bytes.TrimSpace(line)) > 0 {
			if indented++; indented >= 3 {
				found = true
				return false
			}
		} else {
			indented = 0
		}
		for _, s := range codeStarts {
			if bytes.HasPrefix(line, []byte(s)) { // case matters: "Import the module" is prose
				if starts++; starts >= 2 {
					found = true
					return false
				}
				break
			}
		}
		return true
	})
	return found
}

// hasList reports whether the answer has a markdown list.
func hasList(text []byte) bool {
	found := false
	lines(text, func(line []byte) bool {
		line = bytes.TrimLeft(line, " ")
		if bytes.HasPrefix(line, []byte("- ")) || bytes.HasPrefix(line, []byte("* ")) ||
			(len(line) > 2 && line[0] >= '1' && line[0] <= '9' && (line[1] == '.' || line[1] == ')') && line[2] == ' ') {
			found = true
			return false
		}
		return true
	})
	return found
}

var clarifyPhrases = abi.NewMatcher(
	"could you clarify", "can you clarify", "please clarify", "could you provide more",
	"can you provide more", "could you share", "can you share", "what do you mean",
	"do you want me to", "would you like me to", "which language", "which version",
	"more details", "more context", "let me know which", "could you tell me",
	"can you tell me", "did you mean",
)

// isClarifying reports whether the answer's prose asks the user something
// back: it ends with a question mark or uses a clarifying phrase.
func isClarifying(text []byte) bool {
	var set abi.Set
	last := []byte(nil)
	abi.Prose(text, func(p []byte) {
		clarifyPhrases.Scan(p, &set)
		if t := bytes.TrimSpace(p); len(t) > 0 {
			last = t
		}
	})
	if set != (abi.Set{}) {
		return true
	}
	last = bytes.TrimRight(last, "*_)\"'` ")
	return len(last) > 0 && last[len(last)-1] == '?'
}

// word hashing for the repetition checks: FNV-1a over the lower-cased word.
func wordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '\'' || c >= 0x80
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// The repetition thresholds. A word of more than 3 letters 4 times in a row
// (the seed's rule), a phrase of 2 to 4 words 3 times in a row, or a
// sentence or line of at least 20 letters 3 times anywhere in the prose
// means the model is looping. The seed's "any 3-word phrase 3 times" rule is
// gone: it fires on ordinary prose ("in the code") and, with code included,
// on every program.
const (
	wordRun      = 4
	phraseRun    = 3
	maxPeriod    = 4
	sentenceRun  = 3
	sentenceMinL = 20
)

// sentences is reused from call to call.
var sentences []uint64

// repetition looks for a looping answer in its prose (fenced code is
// skipped: repeated lines are normal in code). It returns what repeats
// ("word", "phrase", "sentence") and how many times, or n == 0.
func repetition(text []byte) (what string, n int) {
	sentences = sentences[:0]
	abi.Prose(text, func(p []byte) {
		if n > 0 {
			return
		}
		what, n = loops(p)
		collectSentences(p)
	})
	if n > 0 {
		return what, n
	}
	slices.Sort(sentences)
	run := 1
	for i := 1; i < len(sentences); i++ {
		if sentences[i] == sentences[i-1] {
			run++
			n = max(n, run)
		} else {
			run = 1
		}
	}
	if n >= sentenceRun {
		return "sentence", n
	}
	return "", 0
}

// loops finds a word or short phrase repeated back to back in p.
func loops(p []byte) (what string, n int) {
	period := 0
	var ring [2 * maxPeriod]struct {
		h uint64
		l int
	}
	var same [maxPeriod + 1]int // same[k]: consecutive words equal to the word k back
	words := 0
	for i := 0; i < len(p); {
		for i < len(p) && !wordChar(p[i]) {
			i++
		}
		if i == len(p) {
			break
		}
		h, l := uint64(fnvOffset), 0
		for ; i < len(p) && wordChar(p[i]); i++ {
			h = (h ^ uint64(abi.Lower(p[i]))) * fnvPrime
			l++
		}
		for k := 1; k <= maxPeriod; k++ {
			if words >= k && ring[(words-k)%len(ring)].h == h {
				same[k]++
			} else {
				same[k] = 0
			}
		}
		ring[words%len(ring)].h, ring[words%len(ring)].l = h, l
		words++
		// Report a loop once it ends, with its full length.
		if l > 3 && same[1] >= wordRun-1 {
			what, n = "word", same[1]+1
			continue
		}
		if what == "word" {
			return what, n
		}
		for k := 2; k <= maxPeriod; k++ {
			if same[k] >= k*(phraseRun-1) && same[1] == 0 {
				letters := 0
				for j := 1; j <= k; j++ {
					letters += ring[(words-j)%len(ring)].l
				}
				if letters >= 8 {
					what, n, period = "phrase", same[k]/k+1, k
				}
			}
		}
		if what == "phrase" && same[period] < period*(phraseRun-1) {
			return what, n
		}
	}
	return what, n
}

// collectSentences appends the hash of every sentence or line of p with at
// least sentenceMinL letters, normalised to lower-case words.
func collectSentences(p []byte) {
	h, letters, inWord := uint64(fnvOffset), 0, false
	flush := func() {
		if letters >= sentenceMinL {
			sentences = append(sentences, h)
		}
		h, letters, inWord = fnvOffset, 0, false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\n':
			flush()
		case (c == '.' || c == '!' || c == '?') && (i+1 == len(p) || p[i+1] == ' ' || p[i+1] == '\n'):
			flush()
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80:
			if !inWord && letters > 0 {
				h = (h ^ ' ') * fnvPrime
			}
			h = (h ^ uint64(abi.Lower(c))) * fnvPrime
			letters++
			inWord = true
		default:
			inWord = false
		}
	}
	flush()
}
