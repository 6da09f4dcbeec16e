package abi

// Imports is the ABI's host functions with Go types: a (ptr, cap) pair becomes
// a []byte whose length is the capacity offered to the host. The wasip1 build
// binds it to the real //go:wasmimport functions; the gateway's host package
// offers an in-process implementation with the same semantics so that
// policies can be unit-tested natively.
//
// Getters copy min(len, len(buf)) bytes into buf and return the full length
// (or a negative [Status]); setters copy their arguments out before
// returning, so the caller may reuse its buffers at once.
type Imports interface {
	Features() uint64
	Flags() uint64
	Config(buf []byte) int32
	Model(buf []byte) int32
	Project(buf []byte) int32
	Skill(buf []byte) int32
	Body(buf []byte) int32
	Response(buf []byte) int32
	MessageCount() int32
	MessageRole(i int32, buf []byte) int32
	MessageText(i int32, buf []byte) int32
	MessageFlags(i int32) int64
	ToolCount() int32
	ToolName(i int32, buf []byte) int32
	HeaderCount() int32
	HeaderName(i int32, buf []byte) int32
	HeaderValue(i int32, buf []byte) int32
	Header(name, buf []byte) int32
	SetRoute(flags int32, model, reason []byte) int32
	ReplaceText(i, start, end int32, text []byte) int32
	InsertMessage(at int32, role, text []byte) int32
	AddTag(key, value []byte) int32
	Respond(status int32, body []byte) int32
	SetVerdict(flags, score int32, reason []byte) int32
	SetError(msg []byte) int32
	ReportRemoved(kind, n int32) int32
	SetTrigger(spec []byte) int32
}

// field selects a scalar getter.
type field uint8

const (
	fConfig field = iota
	fModel
	fProject
	fSkill
	fBody
	fResponse
	fHeader // by name; uses Call.hname
	numFields
)

// list selects an indexed getter.
type list uint8

const (
	lRole list = iota
	lText
	lTool
	lHeaderName
	lHeaderValue
	numLists
)

// Call is a guest's view of one policy call: cached getters over reused
// buffers and typed setters.
//
// # Notes
//
// Every []byte a getter returns is owned by the Call and stays valid until the
// same getter is asked again in a later call (indexed getters: for the same
// index); callers that keep bytes across calls must copy them. A Call is not
// safe for concurrent use; a Wasm instance runs one call at a time.
type Call struct {
	imp Imports
	gen uint32 // incremented per call: cache entries from older calls are stale

	scalars [numFields]cached
	lists   [numLists][]cached
	counts  struct {
		msgs, tools, headers int32
		gen                  [3]uint32
	}
	flags    uint64
	flagsGen uint32
	features uint64 // the host's feature bits, read once: they never change
	featOK   bool
	hname    []byte
	errBuf   []byte
	// Scratch is a buffer policies may use freely between calls; the SDK never
	// touches it.
	Scratch []byte
}

type cached struct {
	b   []byte
	n   int32 // length or negative status
	gen uint32
}

// NewCall returns a Call bound to imp.
func NewCall(imp Imports) *Call { return &Call{imp: imp, gen: 1} }

// Begin starts a new call: every cached getter result becomes stale. Serve
// calls it; a native test harness calls it before invoking a handler.
func (c *Call) Begin() { c.gen++ }

// Run begins a call and runs fn, mapping a panic-free handler to its status.
func (c *Call) Run(fn func(*Call) Status) int32 {
	c.Begin()
	return int32(fn(c))
}

// Imports returns the host functions the Call uses.
func (c *Call) Imports() Imports { return c.imp }

func (c *Call) getScalar(f field, buf []byte) int32 {
	switch f {
	case fConfig:
		return c.imp.Config(buf)
	case fModel:
		return c.imp.Model(buf)
	case fProject:
		return c.imp.Project(buf)
	case fSkill:
		return c.imp.Skill(buf)
	case fBody:
		return c.imp.Body(buf)
	case fResponse:
		return c.imp.Response(buf)
	case fHeader:
		return c.imp.Header(c.hname, buf)
	}
	return int32(StatusInvalid)
}

func (c *Call) getList(l list, i int32, buf []byte) int32 {
	switch l {
	case lRole:
		return c.imp.MessageRole(i, buf)
	case lText:
		return c.imp.MessageText(i, buf)
	case lTool:
		return c.imp.ToolName(i, buf)
	case lHeaderName:
		return c.imp.HeaderName(i, buf)
	case lHeaderValue:
		return c.imp.HeaderValue(i, buf)
	}
	return int32(StatusInvalid)
}

