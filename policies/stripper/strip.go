package main

import (
	"bytes"
	"slices"

	"github.com/aigateway/gateway/abi"
)

// edit replaces text[start:end] with repl.
type edit struct {
	start, end int
	repl       []byte
}

type span struct{ start, end int }

// item is a remembered paragraph or block, with its hash for quick lookup.
type item struct {
	hash uint64
	b    []byte
}

// section is one "# Header" section of an <environment_details> block;
// bodyStart is the offset of body in its message's text.
type section struct {
	header, body []byte
	bodyStart    int
}

// stripper holds the per-request state; its slices are reused across calls.
type stripper struct {
	text      []byte // the message being stripped
	edits     []edit
	fences    []span
	fenced    bool   // fences computed for text
	paras     []item // paragraphs of earlier system messages
	newParas  []item // paragraphs of the current message
	blocks    []item // IDE instruction blocks of earlier messages
	newBlocks []item // IDE instruction blocks of the current message
	env       []section
	envTmp    []section
	out       []byte
}

var st stripper

func hash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func seen(list []item, b []byte) bool {
	h := hash(b)
	for i := range list {
		if list[i].hash == h && bytes.Equal(list[i].b, b) {
			return true
		}
	}
	return false
}

// fenceSpans records the code fences of text: ``` or ~~~ at the start of a
// line (indented by at most three spaces) open and close a block, which is
// never edited.
func (s *stripper) fenceSpans(text []byte) {
	s.fences = s.fences[:0]
	open := -1
	var marker byte
	for i := 0; i < len(text); {
		k, c := nextFence(text[i:])
		if k < 0 {
			break
		}
		at := i + k
		i = at + 3
		if !lineStart(text, at) {
			continue
		}
		end := len(text)
		if nl := bytes.IndexByte(text[at:], '\n'); nl >= 0 {
			end = at + nl + 1
		}
		if open < 0 {
			open, marker = lineBegin(text, at), c
		} else if c == marker {
			s.fences = append(s.fences, span{open, end})
			open = -1
		}
		i = end
	}
	if open >= 0 {
		s.fences = append(s.fences, span{open, len(text)})
	}
}

// nextFence returns the offset of the first ``` or ~~~ in b and its byte.
func nextFence(b []byte) (int, byte) {
	k1 := bytes.Index(b, []byte("```"))
	if bytes.IndexByte(b, '~') < 0 {
		return k1, '`'
	}
	k2 := bytes.Index(b, []byte("~~~"))
	if k1 < 0 || (k2 >= 0 && k2 < k1) {
		return k2, '~'
	}
	return k1, '`'
}

// lineStart reports whether only up to three spaces precede text[at] on its
// line.
func lineStart(text []byte, at int) bool {
	for n := 0; n <= 3; n++ {
		if at-n == 0 || text[at-n-1] == '\n' {
			return true
		}
		if text[at-n-1] != ' ' {
			return false
		}
	}
	return false
}

func lineBegin(text []byte, at int) int {
	for at > 0 && text[at-1] != '\n' {
		at--
	}
	return at
}

func (s *stripper) inFence(start, end int) bool {
	if !s.fenced {
		// Lazily: most messages have no edit candidate at all.
		s.fenceSpans(s.text)
		s.fenced = true
	}
	for _, f := range s.fences {
		if start < f.end && f.start < end {
			return true
		}
	}
	return false
}

func (s *stripper) add(start, end int, repl []byte) {
	if start < end && !s.inFence(start, end) {
		s.edits = append(s.edits, edit{start, end, repl})
	}
}

// skipNewline returns i advanced past one "\n" (or "\r\n").
func skipNewline(text []byte, i int) int {
	if i < len(text) && text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
		return i + 2
	}
	if i < len(text) && text[i] == '\n' {
		return i + 1
	}
	return i
}

// blockEnd extends the removal of a block [start, end) over its line break,
// and over the blank lines after it when a blank line precedes it, so that
// removing it leaves no extra blank line behind.
func blockEnd(text []byte, start, end int) int {
	end = skipNewline(text, end)
	if start == 0 || (start >= 2 && text[start-1] == '\n' && text[start-2] == '\n') {
		for end < len(text) && (text[end] == '\n' || text[end] == '\r') {
			end++
		}
	}
	return end
}

var simpleMarkers = [][]byte{
	[]byte("<|im_end|>"), []byte("<|eot_id|>"), []byte("<|begin_of_text|>"), []byte("<|end_of_text|>"),
	[]byte("<|endoftext|>"), []byte("<|im_sep|>"), []byte("<|end|>"), []byte("<|user|>"),
	[]byte("<|assistant|>"), []byte("<|system|>"),
}

