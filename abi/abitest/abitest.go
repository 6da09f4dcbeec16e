// Package abitest runs a policy's Go handlers natively, in-process, on a
// request a test describes, with the host's rules for every getter and
// setter (stages, validation, byte caps, edits applied after a successful
// call and discarded after a failed one). It is what a policy author's `go
// test` needs: no gateway, no Wasm, no build step.
//
//	res := abitest.Run(abi.StageRoute, abitest.Chat("auto", "user", "urgent: prod is down"), route)
//	if res.Route.Model != "anthropic/claude-sonnet-4-0" { t.Fatal(res) }
//
// The gateway's own tests hold this package to the host's implementation
// (package wasm) on the same calls, so the two cannot drift apart. What it
// cannot show is Wasm itself: build the module and run `gateway policy run`
// on it before uploading.
package abitest

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aigateway/gateway/abi"
)

// Message is one chat message of a Request or a Result.
type Message struct {
	Role, Text string
	Flags      uint64 // abi.Msg* bits
}

// Request is the request a policy sees. Zero fields read as empty.
type Request struct {
	Model, Project, Skill string
	Messages              []Message
	Tools                 []string    // function names of the tool definitions
	Headers               [][2]string // name, value; the gateway shows policies its X-Gateway-* headers
	Flags                 uint64      // abi.Flag* bits; abi.FlagTools is added when Tools is set
	Body                  string      // the raw body, for policies that read it
	Response              string      // the upstream answer, for the response stage
	Config                string      // the policy's JSON config
}

// Chat returns a Request for model with messages given as role, text pairs.
func Chat(model string, roleText ...string) Request {
	r := Request{Model: model}
	for i := 0; i+1 < len(roleText); i += 2 {
		r.Messages = append(r.Messages, Message{Role: roleText[i], Text: roleText[i+1]})
	}
	return r
}

// WithHeader returns r with one more request header.
func (r Request) WithHeader(name, value string) Request {
	r.Headers = append(append([][2]string(nil), r.Headers...), [2]string{name, value})
	return r
}

// WithConfig returns r with the policy's config set.
func (r Request) WithConfig(config string) Request { r.Config = config; return r }

// Route is a route-stage decision.
type Route struct {
	Set       bool
	Model     string
	Reason    string
	Ambiguous bool
	Tier      abi.Tier
}

// Response is a local answer (respond).
type Response struct {
	Set    bool
	Status int
	Body   string
}

// Verdict is a response-stage judgement.
type Verdict struct {
	Set      bool
	Escalate bool
	Score    int
	Reason   string
}

// Edit is one recorded message edit, in the coordinates of the request as
// the call first saw it.
type Edit struct {
	Insert     bool   // insert_message; otherwise replace_text
	Message    int    // the edited message, or the one the new message goes before
	Start, End int    // replace_text: the byte range replaced
	Role       string // insert_message
	Text       string
}

// Result is what one call decided. After a failed call (a non-zero status,
// or a call poisoned by exceeding a byte cap) only Status and Error are set:
// the host discards everything else.
type Result struct {
	Status  abi.Status
	Error   string // the set_error message, if any
	Route   Route
	Respond Response
	Verdict Verdict
	Edits   []Edit
	// Messages are the request's messages after the edits, nil when the call
	// made none.
	Messages []Message
	Removed  [abi.NumRemovals]int // report_removed, by kind
	Tags     [][2]string
}

// OK reports whether the call succeeded.
func (r Result) OK() bool { return r.Status == abi.StatusOK }

// String renders r for test failure messages.
func (r Result) String() string {
	var b strings.Builder
	b.WriteString("status=" + r.Status.String())
	if r.Error != "" {
		b.WriteString(" error=" + strconv.Quote(r.Error))
	}
	if r.Route.Set {
		b.WriteString(" route=" + r.Route.Model + " tier=" + r.Route.Tier.String() + " reason=" + strconv.Quote(r.Route.Reason))
		if r.Route.Ambiguous {
			b.WriteString(" ambiguous")
		}
	}
	if r.Respond.Set {
		b.WriteString(" respond=" + strconv.Itoa(r.Respond.Status) + " " + r.Respond.Body)
	}
	if r.Verdict.Set {
		b.WriteString(" verdict=" + strconv.Itoa(r.Verdict.Score) + " escalate=" + strconv.FormatBool(r.Verdict.Escalate))
	}
	for _, m := range r.Messages {
		b.WriteString(" [" + m.Role + ": " + strconv.Quote(m.Text) + "]")
	}
	for _, t := range r.Tags {
		b.WriteString(" tag " + t[0] + "=" + t[1])
	}
	return b.String()
}

