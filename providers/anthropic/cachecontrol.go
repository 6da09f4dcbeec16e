package anthropic

import (
	"hash/maphash"
	"sort"
	"strings"
	"sync"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
)

// Prompt-cache breakpoints (Config.CacheControl).
//
// Anthropic caches the prompt prefix — tools, then system, then messages —
// up to and including each block marked with cache_control, at most
// MaxBreakpoints per request, and only when that prefix reaches the model's
// minimum cacheable length
// (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching).
// The gateway adds breakpoints to the Messages body after it is written,
// by inserting the cache_control member into existing block objects: no
// byte of the body moves relative to its neighbours except by the inserted
// members, so prefixes stay byte-stable from one turn to the next.
//
// Where they go, in priority order while free slots remain:
//
//  1. the last block of the final user turn, when the conversation already
//     has an assistant turn (a chat or an agent loop): next turn's request is
//     this one plus the answer plus new input, so the whole of this request
//     is the prefix that repeats ("mark the final block of the final message
//     so the conversation can be incrementally cached", Anthropic's docs);
//  2. the last system block: shared by every conversation with the same
//     tools and system prompt;
//  3. the last tool definition: shared by every request with the same tools
//     even when the system prompt varies (dates, working directories);
//  4. the last block of the previous user turn, where the previous request
//     put breakpoint 1: it guarantees that this request reads that entry
//     even when more than ~20 blocks (Anthropic's look-back window) were
//     added since, which parallel tool calls easily do.
//
// A one-shot request (no assistant turn yet) gets no conversation
// breakpoint: most such traffic (autocomplete, classification) is never
// continued, and a write costs 1.25× the input price. Each breakpoint needs
// its estimated prefix (bytes/4, see estimate) to reach the model's minimum.
// The client's own breakpoints count toward the four and are never moved;
// on the passthrough path breakpoints are added only when the client set
// none. A breakpoint is never placed before a client breakpoint whose ttl is
// not the default 5m (Anthropic requires longer TTLs to come first). With
// the prefix ledger, added breakpoints may carry "ttl":"1h" where the
// session's pauses or the client's recurring sessions make it pay
// (gaps.go); then the 1-hour ones come first.

// MaxBreakpoints is the number of cache_control blocks Anthropic accepts in
// one request.
const MaxBreakpoints = 4

// Inserted text.
const (
	ccMember      = `"cache_control":{"type":"ephemeral"}`
	ccMemberComma = `,"cache_control":{"type":"ephemeral"}`
	ccWrapOpen    = `[{"type":"text","text":`
	ccWrapClose   = `,"cache_control":{"type":"ephemeral"}}]`
	// The 1-hour TTL (gaps.go): the same with "ttl":"1h"
	// (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching,
	// "1-hour cache duration").
	ccMemberHour      = `"cache_control":{"type":"ephemeral","ttl":"1h"}`
	ccMemberCommaHour = `,"cache_control":{"type":"ephemeral","ttl":"1h"}`
	ccWrapCloseHour   = `,"cache_control":{"type":"ephemeral","ttl":"1h"}}]`
)

// Minimum cacheable prompt lengths, in tokens. Anthropic's documented
// figures are 1024 for Opus and Sonnet models and 2048 for Haiku 3 and 3.5;
// later pages raised Opus 4.5, Opus 4.6 and Haiku 4.5 to 4096.
const (
	DefaultMinCacheTokens = 1024
	HaikuMinCacheTokens   = 2048
)

// builtinMinTokens is the per-model table, by model-name prefix. Models it
// does not name get HaikuMinCacheTokens when their name says haiku, else
// DefaultMinCacheTokens. A breakpoint under the real minimum costs nothing
// (Anthropic processes the request without caching, without an error), so
// where sources disagree the lower figure is used.
var builtinMinTokens = []minTokens{
	{"claude-3-haiku", 2048},
	{"claude-3-5-haiku", 2048},
	{"claude-haiku-4-5", 4096},
	{"claude-opus-4-5", 4096},
	{"claude-opus-4-6", 4096},
}