var (
	imStart     = []byte("<|im_start|>")
	headerStart = []byte("<|start_header_id|>")
	headerEnd   = []byte("<|end_header_id|>")
)

func roleWord(text []byte, i int) int {
	for i < len(text) && text[i] >= 'a' && text[i] <= 'z' {
		i++
	}
	return i
}

// marker returns the end of the chat-template special token (with the line
// break after it) that starts at text[i], or 0.
func marker(text []byte, i int) int {
	rest := text[i:]
	switch {
	case bytes.HasPrefix(rest, imStart):
		return skipNewline(text, roleWord(text, i+len(imStart)))
	case bytes.HasPrefix(rest, headerStart):
		j := roleWord(text, i+len(headerStart))
		if bytes.HasPrefix(text[j:], headerEnd) {
			return skipNewline(text, skipNewline(text, j+len(headerEnd)))
		}
		return 0
	}
	for _, m := range simpleMarkers {
		if bytes.HasPrefix(rest, m) {
			return skipNewline(text, i+len(m))
		}
	}
	return 0
}

// Tag kinds: which rules apply to a known IDE tag.
const (
	tagEmpty  = 1 << iota // removed when it holds only whitespace
	tagRepeat             // removed when identical to an earlier block
	tagEnv                // Cline's environment block
)

// ideTags are the IDE tags the stripper knows, with the rules that apply to
// each; any other tag is left alone. The trigger lists them too.
var ideTags = [...]struct {
	name string
	kind int
}{
	{"attached_files", tagEmpty}, {"additional_data", tagEmpty}, {"linter_errors", tagEmpty},
	{"manually_added_selection", tagEmpty}, {"recently_viewed_files", tagEmpty},
	{"open_and_recently_viewed_files", tagEmpty}, {"open_files", tagEmpty}, {"attachments", tagEmpty},
	{"context", tagEmpty}, {"editorContext", tagEmpty}, {"git_status", tagEmpty}, {"terminal_output", tagEmpty},
	{"diagnostics", tagEmpty}, {"problems", tagEmpty}, {"selection", tagEmpty}, {"current_file", tagEmpty},
	{"file_contents", tagEmpty}, {"related_files", tagEmpty},
	{"cursor_rules", tagEmpty | tagRepeat}, {"user_rules", tagEmpty | tagRepeat}, {"project_rules", tagEmpty | tagRepeat},
	{"rules", tagEmpty | tagRepeat}, {"custom_instructions", tagEmpty | tagRepeat}, {"memories", tagEmpty | tagRepeat},
	{"reminder", tagEmpty | tagRepeat}, {"instructions", tagEmpty | tagRepeat}, {"repoContext", tagEmpty | tagRepeat},
	{"workspace_info", tagEmpty | tagRepeat}, {"user_info", tagEmpty | tagRepeat},
	{"reminderInstructions", tagRepeat}, {"system-reminder", tagRepeat},
	{"environment_details", tagEmpty | tagEnv},
}

// tagKind classifies the IDE tags the stripper knows; any other tag is
// left alone.
func tagKind(name []byte) int {
	for _, t := range ideTags {
		if string(name) == t.name {
			return t.kind
		}
	}
	return 0
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func isTagByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
}

// closeTag returns the offset in text of "</name>" at or after i, or -1.
func closeTag(text, name []byte, i int) int {
	for {
		k := bytes.Index(text[i:], []byte("</"))
		if k < 0 {
			return -1
		}
		at := i + k
		rest := text[at+2:]
		if len(rest) > len(name) && bytes.Equal(rest[:len(name)], name) && rest[len(name)] == '>' {
			return at
		}
		i = at + 2
	}
}

