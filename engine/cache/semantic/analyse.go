package semantic

import (
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/aigateway/gateway/internal/unsafeconv"
)

// analysis is what the local embedder and the guards read from one final
// user turn: normalised tokens, and the facts a match must agree on.
//
// # Notes
//
// The strings of an analysis returned by acquireAnalysis alias its own
// buffer and the analysed text: they are valid until releaseAnalysis. own()
// copies them out for an analysis kept in the index.
type analysis struct {
	toks []token
	sig  signature

	buf    []byte // normalised token bytes
	wbuf   []byte // the word being lowercased
	spans  []span // token spans into buf, parallel to toks
	quoteS []span // into the text
	identS []span // into the text
	text   string
	script [numScripts]int
}

type span struct{ s, e int }

// token is one normalised word: lowercase, contractions expanded, number
// words written as digits.
type token struct {
	s    string
	stop bool // an article or auxiliary: weighs little, ignored by the word guards
}

// signature is what the guards compare.
type signature struct {
	script string   // the dominant script ("latn", "cyrl", "hani", …), "" without letters
	lang   string   // "en", "fr", … for Latin script when function words tell; else the script
	neg    []string // negation and polarity words (lemmas), in order
	nums   []string // digit sequences, in order
	quotes []string // quoted strings and code spans, verbatim, in order
	idents []string // identifiers and paths, verbatim, sorted
	words  []string // content words (tokens that are not stopwords), in order
	strict uint64   // hash of script, neg, nums, quotes and idents
	exact  uint64   // strict plus words: equal when nothing but stopwords differ
}

var analysisPool = sync.Pool{New: func() any { return new(analysis) }}

// acquireAnalysis analyses text; the result aliases text and must be
// released.
func acquireAnalysis(text string) *analysis {
	a := analysisPool.Get().(*analysis)
	a.analyse(text)
	return a
}

func releaseAnalysis(a *analysis) {
	if cap(a.buf) > 64<<10 {
		return // a fuzz-sized input: let it go
	}
	a.text = ""
	analysisPool.Put(a)
}

// own returns a copy of the signature that aliases nothing.
func (s *signature) own() signature {
	cp := func(v []string) []string {
		if len(v) == 0 {
			return nil
		}
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = strings.Clone(x)
		}
		return out
	}
	return signature{script: s.script, lang: s.lang, neg: cp(s.neg), nums: cp(s.nums), quotes: cp(s.quotes),
		idents: cp(s.idents), words: cp(s.words), strict: s.strict, exact: s.exact}
}

func (a *analysis) reset(text string) {
	a.toks, a.buf, a.spans = a.toks[:0], a.buf[:0], a.spans[:0]
	a.quoteS, a.identS = a.quoteS[:0], a.identS[:0]
	a.sig.neg, a.sig.nums, a.sig.quotes = a.sig.neg[:0], a.sig.nums[:0], a.sig.quotes[:0]
	a.sig.idents, a.sig.words = a.sig.idents[:0], a.sig.words[:0]
	a.sig.script, a.sig.lang, a.sig.strict, a.sig.exact = "", "", 0, 0
	a.script = [numScripts]int{}
	a.text = text
}

func (a *analysis) analyse(text string) {
	a.reset(text)
	a.scanQuotes(text)
	a.scanIdents(text)
	a.tokenize(text)
	a.dropFiller()
	for i := range a.toks {
		a.toks[i].stop = stopwords[a.toks[i].s]
	}
	a.sig.script, a.sig.lang = a.language()
	for _, t := range a.toks {
		if l, ok := polarity[t.s]; ok {
			a.sig.neg = append(a.sig.neg, l)
		}
		a.sig.nums = appendDigitRuns(a.sig.nums, t.s)
		if !t.stop {
			a.sig.words = append(a.sig.words, t.s)
		}
	}
	for _, q := range a.quoteS {
		a.sig.quotes = append(a.sig.quotes, text[q.s:q.e])
	}
	for _, q := range a.identS {
		a.sig.idents = append(a.sig.idents, text[q.s:q.e])
	}
	slices.Sort(a.sig.idents)
	h := newHash()
	h = h.str(a.sig.script)
	for _, part := range [...][]string{a.sig.neg, a.sig.nums, a.sig.quotes, a.sig.idents} {
		h = h.byte(0xFF)
		for _, s := range part {
			h = h.str(s)
		}
	}
	a.sig.strict = uint64(h)
	h = h.byte(0xFE)
	for _, s := range a.sig.words {
		h = h.str(s)
	}
	a.sig.exact = uint64(h)
}

// ---- quotes and code spans ----

// quotePairs are the delimiters whose content must be equal in both turns.
// ASCII single quotes are handled separately (they double as apostrophes).
var quotePairs = [...]struct{ open, close string }{
	{"```", "```"}, {"`", "`"}, {`"`, `"`}, {"“", "”"}, {"„", "“"}, {"«", "»"},
	{"‘", "’"}, {"「", "」"}, {"『", "』"},
}

