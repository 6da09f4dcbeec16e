package main

import (
	"bytes"
	"unicode/utf8"

	"github.com/aigateway/gateway/abi"
)

// block is one file found in a message's text, as byte offsets into the
// text. A fenced block is replaced whole (fences included); a tag block
// keeps its tags and has its content replaced; a whole tool result is one
// block.
type block struct {
	start, end   int // the range a reference replaces
	cStart, cEnd int // the file's content: what is compared
	pStart, pEnd int // the path; pStart == pEnd when there is none
}

// maxPathLen bounds a path hint; longer tokens are not paths.
const maxPathLen = 512

// findBlocks appends to dst[:0] every file block of text, in order and
// without overlap:
//
//   - a fenced code block (``` or ~~~, CommonMark rules: up to three spaces
//     of indentation, a closer at least as long as the opener) that carries a
//     path: in its info string (```go src/x.go, ```ts:src/x.ts,
//     ```12:30:src/x.ts, ```path=src/x.ts, ```src/x.ts), on its first line
//     (// filepath: src/x.ts), or on the line before it, or the one before
//     that when a blank line separates them (File: src/x.ts, ### src/x.ts,
//     `src/x.ts`:, <file path="src/x.ts">, <source>src/x.ts</source>, a bare
//     src/x.ts as Aider sends it);
//   - a block tag on a line of its own whose content runs to its closing tag:
//     <file_content path="…">, <file path="…">, <final_file_content path="…">,
//     <document path="…">, or Aider's <source>, <code>, <pre>, <codeblock>,
//     <sourcecode> and <document_content> with the path on the line before.
//
// Blocks without a path are not files and are not reported. An unclosed
// fence ends the scan: everything after it is code.
func findBlocks(text []byte, dst []block) []block {
	dst = dst[:0]
	// The two lines before the current one, for path hints.
	p1s, p1e, p2s, p2e := -1, -1, -1, -1
	var cl closers
	pos := 0
	for pos < len(text) {
		ls, le := pos, lineEnd(text, pos)
		next := nextLine(text, le)
		line := text[ls:le]
		if ch, n, info, ok := fenceOpen(line); ok {
			cs := next
			closerS, closerE := -1, -1
			for p := cs; p < len(text); {
				e := lineEnd(text, p)
				if fenceClose(text[p:e], ch, n) {
					closerS, closerE = p, e
					break
				}
				p = nextLine(text, e)
			}
			if closerS < 0 {
				return dst // unclosed: the rest of the text is code
			}
			ce := closerS
			if ce > cs {
				ce-- // the newline before the closer is not content
			}
			b := block{start: ls, end: closerE, cStart: cs, cEnd: ce}
			b.pStart, b.pEnd = pathFromInfo(text, ls+info, le)
			if b.pStart == b.pEnd {
				b.pStart, b.pEnd = pathFromComment(text, cs, lineEnd(text, cs))
			}
			if b.pStart == b.pEnd {
				b.pStart, b.pEnd = pathBefore(text, p1s, p1e, p2s, p2e)
			}
			if b.pStart != b.pEnd {
				dst = append(dst, b)
			}
			p2s, p2e, p1s, p1e = p1s, p1e, closerS, closerE
			pos = nextLine(text, closerE)
			continue
		}
		if tag, ok := tagOpen(text, ls, le); ok {
			// A tag followed by a fence is the fence's path hint, handled
			// when the fence is reached.
			if _, _, _, fence := fenceOpen(text[next:lineEnd(text, next)]); !fence {
				if b, end, ok := tagBlock(text, ls, le, next, tag, &cl, p1s, p1e, p2s, p2e); ok {
					dst = append(dst, b)
					p2s, p2e, p1s, p1e = -1, -1, -1, -1
					pos = end
					continue
				}
			}
		}
		p2s, p2e, p1s, p1e = p1s, p1e, ls, le
		pos = next
	}
	return dst
}

func lineEnd(text []byte, pos int) int {
	if k := bytes.IndexByte(text[pos:], '\n'); k >= 0 {
		return pos + k
	}
	return len(text)
}

func nextLine(text []byte, le int) int {
	if le < len(text) {
		return le + 1
	}
	return le
}

// indent returns the offset after up to three leading spaces, or -1 when
// the line is indented further (an indented code block, not a fence).
func indent(line []byte) int {
	i := 0
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i > 3 {
		return -1
	}
	return i
}