type minTokens struct {
	prefix string
	tokens int
}

// minTable resolves a model's minimum cacheable length: entries sorted by
// descending prefix length, so the first match is the longest.
type minTable []minTokens

func newMinTable(overrides map[string]int) minTable {
	t := make(minTable, 0, len(builtinMinTokens)+len(overrides))
	for _, m := range builtinMinTokens {
		if _, ok := overrides[m.prefix]; !ok {
			t = append(t, m)
		}
	}
	for p, n := range overrides {
		t = append(t, minTokens{p, n})
	}
	sort.Slice(t, func(i, j int) bool {
		if len(t[i].prefix) != len(t[j].prefix) {
			return len(t[i].prefix) > len(t[j].prefix)
		}
		return t[i].prefix < t[j].prefix
	})
	return t
}

// MinCacheTokens returns the minimum cacheable prompt length, in tokens, that
// the provider assumes for model (the longest matching prefix of the
// built-in table and Config.CacheMinTokens).
func (p *Provider) MinCacheTokens(model string) int { return p.minTokens.lookup(model) }

func (t minTable) lookup(model string) int {
	for _, m := range t {
		if strings.HasPrefix(model, m.prefix) {
			return m.tokens
		}
	}
	if strings.Contains(model, "haiku") {
		return HaikuMinCacheTokens
	}
	return DefaultMinCacheTokens
}

// estimate converts counted bytes to tokens. Anthropic's tokenizer is not
// public; English prose runs about 4 bytes a token, code, JSON and
// non-Latin text fewer, so bytes/4 underestimates and a breakpoint placed
// by it is almost always above the real minimum. Base64 image and document
// data is not counted (images cost a few hundred to ~1,600 tokens whatever
// their byte size), another underestimate.
func estimate(bytes int) int { return bytes / 4 }

// section orders the parts of the prompt as Anthropic caches them.
type section uint8

const (
	secTools section = iota
	secSystem
	secMessages
)

// spot is a block (or a string content) that can take a breakpoint.
type spot struct {
	ok    bool
	taken bool // it already has a cache_control member (the client's)
	str   bool // a JSON string to wrap in a one-text-block array
	empty bool // an object with no members: no comma before the inserted one
	sec   section
	msg   int // message index (messages only)
	idx   int // block ordinal within its section
	at    int // offset of the closing brace, or of the string's opening quote
	end   int // offset past the string's closing quote (str only)
	cost  int // counted bytes of the section up to and including this block
}

// before reports whether s comes before or at o in prefix order.
func (s *spot) notAfter(o *spot) bool {
	if s.sec != o.sec {
		return s.sec < o.sec
	}
	return s.idx <= o.idx
}

// insert is text inserted at an offset of the body.
type insert struct {
	at int
	s  string
}

// ccScan is what one walk over a Messages body finds.
type ccScan struct {
	body   []byte
	model  []byte
	client int // breakpoints the client set
	// long is the last client breakpoint with a ttl other than 5m; ours must
	// come after it.
	long     spot
	toolCost int
	sysCost  int
	msgCost  int
	lastTool spot
	lastSys  spot

	msgIdx    int // blocks seen in messages
	lastUser  spot
	prev1     spot // end of the latest user turn closed by an assistant message
	prev2     spot // the one before
	userMsg   int  // index of the latest user message, -1
	asstMsg   int  // index of the latest assistant message, -1
	firstAsst int  // index of the first assistant message, -1

	// With track (a prefix ledger is in use): the spans of the tools and
	// system values and, per message, its span and the spot a breakpoint
	// at its end would take.
	track             bool
	toolSpan, sysSpan [2]int
	marks             []msgMark
	hashes            []uint64
	// hourAt is set by plan: the message index of the conversation
	// breakpoint written with the 1-hour TTL, or -1.
	hourAt int
}

