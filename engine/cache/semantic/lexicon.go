package semantic

import (
	"strings"
	"unicode"
)

// The word lists below are deliberately short: every entry is a decision
// about what may differ between two turns that get the same answer.
// docs/semantic-cache.md explains each list.

// stopwords weigh little in the local embedding and are ignored by the word
// and order guards: articles and the auxiliaries "be" and "do" in the
// present tense, which paraphrases add and drop freely ("what's a goroutine"
// / "what is a goroutine"). Pronouns, demonstratives, prepositions,
// interrogatives and modals are content: "delete it" and "delete them",
// "how" and "why", "can" and "should" ask different things.
var stopwords = setOf("a", "an", "the", "is", "are", "am", "be", "do", "does")

// filler is dropped anywhere: greetings and politeness.
var filler = setOf("please", "pls", "plz", "kindly", "thanks", "thx", "hi", "hello", "hey", "hiya",
	"um", "umm", "uh", "hmm", "btw")

// leadingFiller is dropped at the start of a turn only: phrases that
// introduce a question without changing it. "can you" alone is not here:
// "can you use goroutines in wasm" asks whether it is possible.
var leadingFiller = [][]string{
	{"so"}, {"ok"}, {"okay"}, {"quick", "question"}, {"question"},
	{"can", "you", "tell", "me"}, {"could", "you", "tell", "me"}, {"tell", "me"},
	{"i", "want", "to", "know"}, {"i", "would", "like", "to", "know"}, {"i", "wonder"},
	{"do", "you", "know"}, {"just"},
}

// contractions without an apostrophe, as people type them.
var contractions = map[string][]string{
	"dont": {"do", "not"}, "doesnt": {"does", "not"}, "didnt": {"did", "not"},
	"isnt": {"is", "not"}, "arent": {"are", "not"}, "wasnt": {"was", "not"}, "werent": {"were", "not"},
	"cant": {"can", "not"}, "cannot": {"can", "not"}, "couldnt": {"could", "not"},
	"shouldnt": {"should", "not"}, "wouldnt": {"would", "not"}, "wont": {"will", "not"},
	"hasnt": {"has", "not"}, "havent": {"have", "not"}, "hadnt": {"had", "not"},
	"whats": {"what", "is"}, "hows": {"how", "is"}, "wheres": {"where", "is"}, "whos": {"who", "is"},
	"thats": {"that", "is"}, "im": {"i", "am"}, "ive": {"i", "have"}, "youre": {"you", "are"},
	"gonna": {"going", "to"}, "wanna": {"want", "to"},
}

// suffixes are English contractions after an apostrophe ("n't" is handled
// apart). "'s" reads as "is": as a possessive it is a stopword either way.
var suffixes = map[string]string{"s": "is", "re": "are", "m": "am", "ll": "will", "ve": "have", "d": "would"}

// numberWords are written as digits, so that "top five" and "top 5" embed
// the same and the number guard compares values, not spellings.
var numberWords = map[string]string{
	"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
	"seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
	"thirteen": "13", "fourteen": "14", "fifteen": "15", "sixteen": "16", "seventeen": "17",
	"eighteen": "18", "nineteen": "19", "twenty": "20", "thirty": "30", "forty": "40",
	"fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80", "ninety": "90",
	"hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000",
	"dozen": "12", "twice": "2x", "once": "1x",
}

