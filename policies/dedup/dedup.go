package main

import (
	"bytes"
	"hash/maphash"
	"unicode/utf8"

	"github.com/aigateway/gateway/abi"
)

// config is the policy's settings, immutable once configure accepted them.
type config struct {
	minBytes    int  // smallest content (bytes) worth a reference
	files       bool // dedup file blocks
	toolResults bool // dedup whole tool results
}

const (
	defaultMinBytes = 512
	maxMinBytes     = 16 << 20
)

var cfg = defaultConfig()

func defaultConfig() config {
	return config{minBytes: defaultMinBytes, files: true, toolResults: true}
}

// configure parses {"min_bytes": N, "files": bool, "tool_results": bool};
// unknown keys are refused.
func configure(raw []byte) string {
	c := defaultConfig()
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		cfg = c
		return ""
	}
	if !abi.JSONValid(raw) {
		return "dedup: config must be a JSON object"
	}
	msg := ""
	ok := abi.JSONObjectEach(bytes.TrimSpace(raw), func(k, v []byte) bool {
		switch string(k) {
		case "min_bytes":
			n, ok := abi.JSONInt(v)
			if !ok || n < 0 || n > maxMinBytes {
				msg = "dedup: min_bytes must be an integer from 0 to 16777216"
				return false
			}
			c.minBytes = int(n)
		case "files", "tool_results":
			b, ok := abi.JSONBool(v)
			if !ok {
				msg = "dedup: " + string(k) + " must be a boolean"
				return false
			}
			if string(k) == "files" {
				c.files = b
			} else {
				c.toolResults = b
			}
		default:
			msg = "dedup: unknown config key \"" + string(k) + "\" (known: min_bytes, files, tool_results)"
			return false
		}
		return true
	})
	if msg != "" {
		return msg
	}
	if !ok {
		return "dedup: config must be a JSON object"
	}
	cfg = c
	return ""
}