func (a *analysis) scanQuotes(t string) {
	// Once a delimiter has no close after some offset it has none after any
	// later one: remembering that keeps the scan linear.
	var noClose [len(quotePairs) + 1]bool
	for i := 0; i < len(t); {
		if !quoteStart[t[i]] {
			i++
			continue
		}
		matched := false
		for p, q := range quotePairs {
			if noClose[p] || !strings.HasPrefix(t[i:], q.open) {
				continue
			}
			start := i + len(q.open)
			j := strings.Index(t[start:], q.close)
			if j < 0 {
				noClose[p] = true
				break // unterminated: not a quote
			}
			a.quoteS = append(a.quoteS, span{start, start + j})
			i = start + j + len(q.close)
			matched = true
			break
		}
		if matched {
			continue
		}
		if t[i] == '\'' && !noClose[len(quotePairs)] && !wordByteBefore(t, i) && i+1 < len(t) && t[i+1] != ' ' {
			// An opening single quote: find a closing one not followed by a
			// letter ("don't" is an apostrophe, not a close).
			for j := i + 1; j < len(t); j++ {
				if t[j] == '\'' && !wordRuneAt(t, j+1) {
					a.quoteS = append(a.quoteS, span{i + 1, j})
					i = j + 1
					matched = true
					break
				}
			}
			if matched {
				continue
			}
			noClose[len(quotePairs)] = true
		}
		_, n := utf8.DecodeRuneInString(t[i:])
		i += n
	}
}

// quoteStart marks the first bytes of the quote delimiters.
var quoteStart = func() (m [256]bool) {
	for _, p := range quotePairs {
		m[p.open[0]] = true
	}
	m['\''] = true
	return m
}()

func wordByteBefore(t string, i int) bool {
	if i == 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(t[:i])
	return isWordRune(r)
}

func wordRuneAt(t string, i int) bool {
	if i >= len(t) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(t[i:])
	return isWordRune(r)
}