// fill runs the grow-and-retry protocol for one getter into e.
func (c *Call) fill(e *cached, get func(buf []byte) int32) {
	buf := e.b[:cap(e.b)]
	n := get(buf)
	for n > int32(len(buf)) {
		size := int(n)
		if size < 2*cap(buf) {
			size = 2 * cap(buf)
		}
		buf = make([]byte, size)
		n = get(buf)
	}
	e.n = n
	if n < 0 {
		e.b = buf[:0]
	} else {
		e.b = buf[:n]
	}
	e.gen = c.gen
}

func (c *Call) scalar(f field) ([]byte, Status) {
	e := &c.scalars[f]
	if e.gen != c.gen {
		c.fill(e, func(buf []byte) int32 { return c.getScalar(f, buf) })
	}
	if e.n < 0 {
		return nil, Status(e.n)
	}
	return e.b, StatusOK
}

func (c *Call) item(l list, i int) ([]byte, Status) {
	if i < 0 {
		return nil, StatusOutOfRange
	}
	entries := c.lists[l]
	if i >= len(entries) {
		if i < cap(entries) {
			entries = entries[:i+1]
		} else {
			grown := make([]cached, i+1, 2*i+8)
			copy(grown, entries)
			entries = grown
		}
		c.lists[l] = entries
	}
	e := &entries[i]
	if e.gen != c.gen {
		c.fill(e, func(buf []byte) int32 { return c.getList(l, int32(i), buf) })
	}
	if e.n < 0 {
		return nil, Status(e.n)
	}
	return e.b, StatusOK
}

// Features returns the host's feature bits (Feature*).
func (c *Call) Features() uint64 {
	if !c.featOK {
		c.features, c.featOK = c.imp.Features(), true
	}
	return c.features
}

// Flags returns the request's flag bits (Flag*).
func (c *Call) Flags() uint64 {
	if c.flagsGen != c.gen {
		c.flags = c.imp.Flags()
		c.flagsGen = c.gen
	}
	return c.flags
}

// Config returns the policy's JSON config (empty when none).
func (c *Call) Config() []byte { b, _ := c.scalar(fConfig); return b }

// Model returns the requested model name.
func (c *Call) Model() []byte { b, _ := c.scalar(fModel); return b }

// Project returns the project the request belongs to (empty when none).
func (c *Call) Project() []byte { b, _ := c.scalar(fProject); return b }

// Skill returns the skill named in the request body's "skill" field, empty
// when none (the seed's "gateway_skill" is not read). The X-Gateway-Skill
// header is read with Header.
func (c *Call) Skill() []byte { b, _ := c.scalar(fSkill); return b }

// Body returns the raw request body as the client sent it.
func (c *Call) Body() []byte { b, _ := c.scalar(fBody); return b }

// Response returns the complete response body in the response stage; ok is
// false in other stages.
func (c *Call) Response() (b []byte, ok bool) {
	b, st := c.scalar(fResponse)
	return b, st == StatusOK
}

func (c *Call) count(k int, get func() int32) int {
	p := [3]*int32{&c.counts.msgs, &c.counts.tools, &c.counts.headers}[k]
	if c.counts.gen[k] != c.gen {
		*p = get()
		c.counts.gen[k] = c.gen
	}
	if *p < 0 {
		return 0
	}
	return int(*p)
}

// MessageCount returns the number of messages as the call sees them.
func (c *Call) MessageCount() int { return c.count(0, c.imp.MessageCount) }

// Role returns message i's role ("system", "developer", "user", "assistant",
// "tool"), nil when i is out of range.
func (c *Call) Role(i int) []byte { b, _ := c.item(lRole, i); return b }

// Text returns message i's text: its string content, or its text parts
// joined by "\n". Nil when i is out of range.
func (c *Call) Text(i int) []byte { b, _ := c.item(lText, i); return b }

// TextLen returns the length of message i's text without copying it.
func (c *Call) TextLen(i int) int {
	if e := c.listEntry(lText, i); e != nil {
		return len(e.b)
	}
	n := c.imp.MessageText(int32(i), nil)
	if n < 0 {
		return 0
	}
	return int(n)
}

