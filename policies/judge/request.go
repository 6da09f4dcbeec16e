package main

import "github.com/aigateway/gateway/abi"

// A clear code-writing request is a sentence of the user's prose (pasted
// code is not read) with a writing verb followed, within a few words, by a
// code noun: "write a function", "implement the handler", "give me a bash
// script", "convert this to Rust". The seed counted any of code, function,
// implement, write, create, build, fix or debug anywhere in the message,
// which demanded code for "why does this function fail?" and for "fix my
// understanding of…".
var (
	writeVerbs = wordSet("write", "implement", "create", "generate", "code", "build", "make",
		"give", "show", "provide", "add", "rewrite", "refactor", "convert", "port", "translate")
	// convertVerbs take a language as their object ("port it to rust").
	convertVerbs = wordSet("rewrite", "convert", "port", "translate")
	codeNouns    = wordSet("function", "functions", "func", "method", "methods", "class", "classes",
		"script", "scripts", "program", "snippet", "code", "implementation", "query", "queries",
		"regex", "regexp", "test", "tests", "unittest", "struct", "component", "components",
		"endpoint", "endpoints", "handler", "handlers", "module", "algorithm", "decorator",
		"macro", "interface", "enum", "constructor", "dockerfile", "makefile", "one-liner", "oneliner")
	languages = wordSet("python", "go", "golang", "rust", "typescript", "javascript", "java",
		"ruby", "php", "kotlin", "swift", "scala", "haskell", "bash", "shell", "sql", "c", "c++",
		"c#", "lua", "perl", "elixir", "dart", "zig", "powershell")
	negations = wordSet("don't", "dont", "not", "never", "without", "no")
	// Sentences that ask for an explanation are not code-writing requests,
	// even with a verb and a noun ("explain how to write a test").
	explainWords = wordSet("explain", "describe", "why", "summarize", "summarise")
)

// verbWindow is how many words may separate the verb from its noun.
const verbWindow = 6

// wordSet is a small set of lower-case words, matched by exact bytes.
type wordList []string

func wordSet(words ...string) wordList { return words }

func (s wordList) has(w []byte) bool {
	for _, x := range s {
		if string(w) == x {
			return true
		}
	}
	return false
}

// maxWords bounds one sentence's words kept for the check; the rest of a
// long sentence is read as the next one.
const maxWords = 64

// isCodeRequest reports whether the user's message is a clear request to
// write code (see writeVerbs).
func isCodeRequest(text []byte) bool {
	found := false
	abi.Prose(text, func(p []byte) {
		if !found {
			found = proseAsksForCode(p)
		}
	})
	return found
}

func proseAsksForCode(p []byte) bool {
	var buf [maxWords * 16]byte
	var words [maxWords][]byte
	n, used := 0, 0
	check := func() bool {
		defer func() { n, used = 0, 0 }()
		for i := 0; i < n; i++ {
			if explainWords.has(words[i]) {
				return false
			}
		}
		for i := 0; i < n; i++ {
			if !writeVerbs.has(words[i]) || negated(words[:n], i) {
				continue
			}
			for j := i + 1; j < n && j <= i+verbWindow; j++ {
				w := words[j]
				if codeNouns.has(w) {
					return true
				}
				if languages.has(w) && (convertVerbs.has(words[i]) || string(words[j-1]) == "in" || string(words[j-1]) == "to") {
					return true
				}
			}
		}
		return false
	}
	for i := 0; i < len(p); {
		c := p[i]
		if c == '\n' || ((c == '.' || c == '!' || c == '?' || c == ';') && (i+1 == len(p) || p[i+1] == ' ' || p[i+1] == '\n')) {
			if check() {
				return true
			}
			i++
			continue
		}
		if !reqWordChar(c) {
			i++
			continue
		}
		start := used
		for ; i < len(p) && reqWordChar(p[i]); i++ {
			if used < len(buf) {
				buf[used] = abi.Lower(p[i])
				used++
			}
		}
		// Trailing punctuation that is part of no word ("code," "c++").
		w := buf[start:used]
		for len(w) > 1 && (w[len(w)-1] == '\'' || w[len(w)-1] == '-') {
			w = w[:len(w)-1]
		}
		if n == maxWords || used == len(buf) {
			if check() {
				return true
			}
			// check reset the buffers; keep this word as the first of the
			// next chunk.
			copy(buf[:], w)
			w = buf[:len(w)]
			used = len(w)
		}
		words[n] = w
		n++
	}
	return check()
}

func reqWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '\'' || c == '-' ||
		c == '+' || c == '#' || c >= 0x80
}

// negated reports whether a negation precedes words[i] within 3 words, or
// the sentence says "no code" or "without code".
func negated(words [][]byte, i int) bool {
	for j := max(0, i-3); j < i; j++ {
		if negations.has(words[j]) {
			return true
		}
	}
	for j := 1; j < len(words); j++ {
		if string(words[j]) == "code" && (string(words[j-1]) == "no" || string(words[j-1]) == "without") {
			return true
		}
	}
	return false
}