// The host's default byte caps per call.
const (
	maxRead  = 64 << 20
	maxWrite = 8 << 20
)

// Run runs handler as the host runs a stage export: one call, on req.
func Run(stage abi.Stage, req Request, handler func(*abi.Call) abi.Status) Result {
	h := &host{stage: stage, req: req}
	if len(req.Tools) > 0 {
		h.req.Flags |= abi.FlagTools
	}
	st := abi.Status(abi.NewCall(h).Run(handler))
	if h.poison != 0 {
		st = h.poison
	}
	res := Result{Status: st}
	if h.errSet {
		res.Error = h.errMsg
	}
	if st != abi.StatusOK {
		return res
	}
	res.Route, res.Respond, res.Verdict, res.Tags, res.Removed = h.route, h.respond, h.verdict, h.tags, h.removed
	res.Edits = h.edits
	if len(h.edits) > 0 {
		res.Messages = apply(req.Messages, h.edits)
	}
	return res
}

// Configure runs a policy's self-check on config and returns the message it
// refused the config with, or "" when it accepted it: what `gateway policy
// check -config` and an upload do.
func Configure(config string, parse func(config []byte) string) string {
	h := &host{stage: abi.StageConfigure, req: Request{Config: config}}
	st := abi.Status(abi.NewCall(h).Run(abi.ConfigureHandler(parse)))
	if st == abi.StatusOK && h.poison == 0 {
		return ""
	}
	if h.errMsg == "" {
		return "config refused (" + st.String() + ")"
	}
	return h.errMsg
}

// apply returns msgs after edits, the way the host applies one call's edits:
// per message by (start, end), a zero-width insertion at p before a
// replacement starting at p, equal ranges in call order; then insertions,
// each before the message it names, several at one place in call order.
func apply(msgs []Message, edits []Edit) []Message {
	out := append([]Message(nil), msgs...)
	var repl []int
	for i, e := range edits {
		if !e.Insert {
			repl = append(repl, i)
		}
	}
	sort.SliceStable(repl, func(a, b int) bool {
		ea, eb := edits[repl[a]], edits[repl[b]]
		if ea.Message != eb.Message {
			return ea.Message < eb.Message
		}
		if ea.Start != eb.Start {
			return ea.Start < eb.Start
		}
		return ea.End < eb.End
	})
	for k := 0; k < len(repl); {
		m := edits[repl[k]].Message
		old := msgs[m].Text
		var b strings.Builder
		pos := 0
		for ; k < len(repl) && edits[repl[k]].Message == m; k++ {
			e := edits[repl[k]]
			b.WriteString(old[pos:e.Start])
			b.WriteString(e.Text)
			pos = e.End
		}
		b.WriteString(old[pos:])
		out[m].Text = b.String()
	}
	var final []Message
	for j := 0; j <= len(out); j++ {
		for _, e := range edits {
			if e.Insert && e.Message == j {
				final = append(final, Message{Role: e.Role, Text: e.Text})
			}
		}
		if j < len(out) {
			final = append(final, out[j])
		}
	}
	return final
}

// host implements abi.Imports over a Request with the gateway host's rules.
type host struct {
	stage abi.Stage
	req   Request

	read, written int
	poison        abi.Status
	errMsg        string
	errSet        bool

	route   Route
	respond Response
	verdict Verdict
	edits   []Edit
	removed [abi.NumRemovals]int
	tags    [][2]string
}

var _ abi.Imports = (*host)(nil)

func (h *host) fail(st abi.Status) int32 {
	if h.poison == 0 {
		h.poison = st
	}
	return int32(st)
}

func (h *host) copyOut(src string, dst []byte) int32 {
	n := min(len(src), len(dst))
	if n > 0 {
		if h.read+n > maxRead {
			return h.fail(abi.StatusLimit)
		}
		h.read += n
		copy(dst, src[:n])
	}
	return int32(len(src))
}

func (h *host) take(n int) bool {
	if h.written+n > maxWrite {
		h.fail(abi.StatusLimit)
		return false
	}
	h.written += n
	return true
}

func (h *host) inRequest() bool { return h.stage != abi.StageConfigure }

func (h *host) Features() uint64 { return abi.FeaturesV1 }

func (h *host) Flags() uint64 {
	if !h.inRequest() {
		return 0
	}
	return h.req.Flags
}

func (h *host) Config(b []byte) int32 { return h.copyOut(h.req.Config, b) }

func (h *host) scalar(v string, b []byte) int32 {
	if !h.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	return h.copyOut(v, b)
}

