package wasm

import (
	"slices"
	"strconv"

	"github.com/aigateway/gateway/abi"
)

// Route is a route-stage decision.
type Route struct {
	Set bool
	// Model is the chosen model, or with Ambiguous the fallback to use when
	// the second-phase classifier is unavailable.
	Model     []byte
	Reason    []byte // printable ASCII, for X-Gateway-Route-Reason
	Ambiguous bool
	// Tier is the routing tier of Model, as the policy declared it
	// (abi.TierNone when it did not).
	Tier   abi.Tier
	Policy string
}

// LocalResponse is an answer a policy gave in place of the upstream.
type LocalResponse struct {
	Set    bool
	Status int
	Body   []byte // JSON
	Policy string
}

// Verdict is a response-stage judgement.
type Verdict struct {
	Set      bool
	Escalate bool
	Score    int // 0..1000
	Reason   []byte
	Policy   string
}

// Tag is a key=value a policy attached to the request for logs and metrics.
type Tag struct {
	Policy     string
	Key, Value []byte
}

// Removed is what one policy call reported removing from the request's
// message texts (report_removed), by kind.
type Removed struct {
	Policy string
	Bytes  [abi.NumRemovals]int64
}

// EditKind says what an Edit does.
type EditKind uint8

// Edit kinds.
const (
	EditReplace EditKind = iota + 1
	EditInsert
)

// Edit is one committed message edit, in the coordinates of the messages as
// the policy that made it saw them (after the edits of earlier policies).
type Edit struct {
	Policy string
	Kind   EditKind
	// Message is the index of the edited message (EditReplace) or the
	// position the new message was inserted before (EditInsert).
	Message    int
	Start, End int    // EditReplace: the byte range of the old text replaced
	Role       []byte // EditInsert
	Text       []byte
}

// FinalMessage is one message of the request after every committed edit.
//
// To rebuild the body, emit an unchanged message (Orig >= 0, !Changed) from
// its original bytes, and a changed or new one as {"role": Role, "content":
// Text}; a changed message whose original content was an array of parts
// (Flags has abi.MsgParts) keeps its non-text parts (images, audio) and gets
// one text part holding Text in place of its text parts.
type FinalMessage struct {
	// Orig is the index in Input.Messages this message comes from, or -1 for
	// an inserted message.
	Orig    int
	Role    []byte
	Text    []byte
	Flags   uint64
	Changed bool // Text differs from the original, or the message is new
}

// FailureKind classifies a policy failure.
type FailureKind uint8

// Failure kinds.
const (
	// FailTrap: the module trapped (panic, unreachable, out-of-bounds access,
	// out of memory) and its instance was discarded.
	FailTrap FailureKind = iota + 1
	// FailTimeout: the call exceeded the policy's deadline.
	FailTimeout
	// FailStatus: the module returned a non-zero status.
	FailStatus
	// FailBadOutput: a host call was poisoned (bad pointer, byte cap).
	FailBadOutput
	// FailQuarantined: the policy is quarantined after repeated failures.
	FailQuarantined
	// FailUnavailable: no instance could be obtained (context done,
	// instantiation failed).
	FailUnavailable
)

// String names the kind for logs and errors.
func (k FailureKind) String() string {
	switch k {
	case FailTrap:
		return "trap"
	case FailTimeout:
		return "timeout"
	case FailStatus:
		return "error status"
	case FailBadOutput:
		return "bad output"
	case FailQuarantined:
		return "quarantined"
	case FailUnavailable:
		return "unavailable"
	}
	return "unknown"
}

// Label names the kind as a metric label and log token (no spaces).
func (k FailureKind) Label() string {
	switch k {
	case FailTrap:
		return "trap"
	case FailTimeout:
		return "timeout"
	case FailStatus:
		return "error_status"
	case FailBadOutput:
		return "bad_output"
	case FailQuarantined:
		return "quarantined"
	case FailUnavailable:
		return "unavailable"
	}
	return "unknown"
}

// numFailureKinds bounds arrays indexed by FailureKind.
const numFailureKinds = int(FailUnavailable) + 1