// msgMark is one message of the scanned body.
type msgMark struct {
	start, end int
	last       spot
}

// The walk is a single recursive descent over offsets of the validated
// body: every value is skipped once, at the depth where placement stops
// caring about it. (Nesting jsonscan.ObjectEach calls would skip the bytes
// of a tool result once per level, five times in all.)

// eachMember calls fn for every member of the object at b[i] (b[i] == '{')
// with the key and the offset of the value; fn returns the offset past the
// value. eachMember returns the offset past the object.
func eachMember(b []byte, i int, fn func(key []byte, v int) int) int {
	i = jsonscan.SkipSpace(b, i+1)
	for i < len(b) && b[i] == '"' {
		kend := jsonscan.SkipTrusted(b, i)
		if kend < i+2 {
			return len(b)
		}
		key := b[i+1 : kend-1]
		i = jsonscan.SkipSpace(b, kend)
		i = jsonscan.SkipSpace(b, i+1) // ':'
		if i >= len(b) {
			return len(b)
		}
		i = advance(b, i, fn(key, i))
		if i >= len(b) || b[i] != ',' {
			break
		}
		i = jsonscan.SkipSpace(b, i+1)
	}
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	return len(b)
}

// eachElem calls fn for every element of the array at b[i] (b[i] == '[')
// with its index and offset; fn returns the offset past the element.
func eachElem(b []byte, i int, fn func(n, v int) int) int {
	i = jsonscan.SkipSpace(b, i+1)
	for n := 0; i < len(b) && b[i] != ']'; n++ {
		i = advance(b, i, fn(n, i))
		if i >= len(b) || b[i] != ',' {
			break
		}
		i = jsonscan.SkipSpace(b, i+1)
	}
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	return len(b)
}

// advance returns the offset after the value at v that ends at e, skipping
// the value when the callback did not, and the space after it. It always
// makes progress, whatever the input.
func advance(b []byte, v, e int) int {
	if e <= v || e > len(b) {
		e = jsonscan.SkipTrusted(b, v)
		if e <= v {
			return len(b)
		}
	}
	return jsonscan.SkipSpace(b, e)
}

func kindAt(b []byte, i int) jsonscan.Kind {
	if i >= len(b) {
		return jsonscan.Invalid
	}
	return jsonscan.KindOf(b[i:])
}

// ccBlock is what a content block holds that placement needs.
type ccBlock struct {
	typ   []byte
	cc    []byte
	hasCC bool
	text  []byte
	data  int // bytes of base64 source data, here and in nested blocks
}

// cacheable reports whether Anthropic accepts cache_control on the block:
// not on thinking blocks, nor on empty text.
func (k *ccBlock) cacheable() bool {
	switch string(k.typ) {
	case `"text"`:
		return jsonscan.KindOf(k.text) == jsonscan.String && len(k.text) > 2
	case `"image"`, `"document"`, `"tool_use"`, `"tool_result"`, `"search_result"`:
		return true
	}
	return false
}

// block reads the content block object at b[i] into k and returns the
// offset past it. Breakpoints on blocks nested in a tool_result are the
// client's, counted at the enclosing block's place (sec, idx).
func (s *ccScan) block(i int, k *ccBlock, sec section, idx int) int {
	b := s.body
	return eachMember(b, i, func(key []byte, v int) int {
		switch string(key) {
		case "type", "text", "cache_control":
			e := jsonscan.SkipTrusted(b, v)
			switch string(key) {
			case "type":
				k.typ = b[v:e]
			case "text":
				k.text = b[v:e]
			default:
				k.hasCC, k.cc = true, b[v:e]
			}
			return e
		case "source":
			if kindAt(b, v) == jsonscan.Object {
				return eachMember(b, v, func(key []byte, v int) int {
					e := jsonscan.SkipTrusted(b, v)
					if string(key) == "data" {
						k.data += e - v
					}
					return e
				})
			}
		case "content":
			if kindAt(b, v) == jsonscan.Array {
				return eachElem(b, v, func(_, v int) int {
					if kindAt(b, v) != jsonscan.Object {
						return 0
					}
					var in ccBlock
					e := s.block(v, &in, sec, idx)
					k.data += in.data
					if in.hasCC {
						s.clientMark(in.cc, spot{ok: true, sec: sec, idx: idx})
					}
					return e
				})
			}
		}
		return 0
	})
}