// polarity maps negations and words with a meaningful opposite to a lemma;
// the negation guard refuses a match unless both turns carry the same
// lemmas in the same order. Verbs come with their inflections.
var polarity = func() map[string]string {
	m := map[string]string{}
	plain := []string{
		// negation, English
		"not", "no", "never", "none", "nothing", "nobody", "nowhere", "neither", "nor", "without",
		"except", "unless", "only", "always", "sometimes", "all", "every", "each", "some", "any",
		// negation, other languages the language guard knows
		"ne", "pas", "jamais", "sans", "aucun", "aucune", "rien", "non", "nunca", "sin", "ningún",
		"ninguna", "nada", "nicht", "kein", "keine", "keinen", "nie", "niemals", "ohne", "mai",
		"senza", "não", "sem", "nenhum", "niet", "geen", "nooit", "zonder", "не", "нет", "без",
		"никогда", "不", "没", "無", "无", "别", "別", "未", "否", "ない",
		// opposites
		"with", "yes", "true", "false", "off", "up", "down", "in", "out", "asc", "desc",
		"ascending", "descending", "more", "less", "fewer", "most", "least", "greater", "smaller",
		"larger", "bigger", "higher", "lower", "longer", "shorter", "above", "below", "over", "under",
		"best", "worst", "fastest", "slowest", "faster", "slower", "left", "right", "top", "bottom",
		"first", "last", "before", "after", "min", "max", "minimum", "maximum", "sync", "async",
		"synchronous", "asynchronous", "mutable", "immutable", "public", "private", "valid", "invalid",
		"success", "failure", "input", "output", "inbound", "outbound", "upper", "lower", "uppercase",
		"lowercase", "old", "new", "older", "newer", "oldest", "newest", "next", "previous", "prev",
		"ipv4", "ipv6", "positive", "negative", "client", "server", "from", "to",
	}
	for _, w := range plain {
		m[w] = w
	}
	verbs := []string{
		"enable", "disable", "allow", "deny", "disallow", "forbid", "block", "unblock", "permit",
		"prevent", "include", "exclude", "add", "remove", "delete", "drop", "insert", "create",
		"destroy", "start", "stop", "open", "close", "show", "hide", "increase", "decrease",
		"raise", "lock", "unlock", "encrypt", "decrypt", "encode", "decode", "compress",
		"decompress", "upload", "download", "import", "export", "push", "pull", "install",
		"uninstall", "mount", "unmount", "succeed", "fail", "accept", "reject", "read", "write",
		"get", "set", "unset", "grant", "revoke", "attach", "detach", "connect", "disconnect",
		"subscribe", "unsubscribe", "merge", "split", "expand", "collapse", "ignore", "keep",
		"commit", "revert", "undo", "redo", "sort", "reverse", "append", "prepend", "send",
		"receive", "serialize", "deserialize", "marshal", "unmarshal", "follow", "unfollow",
		"pause", "resume", "activate", "deactivate", "register", "unregister",
		"load", "unload", "freeze", "unfreeze", "hold", "release",
	}
	for _, v := range verbs {
		for _, f := range inflections(v) {
			if _, ok := m[f]; !ok {
				m[f] = v
			}
		}
	}
	return m
}()

// inflections returns v, v+s, and the -ed and -ing forms with the usual
// spelling rules (enable → enabled, enabling; stop → stopped, stopping).
func inflections(v string) []string {
	out := []string{v}
	switch {
	case strings.HasSuffix(v, "s") || strings.HasSuffix(v, "sh") || strings.HasSuffix(v, "ch") || strings.HasSuffix(v, "x"):
		out = append(out, v+"es")
	default:
		out = append(out, v+"s")
	}
	switch {
	case strings.HasSuffix(v, "e"):
		out = append(out, v+"d", v[:len(v)-1]+"ing")
	case doublesFinal(v):
		c := v[len(v)-1:]
		out = append(out, v+c+"ed", v+c+"ing")
	default:
		out = append(out, v+"ed", v+"ing")
	}
	return out
}

// doublesFinal: a short consonant-vowel-consonant verb doubles its final
// consonant (stop, drop, split).
func doublesFinal(v string) bool {
	n := len(v)
	if n < 3 || n > 5 {
		return false
	}
	isV := func(c byte) bool { return strings.IndexByte("aeiou", c) >= 0 }
	return !isV(v[n-1]) && strings.IndexByte("wxy", v[n-1]) < 0 && isV(v[n-2]) && !isV(v[n-3])
}

func setOf(w ...string) map[string]bool {
	m := make(map[string]bool, len(w))
	for _, x := range w {
		m[x] = true
	}
	return m
}

// ---- language and script ----

type script uint8

const (
	scriptLatin script = iota
	scriptGreek
	scriptCyrillic
	scriptArabic
	scriptHebrew
	scriptDevanagari
	scriptThai
	scriptHangul
	scriptKana
	scriptHan
	scriptOther
	numScripts
)

var scriptNames = [numScripts]string{"latn", "grek", "cyrl", "arab", "hebr", "deva", "thai", "kore", "jpan", "hani", "zyyy"}