// Failure records a fail-open policy failure: the policy was skipped for this
// request and its partial output discarded.
type Failure struct {
	Policy string
	Stage  abi.Stage
	Kind   FailureKind
	Status abi.Status // the guest's status, or the host status that poisoned the call
	Detail []byte     // the guest's set_error message or the trap's stderr tail
}

// Output collects the decisions of the policies run for one request. Use one
// Output per request for all stages, so that later stages see earlier edits.
//
// # Notes
//
// Every []byte in an Output is owned by it and valid until Reset; the engine
// copies what it keeps. Reset keeps all buffers, so a pooled Output makes Run
// allocation-free in steady state. An Output is not safe for concurrent use.
type Output struct {
	Route    Route
	Response LocalResponse
	Verdict  Verdict
	Tags     []Tag
	Edits    []Edit
	Failures []Failure
	// Removed lists, per successful request-stage call that reported any,
	// the bytes it removed by kind; RemovedBytes sums them.
	Removed []Removed

	in       *Input
	view     []FinalMessage // valid when viewUsed: after the first committed message edit
	viewTmp  []FinalMessage
	viewUsed bool
	pending  []pendingOp
	// pendingRemoved is the current call's report_removed total.
	pendingRemoved [abi.NumRemovals]int64
	order          []int
	arena          []byte
	bufs           [][]byte
	nbufs          int
}

type pendingOp struct {
	kind       EditKind
	msg        int
	start, end int
	role, text []byte
}

// Reset empties o for the next request, keeping its buffers.
func (o *Output) Reset() {
	o.Route, o.Response, o.Verdict = Route{}, LocalResponse{}, Verdict{}
	clear(o.Tags)
	clear(o.Edits)
	clear(o.Failures)
	clear(o.Removed)
	clear(o.view)
	clear(o.viewTmp[:cap(o.viewTmp)])
	o.Tags, o.Edits, o.Failures, o.Removed = o.Tags[:0], o.Edits[:0], o.Failures[:0], o.Removed[:0]
	o.pendingRemoved = [abi.NumRemovals]int64{}
	o.view, o.viewTmp, o.viewUsed = o.view[:0], o.viewTmp[:0], false
	o.in, o.pending, o.arena, o.nbufs = nil, o.pending[:0], o.arena[:0], 0
}

// Modified reports whether any message edit was committed.
func (o *Output) Modified() bool { return o.viewUsed }

// Messages returns the request's messages after every committed edit, or nil
// when no policy changed them: the engine then leaves the body untouched.
// Unchanged messages (Changed false, Orig >= 0) should be re-emitted from the
// original body bytes so that provider prompt caches keep hitting.
func (o *Output) Messages() []FinalMessage {
	if !o.viewUsed {
		return nil
	}
	return o.view
}

// Failed reports whether some policy failed (fail-open) for this request.
func (o *Output) Failed() bool { return len(o.Failures) > 0 }

// RemovedBytes returns the bytes of message text that the request-stage
// policies reported removing as kind.
func (o *Output) RemovedBytes(kind abi.Removal) int64 {
	var n int64
	for i := range o.Removed {
		n += o.Removed[i].Bytes[kind]
	}
	return n
}

// TagValue returns the value of the last tag named key, or nil. Tags are
// informational: what the engine acts on is a typed field of the Output.
func (o *Output) TagValue(key string) []byte {
	for i := len(o.Tags) - 1; i >= 0; i-- {
		if string(o.Tags[i].Key) == key {
			return o.Tags[i].Value
		}
	}
	return nil
}

// keep copies b into the arena and returns the copy, capacity-limited so that
// later appends never write over it.
func (o *Output) keep(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	start := len(o.arena)
	o.arena = append(o.arena, b...)
	return o.arena[start:len(o.arena):len(o.arena)]
}

// messageCount and message read the view the current call sees.
func (o *Output) messageCount() int {
	if o.viewUsed {
		return len(o.view)
	}
	return len(o.in.Messages)
}

func (o *Output) message(i int) (role, text []byte, flags uint64) {
	if o.viewUsed {
		m := &o.view[i]
		return m.Role, m.Text, m.Flags
	}
	m := &o.in.Messages[i]
	return m.Role, m.Text, m.Flags
}