// clientMark records a client breakpoint at sp.
func (s *ccScan) clientMark(cc []byte, sp spot) {
	if jsonscan.KindOf(cc) != jsonscan.Object {
		return // null: not a breakpoint, but the block cannot take ours either
	}
	s.client++
	if ttl := jsonscan.GetTrusted(cc, "ttl"); ttl != nil && string(ttl) != `"5m"` {
		if !s.long.ok || s.long.notAfter(&sp) {
			s.long = sp
			s.long.ok = true
		}
	}
}

// objSpot returns a spot for the object b[i:e].
func (s *ccScan) objSpot(i, e int, sec section, idx, cost int) spot {
	return spot{ok: true, sec: sec, idx: idx, at: e - 1, cost: cost,
		empty: jsonscan.SkipSpace(s.body, i+1) >= e-1}
}

// strSpot returns a spot for the string b[i:e].
func strSpot(i, e int, sec section, idx, cost int) spot {
	return spot{ok: true, str: true, sec: sec, idx: idx, at: i, end: e, cost: cost}
}

func (s *ccScan) run(body []byte) {
	track, marks, hashes := s.track, s.marks[:0], s.hashes[:0]
	*s = ccScan{body: body, userMsg: -1, asstMsg: -1, firstAsst: -1, track: track, marks: marks, hashes: hashes, hourAt: -1}
	i := jsonscan.SkipSpace(body, 0)
	if kindAt(body, i) != jsonscan.Object {
		return
	}
	eachMember(body, i, func(key []byte, v int) int {
		switch string(key) {
		case "model":
			e := jsonscan.SkipTrusted(body, v)
			if kindAt(body, v) == jsonscan.String && e-v >= 2 {
				s.model = body[v+1 : e-1]
			}
			return e
		case "cache_control":
			// Automatic caching: one breakpoint on the last cacheable block.
			e := jsonscan.SkipTrusted(body, v)
			s.clientMark(body[v:e], spot{ok: true, sec: secMessages, idx: int(^uint(0) >> 1)})
			return e
		case "tools":
			e := s.tools(v)
			s.toolSpan = [2]int{v, e}
			return e
		case "system":
			e := s.system(v)
			s.sysSpan = [2]int{v, e}
			return e
		case "messages":
			return s.messages(v)
		}
		return 0
	})
}

func (s *ccScan) tools(v int) int {
	b := s.body
	if kindAt(b, v) != jsonscan.Array {
		return 0
	}
	return eachElem(b, v, func(n, t int) int {
		if kindAt(b, t) != jsonscan.Object {
			return 0
		}
		var cc []byte
		taken := false
		e := eachMember(b, t, func(key []byte, v int) int {
			e := jsonscan.SkipTrusted(b, v)
			if string(key) == "cache_control" {
				taken, cc = true, b[v:e]
			}
			return e
		})
		s.toolCost += e - t
		sp := s.objSpot(t, e, secTools, n, s.toolCost)
		if taken {
			sp.taken = true
			s.clientMark(cc, sp)
		}
		s.lastTool = sp
		return e
	})
}