func isWordRune(r rune) bool {
	if r < 0x80 {
		return asciiWord[r]
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

var asciiWord = func() (m [0x80]bool) {
	for c := range m {
		m[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	return m
}()

// ---- identifiers ----

// scanIdents records whitespace-separated chunks that name something
// exactly: CamelCase and snake_case names, dotted names and file names,
// paths and URLs, flags, $VARIABLES, @handles, #tags, Type::member, f().
func (a *analysis) scanIdents(t string) {
	for i := 0; i < len(t); {
		r, n := utf8.DecodeRuneInString(t[i:])
		if unicode.IsSpace(r) {
			i += n
			continue
		}
		j := i
		for j < len(t) {
			r, n := utf8.DecodeRuneInString(t[j:])
			if unicode.IsSpace(r) {
				break
			}
			j += n
		}
		s, e := trimChunk(t, i, j)
		if s < e && isIdent(t[s:e]) {
			a.identS = append(a.identS, span{s, e})
		}
		i = j
	}
}

// trimChunk drops sentence punctuation and brackets around a chunk.
func trimChunk(t string, s, e int) (int, int) {
	for s < e && strings.IndexByte("([{<\"'`*,;:!?", t[s]) >= 0 {
		s++
	}
	for e > s && strings.IndexByte(")]}>\"'`*,;:!?.", t[e-1]) >= 0 {
		if t[e-1] == ')' && e-2 >= s && t[e-2] == '(' {
			break // f() keeps its parentheses
		}
		e--
	}
	return s, e
}

func isIdent(c string) bool {
	if strings.Contains(c, "://") || strings.Contains(c, "::") || strings.Contains(c, "->") || strings.HasSuffix(c, "()") {
		return true
	}
	switch c[0] {
	case '$', '@', '#':
		return len(c) > 1 && isWordByte(c[1])
	case '-':
		return len(c) > 1 && (isWordByte(c[1]) && !isDigitByte(c[1]) || c[1] == '-' && len(c) > 2 && isWordByte(c[2]))
	case '~', '/', '\\':
		return len(c) > 1
	}
	letters, digits := 0, 0
	var prev rune
	upperRun, camel, pathSep, dotted, snake := 0, false, false, false, false
	for i, r := range c {
		switch {
		case unicode.IsUpper(r):
			upperRun++
			if unicode.IsLower(prev) {
				camel = true
			}
		case unicode.IsLower(r):
			if upperRun >= 2 && i > 0 {
				camel = true // HTTPServer
			}
			upperRun = 0
		default:
			upperRun = 0
		}
		switch {
		case unicode.IsLetter(r):
			letters++
		case unicode.IsDigit(r):
			digits++
		case r == '/' || r == '\\':
			if i > 0 && i < len(c)-1 {
				pathSep = true
			}
		case r == '_':
			if i > 0 && i < len(c)-1 && isWordRune(prev) {
				snake = true
			}
		case r == '.':
			if i > 0 && i < len(c)-1 && isWordRune(prev) && isWordRune(rune(c[i+1])) {
				dotted = true
			}
		}
		prev = r
	}
	if letters == 0 {
		return false // numbers, versions and dates are the number guard's
	}
	if camel || snake || pathSep {
		return true
	}
	if dotted {
		// "e.g" and "i.e" are abbreviations, not names: some segment must
		// have two characters.
		for rest := c; rest != ""; {
			seg, tail, _ := strings.Cut(rest, ".")
			if utf8.RuneCountInString(seg) >= 2 {
				return true
			}
			rest = tail
		}
	}
	return false
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b >= 0x80
}

func isDigitByte(b byte) bool { return b >= '0' && b <= '9' }

// ---- tokens ----

// tokenize splits t into words (letters, digits and marks, with apostrophes
// inside a word), one token per Han or kana character, lowercases them,
// expands contractions and writes number words as digits.
func (a *analysis) tokenize(t string) {
	for i := 0; i < len(t); {
		r, n := utf8.DecodeRuneInString(t[i:])
		if !isWordRune(r) {
			i += n
			continue
		}
		a.countScript(r)
		if isCJK(r) {
			a.emit(t[i : i+n])
			i += n
			continue
		}
		j := i + n
		for j < len(t) {
			r, n := utf8.DecodeRuneInString(t[j:])
			if isWordRune(r) && !isCJK(r) {
				a.countScript(r)
				j += n
				continue
			}
			// An apostrophe between two letters stays in the word.
			if (r == '\'' || r == '’') && wordRuneAt(t, j+n) {
				j += n
				continue
			}
			break
		}
		a.word(t[i:j])
		i = j
	}
	for _, sp := range a.spans {
		a.toks = append(a.toks, token{s: unsafeconv.String(a.buf[sp.s:sp.e])})
	}
}

// word lowercases w and emits it, split at apostrophes with English
// contractions expanded.
func (a *analysis) word(w string) {
	a.wbuf = a.wbuf[:0]
	for i := 0; i < len(w); {
		if c := w[i]; c < 0x80 {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			a.wbuf = append(a.wbuf, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(w[i:])
		i += n
		if r == '’' {
			r = '\''
		}
		a.wbuf = utf8.AppendRune(a.wbuf, unicode.ToLower(r))
	}
	lw := unsafeconv.String(a.wbuf)
	if strings.IndexByte(lw, '\'') < 0 {
		if exp, ok := contractions[lw]; ok {
			for _, p := range exp {
				a.emit(p)
			}
			return
		}
		a.emit(lw)
		return
	}
	base, rest, _ := strings.Cut(lw, "'")
	if rest == "t" && strings.HasSuffix(base, "n") { // don't, can't, won't, isn't
		b := base[:len(base)-1]
		switch b {
		case "ca":
			b = "can"
		case "wo":
			b = "will"
		case "sha":
			b = "shall"
		case "":
			b = "do"
		}
		a.emit(b)
		a.emit("not")
		return
	}
	if exp, ok := suffixes[rest]; ok && base != "" {
		a.emit(base)
		a.emit(exp)
		return
	}
	for rest := lw; rest != ""; {
		part, tail, _ := strings.Cut(rest, "'")
		if part != "" {
			a.emit(part)
		}
		rest = tail
	}
}

// emit appends one normalised token (s aliases a.wbuf, the text or a
// static string); the token strings are set by tokenize once a.buf stops
// growing.
func (a *analysis) emit(s string) {
	if d, ok := numberWords[s]; ok {
		s = d
	}
	st := len(a.buf)
	a.buf = append(a.buf, s...)
	a.spans = append(a.spans, span{st, len(a.buf)})
}

// dropFiller removes greetings and politeness anywhere, and
// question-introducing phrases at the start ("can you tell me", "quick
// question"): they do not change what is asked.
func (a *analysis) dropFiller() {
	out := a.toks[:0]
	for i := 0; i < len(a.toks); i++ {
		s := a.toks[i].s
		if filler[s] {
			continue
		}
		if s == "thank" && i+1 < len(a.toks) && a.toks[i+1].s == "you" {
			i++
			continue
		}
		out = append(out, a.toks[i])
	}
	a.toks = out
	for changed := true; changed; {
		changed = false
		for _, p := range leadingFiller {
			if len(p) <= len(a.toks) && tokensHavePrefix(a.toks, p) {
				a.toks = a.toks[:copy(a.toks, a.toks[len(p):])]
				changed = true
			}
		}
	}
}

func tokensHavePrefix(toks []token, p []string) bool {
	for i, w := range p {
		if toks[i].s != w {
			return false
		}
	}
	return true
}

// appendDigitRuns appends every maximal run of digits in s.
func appendDigitRuns(dst []string, s string) []string {
	start := -1
	for i, r := range s {
		if unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			dst = append(dst, s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		dst = append(dst, s[start:])
	}
	return dst
}

// fnv is FNV-1a, 64 bits: cheap, allocation-free, and good enough for
// feature hashing and for prefiltering (a collision there only costs a
// comparison; the guards compare the strings themselves).
type fnv uint64

func newHash() fnv { return 14695981039346656037 }

func (h fnv) byte(b byte) fnv { return (h ^ fnv(b)) * 1099511628211 }

func (h fnv) str(s string) fnv {
	for i := 0; i < len(s); i++ {
		h = (h ^ fnv(s[i])) * 1099511628211
	}
	return h.byte(0)
}