func (h *host) Model(b []byte) int32   { return h.scalar(h.req.Model, b) }
func (h *host) Project(b []byte) int32 { return h.scalar(h.req.Project, b) }
func (h *host) Skill(b []byte) int32   { return h.scalar(h.req.Skill, b) }
func (h *host) Body(b []byte) int32    { return h.scalar(h.req.Body, b) }

func (h *host) Response(b []byte) int32 {
	if !h.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	if h.stage != abi.StageResponse {
		return int32(abi.StatusNotFound)
	}
	return h.copyOut(h.req.Response, b)
}

func (h *host) count(n int) int32 {
	if !h.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	return int32(n)
}

func (h *host) MessageCount() int32 { return h.count(len(h.req.Messages)) }
func (h *host) ToolCount() int32    { return h.count(len(h.req.Tools)) }
func (h *host) HeaderCount() int32  { return h.count(len(h.req.Headers)) }

func (h *host) index(i int32, n int) abi.Status {
	if !h.inRequest() {
		return abi.StatusWrongStage
	}
	if i < 0 || int(i) >= n {
		return abi.StatusOutOfRange
	}
	return abi.StatusOK
}

func (h *host) MessageRole(i int32, b []byte) int32 {
	if st := h.index(i, len(h.req.Messages)); st != abi.StatusOK {
		return int32(st)
	}
	return h.copyOut(h.req.Messages[i].Role, b)
}

func (h *host) MessageText(i int32, b []byte) int32 {
	if st := h.index(i, len(h.req.Messages)); st != abi.StatusOK {
		return int32(st)
	}
	return h.copyOut(h.req.Messages[i].Text, b)
}

func (h *host) MessageFlags(i int32) int64 {
	if st := h.index(i, len(h.req.Messages)); st != abi.StatusOK {
		return int64(st)
	}
	return int64(h.req.Messages[i].Flags &^ (1 << 63))
}

func (h *host) ToolName(i int32, b []byte) int32 {
	if st := h.index(i, len(h.req.Tools)); st != abi.StatusOK {
		return int32(st)
	}
	return h.copyOut(h.req.Tools[i], b)
}

func (h *host) HeaderName(i int32, b []byte) int32 {
	if st := h.index(i, len(h.req.Headers)); st != abi.StatusOK {
		return int32(st)
	}
	return h.copyOut(h.req.Headers[i][0], b)
}

func (h *host) HeaderValue(i int32, b []byte) int32 {
	if st := h.index(i, len(h.req.Headers)); st != abi.StatusOK {
		return int32(st)
	}
	return h.copyOut(h.req.Headers[i][1], b)
}

func (h *host) Header(name, b []byte) int32 {
	if !h.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	if !h.take(len(name)) {
		return int32(abi.StatusLimit)
	}
	for _, hv := range h.req.Headers {
		if equalFoldASCII(hv[0], name) {
			return h.copyOut(hv[1], b)
		}
	}
	return int32(abi.StatusNotFound)
}

// equalFoldASCII compares ignoring ASCII case only, as the host does.
func equalFoldASCII(a string, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range b {
		if abi.Lower(a[i]) != abi.Lower(b[i]) {
			return false
		}
	}
	return true
}

// printable reports whether b is printable ASCII (space allowed when
// allowSpace): values that end up in headers and log lines.
func printable(b []byte, allowSpace bool) bool {
	for _, c := range b {
		if c > '~' || c < ' ' || (c == ' ' && !allowSpace) {
			return false
		}
	}
	return true
}

func (h *host) SetRoute(flags int32, model, reason []byte) int32 {
	if h.stage != abi.StageRoute {
		return int32(abi.StatusWrongStage)
	}
	if !h.take(len(model) + len(reason)) {
		return int32(abi.StatusLimit)
	}
	tier := abi.Tier((flags & abi.RouteTierMask) >> abi.RouteTierShift)
	if flags&^(abi.RouteAmbiguous|abi.RouteTierMask) != 0 || tier > abi.TierReasoning ||
		len(model) == 0 || len(model) > abi.MaxModelLen ||
		len(reason) > abi.MaxReasonLen || !printable(model, false) || !printable(reason, true) {
		return int32(abi.StatusInvalid)
	}
	h.route = Route{Set: true, Model: string(model), Reason: string(reason), Ambiguous: flags&abi.RouteAmbiguous != 0, Tier: tier}
	return int32(abi.StatusOK)
}

func validRange(text string, start, end int32) bool {
	if start < 0 || start > end || int(end) > len(text) {
		return false
	}
	if int(start) < len(text) && !utf8.RuneStart(text[start]) {
		return false
	}
	return int(end) == len(text) || utf8.RuneStart(text[end])
}