var scriptTables = [...]struct {
	s script
	t *unicode.RangeTable
}{
	{scriptLatin, unicode.Latin}, {scriptGreek, unicode.Greek}, {scriptCyrillic, unicode.Cyrillic},
	{scriptArabic, unicode.Arabic}, {scriptHebrew, unicode.Hebrew}, {scriptDevanagari, unicode.Devanagari},
	{scriptThai, unicode.Thai}, {scriptHangul, unicode.Hangul}, {scriptKana, unicode.Hiragana},
	{scriptKana, unicode.Katakana}, {scriptHan, unicode.Han},
}

func (a *analysis) countScript(r rune) {
	if !unicode.IsLetter(r) {
		return
	}
	if r < 0x80 {
		a.script[scriptLatin]++
		return
	}
	for _, st := range scriptTables {
		if unicode.Is(st.t, r) {
			a.script[st.s]++
			return
		}
	}
	a.script[scriptOther]++
}

func isCJK(r rune) bool {
	return r >= 0x2E80 && (unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r))
}

// language names the scripts the turn is written in and its language.
// The scripts are those with at least two letters, or one Han or kana
// character, joined by "+" ("latn", "latn+hani"), so that a question and
// its translation into another script never agree even when they share a
// Latin identifier. The language is, for a turn whose letters are mostly
// Latin, the language whose function words it uses most ("en", "fr", "es",
// "de", "it", "pt", "nl") or "latn" when none leads; otherwise the scripts
// again. Han text with kana is Japanese ("jpan"). Without letters both are
// "".
func (a *analysis) language() (string, string) {
	if a.script[scriptHan] > 0 && a.script[scriptKana] > 0 {
		a.script[scriptKana] += a.script[scriptHan]
		a.script[scriptHan] = 0
	}
	set, latinMost, total := "", true, 0
	for s, c := range a.script {
		total += c
		if c >= 2 || c >= 1 && (script(s) == scriptHan || script(s) == scriptKana) {
			if set != "" {
				set += "+"
			}
			set += scriptNames[s]
		}
		w := c
		if script(s) == scriptHan || script(s) == scriptKana {
			w *= 3 // a character is a word or most of one
		}
		if script(s) != scriptLatin && w >= a.script[scriptLatin] && c > 0 {
			latinMost = false
		}
	}
	if total == 0 {
		return "", ""
	}
	if set == "" {
		set = scriptNames[scriptOther]
	}
	if !latinMost || a.script[scriptLatin] == 0 {
		return set, set
	}
	var votes [numLangs]int
	for _, t := range a.toks {
		m := langWords[t.s]
		for l := range numLangs {
			if m&(1<<l) != 0 {
				votes[l]++
			}
		}
	}
	lead, top, second := -1, 0, 0
	for l, v := range votes {
		switch {
		case v > top:
			lead, second, top = l, top, v
		case v > second:
			second = v
		}
	}
	if lead < 0 || top == second {
		return set, set
	}
	return set, langNames[lead]
}

const numLangs = 7

var langNames = [numLangs]string{"en", "fr", "es", "de", "it", "pt", "nl"}

// langWords are frequent function words, as a bitmask of the languages
// that use them.
var langWords = func() map[string]uint8 {
	lists := [numLangs]string{
		"the a an is are was what how why when where which who do does did can could should would will i you it of and to in for with on this that my your not be there",
		"le la les un une des est sont que qui quoi comment pourquoi quand où je tu vous il elle de du et pour avec dans sur ce cette mon ma mes votre ne pas qu c j l d n au aux ou",
		"el la los las un una es son que qué cómo por para con en de del y mi tu su no se lo como cuál dónde cuando porque está hay",
		"der die das ein eine ist sind wie was warum wann wo ich du sie es und mit für von zu auf nicht kein mein dein den dem wird kann",
		"il lo la gli le un una è sono che come perché quando dove io tu di e per con in non mio del della si questo",
		"o a os as um uma é são que como por para com em de do da e não meu minha você isso está",
		"de het een is zijn wat hoe waarom ik jij je en met voor van niet mijn dit dat er",
	}
	m := map[string]uint8{}
	for l, s := range lists {
		for _, w := range strings.Fields(s) {
			m[w] |= 1 << l
		}
	}
	return m
}()