func (s *ccScan) system(v int) int {
	b := s.body
	switch kindAt(b, v) {
	case jsonscan.String:
		e := jsonscan.SkipTrusted(b, v)
		s.sysCost = e - v
		if e-v > 2 {
			s.lastSys = strSpot(v, e, secSystem, 0, e-v)
		}
		return e
	case jsonscan.Array:
		return eachElem(b, v, func(n, i int) int {
			if kindAt(b, i) != jsonscan.Object {
				return 0
			}
			var k ccBlock
			e := s.block(i, &k, secSystem, n)
			s.sysCost += e - i - k.data
			sp := s.objSpot(i, e, secSystem, n, s.sysCost)
			if k.hasCC {
				sp.taken = true
				s.clientMark(k.cc, sp)
			}
			if k.hasCC || k.cacheable() {
				s.lastSys = sp
			}
			return e
		})
	}
	return 0
}

func (s *ccScan) messages(v int) int {
	b := s.body
	if kindAt(b, v) != jsonscan.Array {
		return 0
	}
	return eachElem(b, v, func(n, m int) int {
		if kindAt(b, m) != jsonscan.Object {
			return 0
		}
		var role []byte
		var last spot
		e := eachMember(b, m, func(key []byte, v int) int {
			switch string(key) {
			case "role":
				e := jsonscan.SkipTrusted(b, v)
				role = b[v:e]
				return e
			case "content":
				var e int
				last, e = s.content(v, n)
				return e
			}
			return 0
		})
		if s.track {
			s.marks = append(s.marks, msgMark{start: m, end: e, last: last})
		}
		switch string(role) {
		case `"user"`:
			s.lastUser, s.userMsg = last, n
		case `"assistant"`:
			if s.userMsg > s.asstMsg {
				s.prev2, s.prev1 = s.prev1, s.lastUser
			}
			s.asstMsg = n
			if s.firstAsst < 0 {
				s.firstAsst = n
			}
		}
		return e
	})
}

// content walks one message's content at v and returns the spot a
// breakpoint at its end would take, and the offset past the content.
func (s *ccScan) content(v, msg int) (spot, int) {
	b := s.body
	var last spot
	switch kindAt(b, v) {
	case jsonscan.String:
		e := jsonscan.SkipTrusted(b, v)
		s.msgCost += e - v
		if e-v > 2 {
			last = strSpot(v, e, secMessages, s.msgIdx, s.msgCost)
			last.msg = msg
		}
		s.msgIdx++
		return last, e
	case jsonscan.Array:
		e := eachElem(b, v, func(_, i int) int {
			if kindAt(b, i) != jsonscan.Object {
				return 0
			}
			var k ccBlock
			e := s.block(i, &k, secMessages, s.msgIdx)
			s.msgCost += e - i - k.data
			sp := s.objSpot(i, e, secMessages, s.msgIdx, s.msgCost)
			sp.msg = msg
			if k.hasCC {
				sp.taken = true
				s.clientMark(k.cc, sp)
			}
			if k.hasCC || k.cacheable() {
				last = sp
			}
			s.msgIdx++
			return e
		})
		return last, e
	}
	return last, 0
}

// prefix is the counted bytes of the prompt up to and including sp.
func (s *ccScan) prefix(sp *spot) int {
	switch sp.sec {
	case secTools:
		return sp.cost
	case secSystem:
		return s.toolCost + sp.cost
	}
	return s.toolCost + s.sysCost + sp.cost
}