// mark is a rollback point taken before each policy call.
type mark struct {
	route    Route
	response LocalResponse
	verdict  Verdict
	tags     int
	arena    int
}

func (o *Output) mark() mark {
	return mark{route: o.Route, response: o.Response, verdict: o.Verdict, tags: len(o.Tags), arena: len(o.arena)}
}

// rollback discards everything a failed call recorded.
func (o *Output) rollback(m mark) {
	o.Route, o.Response, o.Verdict = m.route, m.response, m.verdict
	clear(o.Tags[m.tags:])
	o.Tags = o.Tags[:m.tags]
	o.pending = o.pending[:0]
	o.pendingRemoved = [abi.NumRemovals]int64{}
	o.arena = o.arena[:m.arena]
}

// buf returns an empty reusable buffer for a rebuilt message text.
func (o *Output) buf() []byte {
	if o.nbufs == len(o.bufs) {
		o.bufs = append(o.bufs, nil)
	}
	b := o.bufs[o.nbufs][:0]
	o.nbufs++
	return b
}

func (o *Output) putBuf(b []byte) { o.bufs[o.nbufs-1] = b }

// commit applies the pending edits of a successful call of policy to the view
// and logs them.
func (o *Output) commit(policy string) {
	if o.pendingRemoved != ([abi.NumRemovals]int64{}) {
		o.Removed = append(o.Removed, Removed{Policy: policy, Bytes: o.pendingRemoved})
		o.pendingRemoved = [abi.NumRemovals]int64{}
	}
	if len(o.pending) == 0 {
		return
	}
	if !o.viewUsed {
		o.view = o.view[:0]
		for i := range o.in.Messages {
			m := &o.in.Messages[i]
			o.view = append(o.view, FinalMessage{Orig: i, Role: m.Role, Text: m.Text, Flags: m.Flags})
		}
		o.viewUsed = true
	}
	// Replacements: per message, by (start, end) so that a zero-width
	// insertion at p applies before a replacement that starts at p; the
	// stable sort keeps call order among equal ranges.
	o.order = o.order[:0]
	inserts := false
	for i := range o.pending {
		if o.pending[i].kind == EditReplace {
			o.order = append(o.order, i)
		} else {
			inserts = true
		}
	}
	slices.SortStableFunc(o.order, func(a, b int) int {
		pa, pb := &o.pending[a], &o.pending[b]
		if pa.msg != pb.msg {
			return pa.msg - pb.msg
		}
		if pa.start != pb.start {
			return pa.start - pb.start
		}
		return pa.end - pb.end
	})
	for k := 0; k < len(o.order); {
		msg := o.pending[o.order[k]].msg
		old := o.view[msg].Text
		b, pos := o.buf(), 0
		for ; k < len(o.order) && o.pending[o.order[k]].msg == msg; k++ {
			op := &o.pending[o.order[k]]
			b = append(b, old[pos:op.start]...)
			b = append(b, op.text...)
			pos = op.end
		}
		b = append(b, old[pos:]...)
		o.putBuf(b)
		o.view[msg].Text = b
		o.view[msg].Changed = true
	}
	if inserts {
		tmp := o.viewTmp[:0]
		for j := 0; j <= len(o.view); j++ {
			for i := range o.pending {
				if op := &o.pending[i]; op.kind == EditInsert && op.msg == j {
					tmp = append(tmp, FinalMessage{Orig: -1, Role: op.role, Text: op.text, Changed: true})
				}
			}
			if j < len(o.view) {
				tmp = append(tmp, o.view[j])
			}
		}
		o.view, o.viewTmp = tmp, o.view[:0]
	}
	for i := range o.pending {
		op := &o.pending[i]
		o.Edits = append(o.Edits, Edit{Policy: policy, Kind: op.kind, Message: op.msg, Start: op.start, End: op.end, Role: op.role, Text: op.text})
	}
	o.pending = o.pending[:0]
}