// triggerSpec is dedup's trigger (ABI v1.2) for config c. A replacement
// needs two copies of a content of at least min_bytes (m below), each a
// whole tool result or a file block (findBlocks), so a request that matches
// neither rule has nothing to replace:
//
//   - two file blocks: each has an opening and a closing line, a fence
//     ("```", "~~~") or a tag ("<file_content", "</file_content>"), so the
//     texts hold at least four of these, and at least 2m bytes;
//   - a tool result involved: a tool message of at least m bytes.
func triggerSpec(c config) []byte {
	m := int64(max(c.minBytes, 1))
	b := []byte(`{"any":[`)
	if c.files {
		b = append(b, `{"contains":["`+"```"+`","~~~"`...)
		for _, t := range blockTags {
			b = append(b, `,"<`...)
			b = append(b, t.name...)
			b = append(b, `","</`...)
			b = append(b, t.name...)
			b = append(b, `>"`...)
		}
		b = append(b, `],"min_count":4,"min_bytes":`...)
		b = abi.AppendInt(b, 2*m)
		b = append(b, '}')
	}
	if c.toolResults {
		if c.files {
			b = append(b, ',')
		}
		b = append(b, `{"roles":["tool","function"],"min_bytes":`...)
		b = abi.AppendInt(b, m)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// configureCall is the self-check export's handler: configure, then the
// trigger for the accepted config.
func configureCall(c *abi.Call) abi.Status {
	if msg := configure(c.Config()); msg != "" {
		return c.Fail(msg)
	}
	if st := c.SetTrigger(triggerSpec(cfg)); st != abi.StatusOK {
		return c.Fail("dedup: trigger refused")
	}
	return abi.StatusOK
}

// seen is the first occurrence of a content in this request.
type seen struct {
	msg          int // message index
	cStart, cEnd int // the content in that message's text
	pStart, pEnd int // its path, if any
	oStart, oEnd int // its opening fence line (oStart == oEnd: not fenced)
	next         int32
	// sum is the first 4 bytes of the content's SHA-256, computed at the
	// first repeat and reused by the later ones.
	sum    [4]byte
	hashed bool
}

// state is reused from call to call: an instance runs one call at a time.
type state struct {
	seen   []seen
	heads  map[uint64]int32 // content key -> first entry in seen, chained by next
	blocks []block
	ref    []byte
	files  int
	chars  int // runes removed, for the log tag
	bytes  int // bytes removed, reported to the gateway
}

var shared = &state{heads: make(map[uint64]int32)}

func (s *state) reset() {
	s.seen = s.seen[:0]
	clear(s.heads)
	s.files, s.chars, s.bytes = 0, 0, 0
}

// seed keys the content hash. Equal keys are confirmed by comparing the
// bytes, so the hash only has to spread (maphash: the runtime's hash, eight
// bytes a step) and a collision costs a comparison, never a wrong edit.
var seed = maphash.MakeSeed()

func key(b []byte) uint64 { return maphash.Bytes(seed, b) }

// lookup returns the earlier occurrence of content, or -1.
func (s *state) lookup(c *abi.Call, content []byte, k uint64) int {
	h, ok := s.heads[k]
	if !ok {
		return -1
	}
	for i := h; i >= 0; i = s.seen[i].next {
		e := &s.seen[i]
		if bytes.Equal(c.Text(e.msg)[e.cStart:e.cEnd], content) {
			return int(i)
		}
	}
	return -1
}

func (s *state) add(k uint64, e seen) {
	e.next = -1
	if h, ok := s.heads[k]; ok {
		e.next = h
	}
	s.heads[k] = int32(len(s.seen))
	s.seen = append(s.seen, e)
}

var (
	roleAssistant = []byte("assistant")
	roleTool      = []byte("tool")
	toolOutput    = []byte("tool output")
	tagChars      = []byte("dedup.removed_chars")
	tagFiles      = []byte("dedup.files")
)

// onRequest replaces every later, unchanged copy of a file or tool output
// with a reference to its first copy in the same request.
//
// Messages are read in order and each one's result depends only on it and
// the messages before it: what a provider cached of the previous turn's
// prefix stays byte-identical. The first copy is never edited, assistant
// messages are never edited (the model would learn to answer with
// references), and neither are messages with images (an edit would move
// them after the text).
func onRequest(c *abi.Call) abi.Status {
	if c.Features()&abi.FeatureEdits == 0 || (!cfg.files && !cfg.toolResults) {
		return abi.StatusOK
	}
	s := shared
	s.reset()
	n := c.MessageCount()
	for i := 0; i < n; i++ {
		text := c.Text(i)
		if len(text) < cfg.minBytes || len(text) == 0 {
			continue
		}
		flags := c.MessageFlags(i)
		role := c.Role(i)
		editable := !bytes.Equal(role, roleAssistant) && flags&abi.MsgImage == 0
		if cfg.toolResults && (flags&abi.MsgToolResult != 0 || bytes.Equal(role, roleTool)) {
			b := block{start: 0, end: len(text), cStart: 0, cEnd: len(text)}
			if done, st := s.visit(c, i, text, b, editable); st != abi.StatusOK {
				return st
			} else if done {
				continue // the whole result is a reference now: nothing left inside
			}
		}
		if !cfg.files {
			continue
		}
		s.blocks = findBlocks(text, s.blocks)
		for _, b := range s.blocks {
			if _, st := s.visit(c, i, text, b, editable); st != abi.StatusOK {
				return st
			}
		}
	}
	if s.files > 0 {
		// The gateway credits the saving by what is reported; the tags are
		// for the access log.
		if s.bytes > 0 {
			c.ReportRemoved(abi.RemovedDuplicate, s.bytes)
		}
		c.TagInt(tagChars, int64(s.chars))
		c.TagInt(tagFiles, int64(s.files))
	}
	return abi.StatusOK
}

// visit registers block b of message i as a first occurrence, or replaces
// it with a reference when an earlier copy exists and the message may be
// edited. It reports whether it replaced b.
func (s *state) visit(c *abi.Call, i int, text []byte, b block, editable bool) (bool, abi.Status) {
	// Trailing line breaks are layout, not content: a file read by a tool
	// ends with one, the same file in a fence does not.
	ce := b.cEnd
	for ce > b.cStart && (text[ce-1] == '\n' || text[ce-1] == '\r') {
		ce--
	}
	content := text[b.cStart:ce]
	if len(content) < cfg.minBytes || len(content) == 0 {
		return false, abi.StatusOK
	}
	k := key(content)
	j := s.lookup(c, content, k)
	if j < 0 {
		s.add(k, seen{msg: i, cStart: b.cStart, cEnd: ce, pStart: b.pStart, pEnd: b.pEnd, oStart: b.start, oEnd: max(b.start, b.cStart-1)})
		return false, abi.StatusOK
	}
	if !editable {
		return false, abi.StatusOK
	}
	first := &s.seen[j]
	label := toolOutput
	if b.pEnd > b.pStart {
		label = text[b.pStart:b.pEnd]
	}
	var earlier []byte
	if first.pEnd > first.pStart {
		earlier = c.Text(first.msg)[first.pStart:first.pEnd]
	}
	if !first.hashed {
		sum := sum256(content)
		first.sum, first.hashed = [4]byte(sum[:4]), true
	}
	s.ref = appendRef(s.ref[:0], label, earlier, first.sum, first.msg)
	if b.cStart > b.start && b.end > ce && !bytes.Equal(text[b.start:b.cStart-1], c.Text(first.msg)[first.oStart:first.oEnd]) {
		// The fences differ (```go against ```): keep this copy's fence
		// lines and replace only the contents, so that the reference reads
		// as exactly what it replaced.
		b.start, b.end = b.cStart, ce
	}
	old := text[b.start:b.end]
	if len(s.ref) >= len(old) {
		return false, abi.StatusOK // a reference would not be shorter
	}
	if (b.start < len(text) && !utf8.RuneStart(text[b.start])) || (b.end < len(text) && !utf8.RuneStart(text[b.end])) {
		return false, abi.StatusOK // invalid UTF-8 at an edge: the host would refuse the range
	}
	if st := c.Replace(i, b.start, b.end, s.ref); st != abi.StatusOK {
		return false, c.Fail("dedup: could not replace a repeated block")
	}
	s.files++
	s.chars += utf8.RuneCount(old) - utf8.RuneCount(s.ref)
	s.bytes += len(old) - len(s.ref)
	return true, abi.StatusOK
}

const hexDigits = "0123456789abcdef"

// appendRef appends the reference that replaces a repeated content:
//
//	[unchanged: src/x.go (sha256 1a2b3c4d…), identical to the copy in message 3]
//
// label names the repeated copy (its path, or "tool output"); earlier is
// the first copy's path when it differs; sum starts the content's SHA-256;
// msg is the first copy's index (counted from 1 in the text, as a reader
// counts).
func appendRef(dst, label, earlier []byte, sum [4]byte, msg int) []byte {
	dst = append(dst, "[unchanged: "...)
	dst = append(dst, label...)
	dst = append(dst, " (sha256 "...)
	for _, b := range sum {
		dst = append(dst, hexDigits[b>>4], hexDigits[b&15])
	}
	dst = append(dst, "…), identical to "...)
	if len(earlier) > 0 && !bytes.Equal(earlier, label) {
		dst = append(dst, earlier...)
	} else {
		dst = append(dst, "the copy"...)
	}
	dst = append(dst, " in message "...)
	dst = abi.AppendInt(dst, int64(msg+1))
	return append(dst, ']')
}