// plan chooses the breakpoints to add to the scanned body. With onlyIfNone
// (the passthrough) a body carrying any client breakpoint gets none.
func (s *ccScan) plan(minTok int, onlyIfNone bool, hist history, ins *[2 * MaxBreakpoints]insert) int {
	if onlyIfNone && s.client > 0 {
		return 0
	}
	slots := MaxBreakpoints - s.client
	final, prev := s.lastUser, s.prev1
	if s.asstMsg > s.userMsg {
		// The request ends with an assistant prefill: the final user turn
		// is the one before it.
		final, prev = s.prev1, s.prev2
	}
	if k := len(s.marks) - 1 - hist.tail; hist.tail > 0 && k >= 0 && s.marks[k].last.ok {
		// The client rewrites its last hist.tail messages every turn
		// (prefixLedger): a final-turn write would not be read. What it
		// keeps ends before them; the end of the prefix shared with the
		// previous turn reads what that turn wrote.
		final, prev = s.marks[k].last, spot{}
		if j := hist.shared; j >= 0 && j < k && s.marks[j].last.ok {
			prev = s.marks[j].last
		}
	}
	if !final.ok || s.firstAsst < 0 || s.firstAsst > final.msg {
		final, prev = spot{}, spot{}
	}
	// The 1-hour TTL (gaps.go), for every breakpoint of the request: the
	// conversation one is the last, and longer TTLs must come first. Not
	// with client breakpoints, whose TTLs the order would have to respect.
	member, memberComma, wrapClose := ccMember, ccMemberComma, ccWrapClose
	if final.ok && s.client == 0 && hist.pLong > 0 && s.track {
		read, base := 0, 0
		if j := hist.shared; hist.live && j >= 0 && s.marks[j].last.ok && s.marks[j].last.notAfter(&final) {
			read = s.prefix(&s.marks[j].last)
		}
		for _, c := range [...]*spot{&s.lastSys, &s.lastTool} {
			if c.ok && estimate(s.prefix(c)) >= minTok {
				base = max(base, s.prefix(c))
			}
		}
		if hourPays(hist.pLong, s.prefix(&final), read, base) {
			member, memberComma, wrapClose = ccMemberHour, ccMemberCommaHour, ccWrapCloseHour
			s.hourAt = final.msg
		}
	}
	cands := [...]*spot{&final, &s.lastSys, &s.lastTool, &prev}
	n := 0
	for _, c := range cands {
		if slots <= 0 {
			break
		}
		if !c.ok || c.taken || (s.long.ok && c.notAfter(&s.long)) || estimate(s.prefix(c)) < minTok {
			if c == &final {
				s.hourAt = -1
			}
			continue
		}
		member, memberComma, wrapClose := member, memberComma, wrapClose
		if hist.headHour && s.client == 0 && (c == &s.lastSys || c == &s.lastTool) {
			// The client's shared head (gaps.go): before every message,
			// so its 1-hour TTL comes first in any request.
			member, memberComma, wrapClose = ccMemberHour, ccMemberCommaHour, ccWrapCloseHour
		}
		switch {
		case c.str:
			ins[n] = insert{c.at, ccWrapOpen}
			ins[n+1] = insert{c.end, wrapClose}
			n += 2
		case c.empty:
			ins[n] = insert{c.at, member}
			n++
		default:
			ins[n] = insert{c.at, memberComma}
			n++
		}
		slots--
	}
	// Insertion sort by offset: at most eight entries.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && ins[j].at < ins[j-1].at; j-- {
			ins[j], ins[j-1] = ins[j-1], ins[j]
		}
	}
	return n
}

// applyInserts inserts ins (sorted by offset, each within b) into b in
// place, moving every byte at most once, and returns the grown slice.
func applyInserts(b []byte, ins []insert) []byte {
	total := 0
	for _, in := range ins {
		total += len(in.s)
	}
	if total == 0 {
		return b
	}
	n := len(b)
	if cap(b)-n < total {
		nb := make([]byte, n, n+total+n/8)
		copy(nb, b)
		b = nb
	}
	b = b[:n+total]
	w, r := n+total, n
	for i := len(ins) - 1; i >= 0; i-- {
		at := ins[i].at
		if at < 0 || at > r {
			panic("BUG: cache_control insert offsets out of order")
		}
		w -= r - at
		copy(b[w:], b[at:r])
		w -= len(ins[i].s)
		copy(b[w:], ins[i].s)
		r = at
	}
	return b
}

// addBreakpoints adds breakpoints to the valid Messages body b in place and
// returns it with the number added. model "" means the body's own.
func addBreakpoints(b []byte, model string, t minTable, onlyIfNone bool) ([]byte, int) {
	var s ccScan
	s.run(b)
	return s.place(b, model, t, onlyIfNone, history{shared: -1, tail: -1})
}