// AppendText appends a human-readable, deterministic dump of o: the route,
// response, verdict, edits, final messages that changed, tags and failures.
// `gateway policy run` prints it and golden tests compare it.
func (o *Output) AppendText(dst []byte) []byte {
	if o.Route.Set {
		dst = append(dst, "route: "...)
		if o.Route.Ambiguous {
			dst = append(dst, "ambiguous fallback="...)
		}
		dst = append(dst, o.Route.Model...)
		if o.Route.Tier != abi.TierNone {
			dst = append(dst, " tier="...)
			dst = append(dst, o.Route.Tier.String()...)
		}
		dst = append(dst, " reason="...)
		dst = strconv.AppendQuote(dst, string(o.Route.Reason))
		dst = append(dst, " policy="...)
		dst = append(dst, o.Route.Policy...)
		dst = append(dst, '\n')
	}
	if o.Response.Set {
		dst = append(dst, "response: "...)
		dst = strconv.AppendInt(dst, int64(o.Response.Status), 10)
		dst = append(dst, ' ')
		dst = append(dst, o.Response.Body...)
		dst = append(dst, " policy="...)
		dst = append(dst, o.Response.Policy...)
		dst = append(dst, '\n')
	}
	if o.Verdict.Set {
		dst = append(dst, "verdict: escalate="...)
		dst = strconv.AppendBool(dst, o.Verdict.Escalate)
		dst = append(dst, " score="...)
		dst = strconv.AppendInt(dst, int64(o.Verdict.Score), 10)
		dst = append(dst, " reason="...)
		dst = strconv.AppendQuote(dst, string(o.Verdict.Reason))
		dst = append(dst, '\n')
	}
	for i := range o.Edits {
		e := &o.Edits[i]
		dst = append(dst, "edit: "...)
		dst = append(dst, e.Policy...)
		if e.Kind == EditReplace {
			dst = append(dst, " replace message "...)
			dst = strconv.AppendInt(dst, int64(e.Message), 10)
			dst = append(dst, " ["...)
			dst = strconv.AppendInt(dst, int64(e.Start), 10)
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, int64(e.End), 10)
			dst = append(dst, "] with "...)
		} else {
			dst = append(dst, " insert before message "...)
			dst = strconv.AppendInt(dst, int64(e.Message), 10)
			dst = append(dst, " role="...)
			dst = append(dst, e.Role...)
			dst = append(dst, " text "...)
		}
		dst = strconv.AppendQuote(dst, string(e.Text))
		dst = append(dst, '\n')
	}
	for i, m := range o.Messages() {
		if !m.Changed {
			continue
		}
		dst = append(dst, "message "...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, " ("...)
		dst = append(dst, m.Role...)
		if m.Orig < 0 {
			dst = append(dst, ", new"...)
		} else {
			dst = append(dst, ", was "...)
			dst = strconv.AppendInt(dst, int64(m.Orig), 10)
		}
		dst = append(dst, "): "...)
		dst = strconv.AppendQuote(dst, string(m.Text))
		dst = append(dst, '\n')
	}
	for i := range o.Removed {
		r := &o.Removed[i]
		for k, n := range r.Bytes {
			if n == 0 {
				continue
			}
			dst = append(dst, "removed: "...)
			dst = append(dst, r.Policy...)
			dst = append(dst, ' ')
			dst = append(dst, abi.Removal(k).String()...)
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, n, 10)
			dst = append(dst, " bytes\n"...)
		}
	}
	for i := range o.Tags {
		t := &o.Tags[i]
		dst = append(dst, "tag: "...)
		dst = append(dst, t.Policy...)
		dst = append(dst, ' ')
		dst = append(dst, t.Key...)
		dst = append(dst, '=')
		dst = append(dst, t.Value...)
		dst = append(dst, '\n')
	}
	for i := range o.Failures {
		f := &o.Failures[i]
		dst = append(dst, "failure: "...)
		dst = append(dst, f.Policy...)
		dst = append(dst, ' ')
		dst = append(dst, f.Stage.String()...)
		dst = append(dst, ' ')
		dst = append(dst, f.Kind.String()...)
		if len(f.Detail) > 0 {
			dst = append(dst, ": "...)
			dst = strconv.AppendQuote(dst, string(f.Detail))
		}
		dst = append(dst, '\n')
	}
	return dst
}