// scan visits every '<' of text once: chat-template markers ("<|…|>") are
// removed; blocks "<name>…</name>" of known IDE tags get the empty-section,
// repeated-block and environment rules. Nested tags are visited too.
func (s *stripper) scan(text []byte) {
	for i := 0; ; {
		k := bytes.IndexByte(text[i:], '<')
		if k < 0 {
			return
		}
		start := i + k
		i = start + 1
		if i < len(text) && text[i] == '|' {
			if end := marker(text, start); end > 0 {
				s.add(start, end, nil)
				i = end
			}
			continue
		}
		j := i
		for j < len(text) && isTagByte(text[j]) {
			j++
		}
		if j == i || j >= len(text) || text[j] != '>' {
			continue
		}
		name := text[i:j]
		kind := tagKind(name)
		if kind == 0 {
			continue
		}
		cs := j + 1
		ce := closeTag(text, name, cs)
		if ce < 0 {
			continue
		}
		end := ce + len(name) + 3
		content := text[cs:ce]
		switch {
		case kind&tagEmpty != 0 && blank(content):
			s.add(start, blockEnd(text, start, end), nil)
		case kind&tagRepeat != 0 && len(text[start:end]) >= 64:
			b := text[start:end]
			if seen(s.blocks, b) || seen(s.newBlocks, b) {
				s.add(start, blockEnd(text, start, end), nil)
			} else {
				s.newBlocks = append(s.newBlocks, item{hash(b), b})
			}
		case kind&tagEnv != 0:
			s.environment(text, cs, ce)
		}
	}
}

// unchanged replaces an environment section that did not change.
var unchanged = []byte("(unchanged)")

// envSections splits text[cs:ce], the content of an <environment_details>
// block, into its "# Header" sections.
func envSections(text []byte, cs, ce int, dst []section) []section {
	dst = dst[:0]
	for i := cs; i < ce; {
		end := ce
		if k := bytes.IndexByte(text[i:ce], '\n'); k >= 0 {
			end = i + k + 1
		}
		if bytes.HasPrefix(text[i:end], []byte("# ")) {
			dst = append(dst, section{header: text[i:end], body: text[end:end], bodyStart: end})
		} else if len(dst) > 0 {
			last := &dst[len(dst)-1]
			last.body = text[last.bodyStart:end]
		}
		i = end
	}
	return dst
}

func trimRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// environment replaces each section of the <environment_details> block
// text[cs:ce] that is identical to the same section of the previous block by
// "(unchanged)".
func (s *stripper) environment(text []byte, cs, ce int) {
	s.envTmp = envSections(text, cs, ce, s.envTmp)
	for _, sec := range s.envTmp {
		body := trimRight(sec.body)
		if len(body) <= 2*len(unchanged) {
			continue
		}
		for _, prev := range s.env {
			if bytes.Equal(prev.header, sec.header) && bytes.Equal(trimRight(prev.body), body) {
				s.add(sec.bodyStart, sec.bodyStart+len(body), unchanged)
				break
			}
		}
	}
	s.env, s.envTmp = s.envTmp, s.env
}

// paragraphs removes system-prompt paragraphs repeated verbatim. When no
// paragraph with content (more than a markdown heading) would remain, the
// message is a deliberate reminder (Aider repeats its rules at the end for
// recency) and is left alone.
func (s *stripper) paragraphs(text []byte) {
	first := len(s.edits)
	kept := 0
	for i := 0; i < len(text); {
		sep := bytes.Index(text[i:], []byte("\n\n"))
		end, next := len(text), len(text)
		if sep >= 0 {
			end = i + sep
			next = end
			for next < len(text) && text[next] == '\n' {
				next++
			}
		}
		p := text[i:end]
		if len(p) >= 80 && !s.inFence(i, end) && (seen(s.paras, p) || seen(s.newParas, p)) {
			if next == len(text) && i > 0 {
				// The last paragraph: remove the separator before it.
				j := i
				for j > 0 && text[j-1] == '\n' {
					j--
				}
				s.add(j, len(text), nil)
			} else {
				s.add(i, next, nil)
			}
		} else if !blank(p) && !heading(p) {
			kept++
			if len(p) >= 80 {
				s.newParas = append(s.newParas, item{hash(p), p})
			}
		}
		i = next
	}
	if kept == 0 {
		s.edits = s.edits[:first]
	}
}

// heading reports whether p is a single markdown heading line.
func heading(p []byte) bool {
	return len(p) > 0 && p[0] == '#' && bytes.IndexByte(p, '\n') < 0
}

var continueLine = [][]byte{[]byte("You are Continue.ai.\n"), []byte("You are Continue.\n")}

// apply returns text with the non-overlapping edits applied (an edit that
// overlaps an earlier one is dropped).
func (s *stripper) apply(text []byte) []byte {
	slices.SortStableFunc(s.edits, func(a, b edit) int { return a.start - b.start })
	out := s.out[:0]
	pos := 0
	for _, e := range s.edits {
		if e.start < pos {
			continue
		}
		out = append(out, text[pos:e.start]...)
		out = append(out, e.repl...)
		pos = e.end
	}
	out = append(out, text[pos:]...)
	s.out = out
	return out
}