var scanPool = sync.Pool{New: func() any { return new(ccScan) }}

// addBreakpointsWith is addBreakpoints informed by the ledger's history of
// recent requests (nil: stateless), which it updates with this request.
func addBreakpointsWith(b []byte, model string, t minTable, onlyIfNone bool, led *prefixLedger) ([]byte, int) {
	if led == nil {
		return addBreakpoints(b, model, t, onlyIfNone)
	}
	s := scanPool.Get().(*ccScan)
	s.track = true
	s.run(b)
	hist := history{shared: -1, tail: -1}
	var bounds []uint64
	if !(onlyIfNone && s.client > 0) {
		m := model
		if m == "" {
			m = unsafeconv.String(s.model)
		}
		var head uint64
		bounds, head = s.bounds(led.seed, m)
		hist = led.observe(head, bounds)
		if led.noHour {
			hist.pLong, hist.headHour = 0, false
		}
	}
	out, n := s.place(b, model, t, onlyIfNone, hist)
	if s.hourAt >= 0 && n > 0 {
		led.wroteHour(bounds, s.hourAt)
	}
	s.body, s.model = nil, nil
	scanPool.Put(s)
	return out, n
}

// place plans the breakpoints of the scanned body b and inserts them.
func (s *ccScan) place(b []byte, model string, t minTable, onlyIfNone bool, hist history) ([]byte, int) {
	if model == "" {
		model = unsafeconv.String(s.model)
	}
	var ins [2 * MaxBreakpoints]insert
	n := s.plan(t.lookup(model), onlyIfNone, hist, &ins)
	added := 0
	for _, in := range ins[:n] {
		if in.s != ccWrapOpen {
			added++
		}
	}
	return applyInserts(b, ins[:n]), added
}

// bounds returns the cumulative hash of the prompt (model, tools, system,
// messages in cache order) at the end of every message, before any
// breakpoint is inserted.
func (s *ccScan) bounds(seed maphash.Seed, model string) ([]uint64, uint64) {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(model)
	h.WriteByte(0)
	h.Write(s.body[s.toolSpan[0]:s.toolSpan[1]])
	h.WriteByte(0)
	h.Write(s.body[s.sysSpan[0]:s.sysSpan[1]])
	h.WriteByte(0)
	head := h.Sum64()
	out := s.hashes[:0]
	for _, m := range s.marks {
		h.Write(s.body[m.start:m.end])
		out = append(out, h.Sum64())
	}
	s.hashes = out
	return out, head
}

// HasBreakpoints reports whether the Anthropic Messages body carries
// cache_control breakpoints of its own (on tools, system or message blocks,
// or at the top level). Such a body passes through without added ones, so
// the engine credits provider prompt caching to the gateway only when this
// is false. body must be valid JSON.
func HasBreakpoints(body []byte) bool {
	var s ccScan
	s.run(body)
	return s.client > 0
}

// RequestHasBreakpoints reports whether an OpenAI-format request carries
// cache_control markers on its content parts or tools, which the translation
// keeps.
func RequestHasBreakpoints(r *providers.Request) bool {
	for i := range r.Messages {
		for j := range r.Messages[i].Parts {
			if jsonscan.KindOf(jsonscan.GetTrusted(r.Messages[i].Parts[j].Raw, "cache_control")) == jsonscan.Object {
				return true
			}
		}
	}
	for i := range r.Tools {
		if jsonscan.KindOf(jsonscan.GetTrusted(r.Tools[i].Raw, "cache_control")) == jsonscan.Object {
			return true
		}
	}
	return false
}

// GatewayBreakpoints implements providers.BreakpointCacher.
func (p *Provider) GatewayBreakpoints(r *providers.Request) bool {
	return p.cfg.CacheControl && !RequestHasBreakpoints(r)
}

var (
	_ providers.BreakpointCacher = (*Provider)(nil)
	_ providers.MessagesNative   = (*Provider)(nil)
)