func (h *host) ReplaceText(i, start, end int32, text []byte) int32 {
	if h.stage != abi.StageRequest {
		return int32(abi.StatusWrongStage)
	}
	if st := h.index(i, len(h.req.Messages)); st != abi.StatusOK {
		return int32(st)
	}
	if !h.take(len(text)) {
		return int32(abi.StatusLimit)
	}
	if !validRange(h.req.Messages[i].Text, start, end) || !utf8.Valid(text) {
		return int32(abi.StatusInvalid)
	}
	for _, e := range h.edits {
		if !e.Insert && e.Message == int(i) && int(start) < e.End && e.Start < int(end) {
			return int32(abi.StatusInvalid)
		}
	}
	h.edits = append(h.edits, Edit{Message: int(i), Start: int(start), End: int(end), Text: string(text)})
	return int32(abi.StatusOK)
}

func (h *host) InsertMessage(at int32, role, text []byte) int32 {
	if h.stage != abi.StageRequest {
		return int32(abi.StatusWrongStage)
	}
	if !h.take(len(role) + len(text)) {
		return int32(abi.StatusLimit)
	}
	if at < 0 || int(at) > len(h.req.Messages) {
		return int32(abi.StatusOutOfRange)
	}
	switch string(role) {
	case "system", "developer", "user", "assistant":
	default:
		return int32(abi.StatusInvalid)
	}
	if !utf8.Valid(text) {
		return int32(abi.StatusInvalid)
	}
	h.edits = append(h.edits, Edit{Insert: true, Message: int(at), Role: string(role), Text: string(text)})
	return int32(abi.StatusOK)
}

func validTagKey(k []byte) bool {
	if len(k) == 0 || len(k) > abi.MaxTagKeyLen {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func (h *host) AddTag(key, value []byte) int32 {
	if !h.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	if !h.take(len(key) + len(value)) {
		return int32(abi.StatusLimit)
	}
	if !validTagKey(key) || len(value) > abi.MaxTagValLen || !printable(value, true) || len(h.tags) >= abi.MaxTagsPerRun {
		return int32(abi.StatusInvalid)
	}
	h.tags = append(h.tags, [2]string{string(key), string(value)})
	return int32(abi.StatusOK)
}

func (h *host) Respond(status int32, body []byte) int32 {
	if h.stage != abi.StageRequest && h.stage != abi.StageRoute {
		return int32(abi.StatusWrongStage)
	}
	if !h.take(len(body)) {
		return int32(abi.StatusLimit)
	}
	if status < 200 || status > 599 || !abi.JSONValid(body) {
		return int32(abi.StatusInvalid)
	}
	h.respond = Response{Set: true, Status: int(status), Body: string(body)}
	return int32(abi.StatusOK)
}

func (h *host) SetVerdict(flags, score int32, reason []byte) int32 {
	if h.stage != abi.StageResponse {
		return int32(abi.StatusWrongStage)
	}
	if !h.take(len(reason)) {
		return int32(abi.StatusLimit)
	}
	if flags&^abi.VerdictEscalate != 0 || score < 0 || score > 1000 || len(reason) > abi.MaxReasonLen || !printable(reason, true) {
		return int32(abi.StatusInvalid)
	}
	h.verdict = Verdict{Set: true, Escalate: flags&abi.VerdictEscalate != 0, Score: int(score), Reason: string(reason)}
	return int32(abi.StatusOK)
}

func (h *host) SetError(msg []byte) int32 {
	if len(msg) > abi.MaxErrorLen {
		msg = msg[:abi.MaxErrorLen]
	}
	if !h.take(len(msg)) {
		return int32(abi.StatusLimit)
	}
	h.errMsg, h.errSet = string(msg), true
	return int32(abi.StatusOK)
}

func (h *host) ReportRemoved(kind, n int32) int32 {
	if h.stage != abi.StageRequest {
		return int32(abi.StatusWrongStage)
	}
	if kind < 0 || kind >= abi.NumRemovals || n < 0 {
		return int32(abi.StatusInvalid)
	}
	h.removed[kind] += int(n)
	return int32(abi.StatusOK)
}

// SetTrigger checks the spec as the host does: only in the self-check, and
// refused with -4 (INVALID) when abi.ParseTrigger refuses it.
func (h *host) SetTrigger(spec []byte) int32 {
	if h.stage != abi.StageConfigure {
		return int32(abi.StatusWrongStage)
	}
	if !h.take(len(spec)) {
		return int32(abi.StatusLimit)
	}
	if _, msg := abi.ParseTrigger(spec); msg != "" {
		return int32(abi.StatusInvalid)
	}
	return int32(abi.StatusOK)
}