// collapse replaces runs of three or more newlines outside code fences by
// two, in place.
func (s *stripper) collapse(text []byte) []byte {
	s.fenceSpans(text)
	out := text[:0]
	for i := 0; i < len(text); {
		if text[i] == '\n' {
			j := i
			for j < len(text) && text[j] == '\n' {
				j++
			}
			if j-i >= 3 && !s.inFence(i, j) {
				out = append(out, '\n', '\n')
			} else {
				out = append(out, text[i:j]...)
			}
			i = j
			continue
		}
		out = append(out, text[i])
		i++
	}
	return out
}

// strip returns the stripped form of one message's text (text itself when
// nothing changes, else aliasing s.out) and remembers what later messages
// compare against: only the message and those before it decide its result.
func (s *stripper) strip(role, text []byte) []byte {
	system := string(role) == "system" || string(role) == "developer"
	s.text, s.fenced = text, false
	s.edits, s.newBlocks, s.newParas = s.edits[:0], s.newBlocks[:0], s.newParas[:0]
	s.scan(text)
	if system {
		for _, l := range continueLine {
			if bytes.HasPrefix(text, l) {
				s.add(0, len(l), nil)
				break
			}
		}
		s.paragraphs(text)
	}
	s.blocks = append(s.blocks, s.newBlocks...)
	s.paras = append(s.paras, s.newParas...)
	out := text
	if len(s.edits) > 0 {
		out = s.apply(text)
	}
	if system && bytes.Contains(out, []byte("\n\n\n")) {
		if len(s.edits) == 0 {
			out = append(s.out[:0], text...)
		}
		out = s.collapse(out)
		s.out = out
	}
	return out
}

var (
	tagBytes  = []byte("stripper.bytes_removed")
	tagTokens = []byte("stripper.tokens_removed")
)

// triggerSpec is the stripper's trigger (ABI v1.2): a request none of whose
// rules match is one the stripper would leave unchanged, so the host does
// not call it. Every edit comes from one of them:
//
//   - a chat-template marker ("<|…") or a known IDE tag ("<name>") in a
//     system, developer or user message (scan);
//   - a system prompt that starts with "You are Continue." (continueLine);
//   - a run of blank lines in a system prompt (collapse: "\n\n\n");
//   - a system paragraph of at least 80 bytes seen before (paragraphs):
//     two of them make at least 160 bytes of system text.
func triggerSpec() []byte {
	b := []byte(`{"any":[{"roles":["system","developer","user"],"contains":["<|"`)
	for _, t := range ideTags {
		b = append(b, `,"<`...)
		b = append(b, t.name...)
		b = append(b, `>"`...)
	}
	b = append(b, `]},`...)
	b = append(b, `{"roles":["system","developer"],"prefix":["You are Continue."]},`...)
	b = append(b, `{"roles":["system","developer"],"contains":["\n\n\n"]},`...)
	b = append(b, `{"roles":["system","developer"],"min_bytes":160}]}`...)
	return b
}

// configure is the self-check: the stripper has no settings (any config is
// ignored); it declares its trigger.
func configure(c *abi.Call) abi.Status {
	if st := c.SetTrigger(triggerSpec()); st != abi.StatusOK {
		return c.Fail("stripper: trigger refused")
	}
	return abi.StatusOK
}

func onRequest(c *abi.Call) abi.Status {
	s := &st
	s.paras, s.blocks, s.env = s.paras[:0], s.blocks[:0], s.env[:0]
	removed := 0
	n := c.MessageCount()
	for i := 0; i < n; i++ {
		role := c.Role(i)
		switch string(role) {
		case "system", "developer", "user":
		default:
			continue
		}
		text := c.Text(i)
		out := s.strip(role, text)
		if len(out) == len(text) && (len(out) == 0 || &out[0] == &text[0] || bytes.Equal(out, text)) {
			continue
		}
		// The host refuses edits that would split or carry invalid UTF-8;
		// a message that holds some is left as it is.
		if c.SetText(i, out) == abi.StatusOK {
			removed += len(text) - len(out)
		}
	}
	if removed > 0 {
		// The gateway credits the saving by what is reported; the tags are
		// for the access log.
		c.ReportRemoved(abi.RemovedBoilerplate, removed)
		c.TagInt(tagBytes, int64(removed))
		c.TagInt(tagTokens, int64((removed+3)/4))
	}
	return abi.StatusOK
}
