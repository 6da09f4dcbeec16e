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
	edits     []edit
	fences    []span
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

// fenceSpans records the code fences of text: ``` or ~~~ lines (indented by
// at most three spaces) open and close a block, which is never edited.
func (s *stripper) fenceSpans(text []byte) {
	s.fences = s.fences[:0]
	open := -1
	var marker byte
	for i := 0; i < len(text); {
		end := bytes.IndexByte(text[i:], '\n')
		if end < 0 {
			end = len(text)
		} else {
			end += i + 1
		}
		line := text[i:end]
		j := 0
		for j < 3 && j < len(line) && line[j] == ' ' {
			j++
		}
		if len(line)-j >= 3 && (line[j] == '`' || line[j] == '~') && line[j+1] == line[j] && line[j+2] == line[j] {
			if open < 0 {
				open, marker = i, line[j]
			} else if line[j] == marker {
				s.fences = append(s.fences, span{open, end})
				open = -1
			}
		}
		i = end
	}
	if open >= 0 {
		s.fences = append(s.fences, span{open, len(text)})
	}
}

func (s *stripper) inFence(start, end int) bool {
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

// markers removes chat-template special tokens that leaked into text.
func (s *stripper) markers(text []byte) {
	for i := 0; ; {
		k := bytes.Index(text[i:], []byte("<|"))
		if k < 0 {
			return
		}
		i += k
		rest := text[i:]
		end := 0
		switch {
		case bytes.HasPrefix(rest, imStart):
			end = skipNewline(text, roleWord(text, i+len(imStart)))
		case bytes.HasPrefix(rest, headerStart):
			j := roleWord(text, i+len(headerStart))
			if bytes.HasPrefix(text[j:], headerEnd) {
				end = skipNewline(text, skipNewline(text, j+len(headerEnd)))
			}
		default:
			for _, m := range simpleMarkers {
				if bytes.HasPrefix(rest, m) {
					end = skipNewline(text, i+len(m))
					break
				}
			}
		}
		if end > i {
			s.add(i, end, nil)
			i = end
		} else {
			i += 2
		}
	}
}

// emptyTags are context sections IDEs send even when they have nothing in
// them.
var emptyTags = []string{
	"attached_files", "additional_data", "linter_errors", "manually_added_selection",
	"recently_viewed_files", "open_and_recently_viewed_files", "open_files", "cursor_rules",
	"user_rules", "project_rules", "rules", "memories", "custom_instructions", "attachments",
	"context", "editorContext", "repoContext", "workspace_info", "reminder", "instructions",
	"environment_details", "git_status", "terminal_output", "diagnostics", "problems",
	"selection", "current_file", "file_contents", "related_files", "user_info",
}

// repeatTags are IDE instruction blocks that clients resend verbatim.
var repeatTags = []string{
	"cursor_rules", "user_rules", "project_rules", "rules", "custom_instructions",
	"memories", "reminder", "instructions", "reminderInstructions", "system-reminder",
	"repoContext", "workspace_info", "user_info",
}

// tagBlock finds the next "<name>…</name>" block at or after i, returning
// its span and the span of its content.
func tagBlock(text []byte, name string, i int) (start, end, cStart, cEnd int, ok bool) {
	for {
		k := bytes.Index(text[i:], []byte("<"+name+">"))
		if k < 0 {
			return 0, 0, 0, 0, false
		}
		start = i + k
		cStart = start + len(name) + 2
		c := bytes.Index(text[cStart:], []byte("</"+name+">"))
		if c < 0 {
			return 0, 0, 0, 0, false
		}
		cEnd = cStart + c
		return start, cEnd + len(name) + 3, cStart, cEnd, true
	}
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func (s *stripper) emptySections(text []byte) {
	for _, name := range emptyTags {
		for i := 0; ; {
			start, end, cs, ce, ok := tagBlock(text, name, i)
			if !ok {
				break
			}
			if blank(text[cs:ce]) {
				s.add(start, blockEnd(text, start, end), nil)
			}
			i = end
		}
	}
}

// repeatedBlocks removes an instruction block identical to one seen before
// in this request (in an earlier message or earlier in this one).
func (s *stripper) repeatedBlocks(text []byte) {
	for _, name := range repeatTags {
		for i := 0; ; {
			start, end, cs, ce, ok := tagBlock(text, name, i)
			if !ok {
				break
			}
			b := text[start:end]
			if !blank(text[cs:ce]) && len(b) >= 64 {
				if seen(s.blocks, b) || seen(s.newBlocks, b) {
					s.add(start, blockEnd(text, start, end), nil)
				} else {
					s.newBlocks = append(s.newBlocks, item{hash(b), b})
				}
			}
			i = end
		}
	}
}

var (
	envTag    = "environment_details"
	unchanged = []byte("(unchanged)")
)

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

// environment replaces each section of an <environment_details> block that
// is identical to the same section of the previous block by "(unchanged)".
func (s *stripper) environment(text []byte) {
	for i := 0; ; {
		_, end, cs, ce, ok := tagBlock(text, envTag, i)
		if !ok {
			return
		}
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
		i = end
	}
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

// strip returns the stripped form of one message's text (aliasing s.out)
// and remembers what later messages compare against: only the message and
// those before it decide its result.
func (s *stripper) strip(role, text []byte) []byte {
	system := string(role) == "system" || string(role) == "developer"
	s.edits, s.newBlocks, s.newParas = s.edits[:0], s.newBlocks[:0], s.newParas[:0]
	s.fenceSpans(text)
	s.markers(text)
	s.emptySections(text)
	s.repeatedBlocks(text)
	s.environment(text)
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
	out := s.apply(text)
	if system {
		out = s.collapse(out)
		s.out = out
	}
	return out
}

var (
	tagBytes  = []byte("stripper.bytes_removed")
	tagTokens = []byte("stripper.tokens_removed")
)

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
		if bytes.Equal(out, text) {
			continue
		}
		// The host refuses edits that would split or carry invalid UTF-8;
		// a message that holds some is left as it is.
		if c.SetText(i, out) == abi.StatusOK {
			removed += len(text) - len(out)
		}
	}
	if removed > 0 {
		c.TagInt(tagBytes, int64(removed))
		c.TagInt(tagTokens, int64((removed+3)/4))
	}
	return abi.StatusOK
}