func (c *Call) listEntry(l list, i int) *cached {
	if i < 0 || i >= len(c.lists[l]) {
		return nil
	}
	if e := &c.lists[l][i]; e.gen == c.gen && e.n >= 0 {
		return e
	}
	return nil
}

// MessageFlags returns message i's flag bits (Msg*).
func (c *Call) MessageFlags(i int) uint64 {
	v := c.imp.MessageFlags(int32(i))
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// ToolCount returns the number of tool definitions.
func (c *Call) ToolCount() int { return c.count(1, c.imp.ToolCount) }

// ToolName returns tool i's function name.
func (c *Call) ToolName(i int) []byte { b, _ := c.item(lTool, i); return b }

// HeaderCount returns the number of request headers the host exposes.
func (c *Call) HeaderCount() int { return c.count(2, c.imp.HeaderCount) }

// HeaderName returns header i's name as the client sent it.
func (c *Call) HeaderName(i int) []byte { b, _ := c.item(lHeaderName, i); return b }

// HeaderValue returns header i's value.
func (c *Call) HeaderValue(i int) []byte { b, _ := c.item(lHeaderValue, i); return b }

// Header returns the value of the first header named name (ASCII
// case-insensitive) and whether it is present. The result is valid until the
// next Header call.
func (c *Call) Header(name string) ([]byte, bool) {
	c.hname = append(c.hname[:0], name...)
	e := &c.scalars[fHeader]
	c.fill(e, func(buf []byte) int32 { return c.getScalar(fHeader, buf) })
	if e.n < 0 {
		return nil, false
	}
	return e.b, true
}

// LastIndex returns the index of the last message whose role is role, or -1.
func (c *Call) LastIndex(role string) int {
	for i := c.MessageCount() - 1; i >= 0; i-- {
		if string(c.Role(i)) == role {
			return i
		}
	}
	return -1
}

// SystemIndex returns the index of the first "system" or "developer" message,
// or -1.
func (c *Call) SystemIndex() int {
	n := c.MessageCount()
	for i := 0; i < n; i++ {
		if r := c.Role(i); string(r) == "system" || string(r) == "developer" {
			return i
		}
	}
	return -1
}

// TotalTextLen returns the summed length of every message's text, without
// copying any of it.
func (c *Call) TotalTextLen() int {
	n, total := c.MessageCount(), 0
	for i := 0; i < n; i++ {
		total += c.TextLen(i)
	}
	return total
}

// SetRoute chooses model for the request; reason (printable ASCII) lands in
// the X-Gateway-Route-Reason response header.
func (c *Call) SetRoute(model, reason []byte) Status {
	return Status(c.imp.SetRoute(0, model, reason))
}

// SetAmbiguous hands the decision to the second-phase classifier; fallback is
// the model to use if there is none or it fails.
func (c *Call) SetAmbiguous(fallback, reason []byte) Status {
	return Status(c.imp.SetRoute(RouteAmbiguous, fallback, reason))
}

// SetRouteTier chooses model, which belongs to routing tier tier, for the
// request. The gateway prices routing savings and picks a cascade's next
// model by the tier; a host older than ABI v1.1 gets the route without it.
func (c *Call) SetRouteTier(model []byte, tier Tier, reason []byte) Status {
	return Status(c.imp.SetRoute(c.tierFlags(tier), model, reason))
}

// SetAmbiguousTier is SetAmbiguous with the tier of the fallback model.
func (c *Call) SetAmbiguousTier(fallback []byte, tier Tier, reason []byte) Status {
	return Status(c.imp.SetRoute(RouteAmbiguous|c.tierFlags(tier), fallback, reason))
}

func (c *Call) tierFlags(t Tier) int32 {
	if c.Features()&FeatureTier == 0 {
		return 0
	}
	return RouteTier(t)
}

// ReportRemoved tells the gateway that this call's edits removed n bytes of
// message text of the given kind, so that it credits the tokens saved to the
// right technique (it counts the tokens itself, from the edits). Calls add
// up; a failed call's reports are discarded with its edits. Request stage,
// ABI v1.1: a module that uses it is refused by older hosts.
func (c *Call) ReportRemoved(kind Removal, n int) Status {
	return Status(c.imp.ReportRemoved(int32(kind), int32(min(n, 1<<31-1))))
}

// SetTrigger declares, during the self-check (gateway_configure), which
// requests the policy's request stage can act on: the host then calls the
// policy only for requests that match spec (see [ParseTrigger] and ABI.md,
// "Triggers"), and may keep it uncompiled until the first one. ABI v1.2: a
// module that uses it is refused by older hosts.
func (c *Call) SetTrigger(spec []byte) Status {
	return Status(c.imp.SetTrigger(spec))
}

// Replace replaces bytes [start, end) of message i's text with text. All
// edits of one call refer to the text as the call first saw it and must not
// overlap.
func (c *Call) Replace(i, start, end int, text []byte) Status {
	return Status(c.imp.ReplaceText(int32(i), int32(start), int32(end), text))
}

// SetText replaces message i's text with text by sending one minimal edit:
// the common prefix and suffix of the old and new text are left untouched,
// which keeps them byte-identical for provider prompt caches. It is a no-op
// when the texts are equal.
func (c *Call) SetText(i int, text []byte) Status {
	old, st := c.item(lText, i)
	if st != StatusOK {
		return st
	}
	p := 0
	for p < len(old) && p < len(text) && old[p] == text[p] {
		p++
	}
	if p == len(old) && p == len(text) {
		return StatusOK
	}
	s := 0
	for s < len(old)-p && s < len(text)-p && old[len(old)-1-s] == text[len(text)-1-s] {
		s++
	}
	// Keep both ends on UTF-8 boundaries: the host refuses ranges that split
	// a character.
	for p > 0 && p < len(old) && old[p]&0xC0 == 0x80 {
		p--
	}
	for s > 0 && len(old)-s < len(old) && old[len(old)-s]&0xC0 == 0x80 {
		s--
	}
	return c.Replace(i, p, len(old)-s, text[p:len(text)-s])
}

// Insert inserts a message with role and text before message at (at ==
// MessageCount() appends). at refers to the messages as the call first saw
// them.
func (c *Call) Insert(at int, role, text []byte) Status {
	return Status(c.imp.InsertMessage(int32(at), role, text))
}

// Tag attaches key=value to the request's log line and metrics.
func (c *Call) Tag(key, value []byte) Status { return Status(c.imp.AddTag(key, value)) }

// TagInt attaches key=n.
func (c *Call) TagInt(key []byte, n int64) Status {
	var b [20]byte
	return c.Tag(key, AppendInt(b[:0], n))
}

// Respond answers the request locally with status and a JSON body; the
// upstream is not called and later policies of the stage are skipped.
func (c *Call) Respond(status int, body []byte) Status {
	return Status(c.imp.Respond(int32(status), body))
}

// RespondError answers with the OpenAI error envelope
// {"error":{"message","type","param","code"}}.
func (c *Call) RespondError(status int, message, typ, code []byte) Status {
	b := c.Scratch[:0]
	b = append(b, `{"error":{"message":`...)
	b = AppendJSONString(b, message)
	b = append(b, `,"type":`...)
	b = AppendJSONString(b, typ)
	b = append(b, `,"param":null,"code":`...)
	if len(code) == 0 {
		b = append(b, "null"...)
	} else {
		b = AppendJSONString(b, code)
	}
	b = append(b, "}}"...)
	c.Scratch = b
	return c.Respond(status, b)
}

// SetVerdict judges a response (response stage): score in [0, 1000];
// escalate asks the gateway to retry on a stronger model.
func (c *Call) SetVerdict(escalate bool, score int, reason []byte) Status {
	var flags int32
	if escalate {
		flags = VerdictEscalate
	}
	return Status(c.imp.SetVerdict(flags, int32(score), reason))
}

// Fail records msg as the reason of a failure and returns StatusError, for
// handlers to `return c.Fail("...")`.
func (c *Call) Fail(msg string) Status {
	c.errBuf = append(c.errBuf[:0], msg...)
	c.imp.SetError(c.errBuf)
	return StatusError
}

// AppendInt appends the decimal form of n (strconv without the import in
// callers that want none).
func AppendInt(dst []byte, n int64) []byte {
	if n < 0 {
		dst = append(dst, '-')
		if n == -n { // math.MinInt64
			return append(dst, "9223372036854775808"...)
		}
		n = -n
	}
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// ConfigureHandler adapts a config parser to a handler: parse returns an
// error message, or "" to accept the config.
func ConfigureHandler(parse func(config []byte) string) func(*Call) Status {
	return func(c *Call) Status {
		if msg := parse(c.Config()); msg != "" {
			return c.Fail(msg)
		}
		return StatusOK
	}
}