// fenceOpen reports whether line opens a fence, with the fence character,
// its length and the offset of the info string in line.
func fenceOpen(line []byte) (ch byte, n, info int, ok bool) {
	i := indent(line)
	if i < 0 || i >= len(line) || (line[i] != '`' && line[i] != '~') {
		return 0, 0, 0, false
	}
	ch = line[i]
	j := i
	for j < len(line) && line[j] == ch {
		j++
	}
	if j-i < 3 {
		return 0, 0, 0, false
	}
	if ch == '`' && bytes.IndexByte(line[j:], '`') >= 0 {
		return 0, 0, 0, false // inline code such as ```x```
	}
	return ch, j - i, j, true
}

// fenceClose reports whether line closes a fence opened with n ch.
func fenceClose(line []byte, ch byte, n int) bool {
	i := indent(line)
	if i < 0 {
		return false
	}
	j := i
	for j < len(line) && line[j] == ch {
		j++
	}
	if j-i < n {
		return false
	}
	for ; j < len(line); j++ {
		if c := line[j]; c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

// trim returns [s, e) without surrounding spaces, tabs and carriage returns.
func trim(text []byte, s, e int) (int, int) {
	for s < e && isSpace(text[s]) {
		s++
	}
	for e > s && isSpace(text[e-1]) {
		e--
	}
	return s, e
}

// pathFromInfo finds a path in a fence's info string text[s:e].
func pathFromInfo(text []byte, s, e int) (int, int) {
	field := 0
	for s < e {
		for s < e && isSpace(text[s]) {
			s++
		}
		fe := s
		for fe < e && !isSpace(text[fe]) {
			fe++
		}
		if s == fe {
			break
		}
		fs, fEnd := s, fe
		// path=…, file=…, filename=…, title="…" (key=value, Cursor's
		// "path=src/x.ts, lines=1-20").
		if k := bytes.IndexByte(text[fs:fEnd], '='); k > 0 {
			switch key := text[fs : fs+k]; {
			case abi.EqualFold(key, "path"), abi.EqualFold(key, "file"), abi.EqualFold(key, "filename"),
				abi.EqualFold(key, "filepath"), abi.EqualFold(key, "title"):
				vs, ve := unquote(text, fs+k+1, fEnd)
				if ve > vs && text[ve-1] == ',' {
					ve--
				}
				vs, ve = unquote(text, vs, ve)
				if pathish(text[vs:ve]) {
					return vs, ve
				}
			}
		} else if field == 0 {
			// lang:path (Cursor) and start:end:path (Cursor's code citations).
			ps := fs
			for colons := 0; colons < 3; colons++ {
				k := bytes.IndexByte(text[ps:fEnd], ':')
				if k < 0 {
					break
				}
				head := text[ps : ps+k]
				if !(allDigits(head) || (colons == 0 && isWord(head))) {
					break
				}
				ps += k + 1
			}
			if pathish(text[ps:fEnd]) {
				return ps, fEnd
			}
		} else if field == 1 && pathish(text[fs:fEnd]) {
			// lang path (Continue: ```go /src/x.go (1-20)).
			return fs, fEnd
		}
		field++
		s = fe
	}
	return 0, 0
}

func unquote(text []byte, s, e int) (int, int) {
	if e-s >= 2 && (text[s] == '"' || text[s] == '\'') && text[e-1] == text[s] {
		return s + 1, e - 1
	}
	return s, e
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// isWord reports whether b is a language tag: letters, digits, +, #, -, _.
func isWord(b []byte) bool {
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '#' || c == '-' || c == '_') {
			return false
		}
	}
	return len(b) > 0
}

// pathFromComment finds "filepath: x" in a comment on a fence's first
// content line text[s:e] (Copilot Chat: // filepath: src/x.ts).
func pathFromComment(text []byte, s, e int) (int, int) {
	s, e = trim(text, s, e)
	line := text[s:e]
	if !(hasPrefix(line, "//") || hasPrefix(line, "#") || hasPrefix(line, "<!--") ||
		hasPrefix(line, "--") || hasPrefix(line, "/*") || hasPrefix(line, ";")) {
		return 0, 0
	}
	k := abi.IndexFold(line, "filepath:")
	if k < 0 {
		return 0, 0
	}
	ps, pe := trim(text, s+k+len("filepath:"), e)
	for _, tail := range [...]string{"-->", "*/"} {
		if pe-ps >= len(tail) && string(text[pe-len(tail):pe]) == tail {
			ps, pe = trim(text, ps, pe-len(tail))
		}
	}
	if pathish(text[ps:pe]) {
		return ps, pe
	}
	return 0, 0
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// pathBefore finds a path hint on the line before a fence (p1), or on the
// one before that when p1 is blank.
func pathBefore(text []byte, p1s, p1e, p2s, p2e int) (int, int) {
	if p1s < 0 {
		return 0, 0
	}
	if s, e := trim(text, p1s, p1e); s == e {
		if p2s < 0 {
			return 0, 0
		}
		p1s, p1e = p2s, p2e
	}
	return pathFromLine(text, p1s, p1e)
}

// labels a path-hint line may start with, lower-case.
var labels = [...]string{"file path:", "filepath:", "filename:", "file name:", "file:", "path:"}

// inlineTags may hold a path between an opening and a closing tag on one
// line: <source>src/x.go</source>.
var inlineTags = [...]string{"source", "path", "filepath", "filename", "file"}

// pathFromLine reads a path hint line text[s:e]: "File: x", "### x",
// "**x**", "`x`:", "<file path="x">", "<source>x</source>" or a bare path.
func pathFromLine(text []byte, s, e int) (int, int) {
	s, e = trim(text, s, e)
	if s == e {
		return 0, 0
	}
	if text[s] == '<' {
		for _, t := range inlineTags {
			open := len(t) + 2
			if e-s > 2*open && text[s+1+len(t)] == '>' && string(text[s+1:s+1+len(t)]) == t &&
				text[e-open-1] == '<' && text[e-open] == '/' && string(text[e-open+1:e-1]) == t && text[e-1] == '>' {
				ps, pe := trim(text, s+open, e-open-1)
				if pathish(text[ps:pe]) {
					return ps, pe
				}
				return 0, 0
			}
		}
		if text[e-1] != '>' {
			return 0, 0
		}
		return pathAttr(text, s, e)
	}
	for s < e && text[s] == '#' {
		s++
	}
	s, e = trim(text, s, e)
	s, e = strip(text, s, e, "**")
	for _, l := range labels {
		if e-s > len(l) && abi.HasPrefixFold(text[s:e], l) {
			s, e = trim(text, s+len(l), e)
			break
		}
	}
	s, e = strip(text, s, e, "**")
	if e > s && text[e-1] == ':' {
		e--
	}
	s, e = strip(text, s, e, "`")
	s, e = strip(text, s, e, "**")
	if pathish(text[s:e]) {
		return s, e
	}
	return 0, 0
}

// strip removes mark from both ends of text[s:e] when it is on both, and a
// leading "mark…mark" label such as "**File:**".
func strip(text []byte, s, e int, mark string) (int, int) {
	m := len(mark)
	if e-s > 2*m && string(text[s:s+m]) == mark && string(text[e-m:e]) == mark {
		return trim(text, s+m, e-m)
	}
	if e-s > m && string(text[s:s+m]) == mark {
		// "**File:** src/x.go": drop the emphasised label's marks.
		if k := bytes.Index(text[s+m:e], []byte(mark)); k >= 0 {
			inner := text[s+m : s+m+k]
			for _, l := range labels {
				if abi.EqualFold(inner, l) {
					return trim(text, s+m+k+m, e)
				}
			}
		}
	}
	return s, e
}

// pathAttr reads path="…" (or name, filename, file, filepath, src) from the
// tag text[s:e] (which starts with '<' and ends with '>').
func pathAttr(text []byte, s, e int) (int, int) {
	i := s + 1
	for i < e && text[i] != ' ' && text[i] != '>' {
		i++
	}
	for i < e {
		for i < e && (text[i] == ' ' || text[i] == '\t') {
			i++
		}
		ks := i
		for i < e && text[i] != '=' && text[i] != ' ' && text[i] != '>' {
			i++
		}
		if i >= e || text[i] != '=' || i+1 >= e {
			return 0, 0
		}
		key := text[ks:i]
		q := text[i+1]
		if q != '"' && q != '\'' {
			return 0, 0
		}
		vs := i + 2
		k := bytes.IndexByte(text[vs:e], q)
		if k < 0 {
			return 0, 0
		}
		ve := vs + k
		switch string(key) {
		case "path", "name", "filename", "file", "filepath", "src":
			if pathish(text[vs:ve]) {
				return vs, ve
			}
		}
		i = ve + 1
	}
	return 0, 0
}

// Tag names that open a file block. Those with attr take the path from an
// attribute; the others (Aider's alternative fences, Anthropic's document
// format) from the line before.
var blockTags = [...]struct {
	name string
	attr bool
}{
	{"file_content", true}, {"final_file_content", true}, {"file", true}, {"document", true},
	{"source", false}, {"code", false}, {"pre", false}, {"codeblock", false}, {"sourcecode", false},
	{"document_content", false},
}

// tagOpen reports whether text[ls:le] is a lone opening block tag, and
// which one (an index into blockTags).
func tagOpen(text []byte, ls, le int) (int, bool) {
	s, e := trim(text, ls, le)
	if e-s < 3 || text[s] != '<' || text[e-1] != '>' || text[e-2] == '/' {
		return 0, false
	}
	ns := s + 1
	ne := ns
	for ne < e && (text[ne] >= 'a' && text[ne] <= 'z' || text[ne] == '_') {
		ne++
	}
	if ne == ns || (text[ne] != '>' && text[ne] != ' ') {
		return 0, false
	}
	if bytes.IndexByte(text[ne:e-1], '>') >= 0 || bytes.IndexByte(text[ne:e-1], '<') >= 0 {
		return 0, false // more than one tag on the line
	}
	for i, t := range blockTags {
		if string(text[ns:ne]) == t.name {
			return i, true
		}
	}
	return 0, false
}

// closers remembers, per block tag, where the last search for its closing
// tag started and what it found, so that a text full of unclosed opening
// tags is still scanned in linear time: searches start at increasing
// offsets, so a closer found at q is still the first one for any later
// start up to q, and a search that found none never will.
type closers [len(blockTags)]struct {
	from, at int
	done     bool
}

func (cl *closers) index(text []byte, from, tag int) int {
	c := &cl[tag]
	if c.done && from >= c.from && (c.at < 0 || from <= c.at) {
		return c.at
	}
	c.from, c.at, c.done = from, indexClose(text, from, blockTags[tag].name), true
	return c.at
}

// indexClose returns the offset of the first "</name>" in text[from:], or
// -1.
func indexClose(text []byte, from int, name string) int {
	for p := from; p < len(text); {
		k := bytes.Index(text[p:], []byte("</"))
		if k < 0 {
			return -1
		}
		at := p + k
		n := at + 2 + len(name)
		if n < len(text) && text[n] == '>' && string(text[at+2:n]) == name {
			return at
		}
		p = at + 2
	}
	return -1
}

// tagBlock reads the block whose opening tag is the line text[ls:le] and
// whose content starts at cs; it returns the block and where scanning
// resumes.
func tagBlock(text []byte, ls, le, cs, tag int, cl *closers, p1s, p1e, p2s, p2e int) (block, int, bool) {
	var b block
	if blockTags[tag].attr {
		ts, te := trim(text, ls, le)
		b.pStart, b.pEnd = pathAttr(text, ts, te)
	} else {
		b.pStart, b.pEnd = pathBefore(text, p1s, p1e, p2s, p2e)
	}
	if b.pStart == b.pEnd || cs >= len(text) {
		return b, 0, false
	}
	ce := cl.index(text, cs, tag)
	if ce < 0 {
		return b, 0, false
	}
	b.cStart, b.cEnd = cs, ce
	if b.cEnd > b.cStart && text[b.cEnd-1] == '\n' {
		b.cEnd--
		if b.cEnd > b.cStart && text[b.cEnd-1] == '\r' {
			b.cEnd--
		}
	}
	b.start, b.end = b.cStart, b.cEnd
	return b, nextLine(text, lineEnd(text, ce)), true
}

// extensionless file names that count as paths on their own.
var bareNames = [...]string{"makefile", "dockerfile", "gemfile", "rakefile", "procfile",
	"jenkinsfile", "vagrantfile", "containerfile", "justfile", "license", "readme", "brewfile"}

// pathish reports whether b looks like a file path: no spaces, quotes or
// brackets, not a URL, and either a directory separator or a name with an
// extension that has a letter (main.go, .env, src/x, not 1.2.3 or e.g.).
func pathish(b []byte) bool {
	if len(b) == 0 || len(b) > maxPathLen || !utf8.Valid(b) || bytes.Contains(b, []byte("://")) {
		return false
	}
	letter, sep, last := false, false, 0
	for i, c := range b {
		switch {
		case c <= ' ' || c == 0x7f:
			return false
		case c == '`' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '|' || c == '*' ||
			c == '?' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' ||
			c == ',' || c == ';' || c == '=':
			return false
		case c == '/' || c == '\\':
			sep = true
			last = i + 1
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			letter = true
		}
	}
	name := b[last:]
	if !letter || len(name) == 0 {
		return false
	}
	if sep {
		return true
	}
	if d := bytes.LastIndexByte(name, '.'); d >= 0 {
		ext := name[d+1:]
		if len(ext) == 0 || len(ext) > 10 {
			return false
		}
		extLetter := false
		for _, c := range ext {
			switch {
			case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
				extLetter = true
			case c >= '0' && c <= '9' || c == '_' || c == '-' || c == '+':
			default:
				return false
			}
		}
		return extLetter && (d > 0 || len(name) > 1)
	}
	for _, n := range bareNames {
		if abi.EqualFold(name, n) {
			return true
		}
	}
	return false
}
