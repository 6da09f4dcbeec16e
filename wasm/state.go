package wasm

import (
	"unicode/utf8"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/internal/jsonscan"
)

// callState is the host side of one policy call: it implements every ABI
// import over Go slices, with the byte caps and validation of ABI.md. The Wasm
// adapters (hostfuncs.go) translate guest pointers into slices of guest memory
// and call these methods; native callers (RunNative) call them directly, so
// both see identical semantics.
//
// # Notes
//
// A callState belongs to one instance and serves one call at a time.
type callState struct {
	stage  abi.Stage
	in     *Input
	out    *Output
	config []byte
	policy string

	read, written       int64
	maxRead, maxWritten int64
	// poison is the status that invalidated the call (bad pointer, limit),
	// or 0.
	poison abi.Status
	errMsg []byte
	// guestErr is set when the guest called set_error during this call.
	guestErr bool
	// trigger is what the self-check declared with set_trigger (nil: none).
	trigger *trigger
}

var _ abi.Imports = (*callState)(nil)

func (s *callState) begin(stage abi.Stage, in *Input, out *Output, config []byte, policy string, maxRead, maxWritten int64) {
	s.stage, s.in, s.out, s.config, s.policy = stage, in, out, config, policy
	s.read, s.written, s.maxRead, s.maxWritten = 0, 0, maxRead, maxWritten
	s.poison, s.errMsg, s.guestErr = 0, s.errMsg[:0], false
	if stage == abi.StageConfigure {
		s.trigger = nil
	}
}

// end drops the references to the request so that an idle instance pins no
// request memory.
func (s *callState) end() { s.in, s.out, s.config = nil, nil, nil }

func (s *callState) fail(st abi.Status) int32 {
	if s.poison == 0 {
		s.poison = st
	}
	return int32(st)
}

// copyOut is the getter protocol: copy min(len(src), len(dst)) bytes and
// return len(src).
func (s *callState) copyOut(src, dst []byte) int32 {
	n := min(len(src), len(dst))
	if n > 0 {
		if s.read+int64(n) > s.maxRead {
			return s.fail(abi.StatusLimit)
		}
		s.read += int64(n)
		copy(dst, src[:n])
	}
	return int32(len(src))
}

// take charges n bytes the guest handed to a setter against the write cap.
func (s *callState) take(n int) bool {
	if s.written+int64(n) > s.maxWritten {
		s.fail(abi.StatusLimit)
		return false
	}
	s.written += int64(n)
	return true
}

func (s *callState) inRequest() bool { return s.stage != abi.StageConfigure && s.in != nil }

// Features implements abi.Imports.
func (s *callState) Features() uint64 { return abi.FeaturesV1 }

// Flags implements abi.Imports.
func (s *callState) Flags() uint64 {
	if !s.inRequest() {
		return 0
	}
	return s.in.Flags
}

// Config implements abi.Imports.
func (s *callState) Config(b []byte) int32 { return s.copyOut(s.config, b) }

// Model implements abi.Imports.
func (s *callState) Model(b []byte) int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	return s.copyOut(s.in.Model, b)
}

// Project implements abi.Imports.
func (s *callState) Project(b []byte) int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	return s.copyOut(s.in.Project, b)
}

// Skill implements abi.Imports.
func (s *callState) Skill(b []byte) int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	return s.copyOut(s.in.Skill, b)
}

// Body implements abi.Imports.
func (s *callState) Body(b []byte) int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	return s.copyOut(s.in.Body, b)
}

// Response implements abi.Imports.
func (s *callState) Response(b []byte) int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	if s.stage != abi.StageResponse {
		return int32(abi.StatusNotFound)
	}
	return s.copyOut(s.in.Response, b)
}

// MessageCount implements abi.Imports.
func (s *callState) MessageCount() int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	return int32(s.out.messageCount())
}

func (s *callState) msgIndex(i int32) abi.Status {
	if !s.inRequest() {
		return abi.StatusWrongStage
	}
	if i < 0 || int(i) >= s.out.messageCount() {
		return abi.StatusOutOfRange
	}
	return abi.StatusOK
}

// MessageRole implements abi.Imports.
func (s *callState) MessageRole(i int32, b []byte) int32 {
	if st := s.msgIndex(i); st != abi.StatusOK {
		return int32(st)
	}
	role, _, _ := s.out.message(int(i))
	return s.copyOut(role, b)
}

// MessageText implements abi.Imports.
func (s *callState) MessageText(i int32, b []byte) int32 {
	if st := s.msgIndex(i); st != abi.StatusOK {
		return int32(st)
	}
	_, text, _ := s.out.message(int(i))
	return s.copyOut(text, b)
}

// MessageFlags implements abi.Imports.
func (s *callState) MessageFlags(i int32) int64 {
	if st := s.msgIndex(i); st != abi.StatusOK {
		return int64(st)
	}
	_, _, flags := s.out.message(int(i))
	return int64(flags &^ (1 << 63))
}

// ToolCount implements abi.Imports.
func (s *callState) ToolCount() int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	return int32(len(s.in.Tools))
}

// ToolName implements abi.Imports.
func (s *callState) ToolName(i int32, b []byte) int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	if i < 0 || int(i) >= len(s.in.Tools) {
		return int32(abi.StatusOutOfRange)
	}
	return s.copyOut(s.in.Tools[i], b)
}

// HeaderCount implements abi.Imports.
func (s *callState) HeaderCount() int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	return int32(len(s.in.Headers))
}

// HeaderName implements abi.Imports.
func (s *callState) HeaderName(i int32, b []byte) int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	if i < 0 || int(i) >= len(s.in.Headers) {
		return int32(abi.StatusOutOfRange)
	}
	return s.copyOut(s.in.Headers[i].Name, b)
}

// HeaderValue implements abi.Imports.
func (s *callState) HeaderValue(i int32, b []byte) int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	if i < 0 || int(i) >= len(s.in.Headers) {
		return int32(abi.StatusOutOfRange)
	}
	return s.copyOut(s.in.Headers[i].Value, b)
}

// Header implements abi.Imports: the first header whose name equals name,
// ignoring ASCII case.
func (s *callState) Header(name, b []byte) int32 {
	if !s.inRequest() {
		return int32(abi.StatusWrongStage)
	}
	if !s.take(len(name)) {
		return int32(abi.StatusLimit)
	}
	for i := range s.in.Headers {
		if equalFoldASCII(s.in.Headers[i].Name, name) {
			return s.copyOut(s.in.Headers[i].Value, b)
		}
	}
	return int32(abi.StatusNotFound)
}

func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
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

// SetRoute implements abi.Imports.
func (s *callState) SetRoute(flags int32, model, reason []byte) int32 {
	if s.stage != abi.StageRoute || s.out == nil {
		return int32(abi.StatusWrongStage)
	}
	if !s.take(len(model) + len(reason)) {
		return int32(abi.StatusLimit)
	}
	tier := abi.Tier((flags & abi.RouteTierMask) >> abi.RouteTierShift)
	if flags&^(abi.RouteAmbiguous|abi.RouteTierMask) != 0 || tier > abi.TierReasoning ||
		len(model) == 0 || len(model) > abi.MaxModelLen ||
		len(reason) > abi.MaxReasonLen || !printable(model, false) || !printable(reason, true) {
		return int32(abi.StatusInvalid)
	}
	o := s.out
	o.Route = Route{Set: true, Model: o.keep(model), Reason: o.keep(reason), Ambiguous: flags&abi.RouteAmbiguous != 0,
		Tier: tier, Policy: s.policy}
	return int32(abi.StatusOK)
}

// validRange reports whether [start, end) is a range of text on UTF-8
// character boundaries.
func validRange(text []byte, start, end int32) bool {
	if start < 0 || start > end || int(end) > len(text) {
		return false
	}
	if int(start) < len(text) && !utf8.RuneStart(text[start]) {
		return false
	}
	return int(end) == len(text) || utf8.RuneStart(text[end])
}

// ReplaceText implements abi.Imports.
func (s *callState) ReplaceText(i, start, end int32, text []byte) int32 {
	if s.stage != abi.StageRequest || s.out == nil {
		return int32(abi.StatusWrongStage)
	}
	if st := s.msgIndex(i); st != abi.StatusOK {
		return int32(st)
	}
	if !s.take(len(text)) {
		return int32(abi.StatusLimit)
	}
	_, old, _ := s.out.message(int(i))
	if !validRange(old, start, end) || !utf8.Valid(text) {
		return int32(abi.StatusInvalid)
	}
	o := s.out
	for k := range o.pending {
		p := &o.pending[k]
		if p.kind == EditReplace && p.msg == int(i) && int(start) < p.end && p.start < int(end) {
			return int32(abi.StatusInvalid)
		}
	}
	o.pending = append(o.pending, pendingOp{kind: EditReplace, msg: int(i), start: int(start), end: int(end), text: o.keep(text)})
	return int32(abi.StatusOK)
}

func validRole(role []byte) bool {
	switch string(role) {
	case "system", "developer", "user", "assistant":
		return true
	}
	return false
}

// InsertMessage implements abi.Imports.
func (s *callState) InsertMessage(at int32, role, text []byte) int32 {
	if s.stage != abi.StageRequest || s.out == nil {
		return int32(abi.StatusWrongStage)
	}
	if !s.take(len(role) + len(text)) {
		return int32(abi.StatusLimit)
	}
	if at < 0 || int(at) > s.out.messageCount() {
		return int32(abi.StatusOutOfRange)
	}
	if !validRole(role) || !utf8.Valid(text) {
		return int32(abi.StatusInvalid)
	}
	o := s.out
	o.pending = append(o.pending, pendingOp{kind: EditInsert, msg: int(at), role: o.keep(role), text: o.keep(text)})
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

// AddTag implements abi.Imports.
func (s *callState) AddTag(key, value []byte) int32 {
	if !s.inRequest() || s.out == nil {
		return int32(abi.StatusWrongStage)
	}
	if !s.take(len(key) + len(value)) {
		return int32(abi.StatusLimit)
	}
	if !validTagKey(key) || len(value) > abi.MaxTagValLen || !printable(value, true) || len(s.out.Tags) >= abi.MaxTagsPerRun {
		return int32(abi.StatusInvalid)
	}
	o := s.out
	o.Tags = append(o.Tags, Tag{Policy: s.policy, Key: o.keep(key), Value: o.keep(value)})
	return int32(abi.StatusOK)
}

// Respond implements abi.Imports.
func (s *callState) Respond(status int32, body []byte) int32 {
	if (s.stage != abi.StageRequest && s.stage != abi.StageRoute) || s.out == nil {
		return int32(abi.StatusWrongStage)
	}
	if !s.take(len(body)) {
		return int32(abi.StatusLimit)
	}
	if status < 200 || status > 599 || jsonscan.Validate(body) != nil {
		return int32(abi.StatusInvalid)
	}
	o := s.out
	o.Response = LocalResponse{Set: true, Status: int(status), Body: o.keep(body), Policy: s.policy}
	return int32(abi.StatusOK)
}

// SetVerdict implements abi.Imports.
func (s *callState) SetVerdict(flags, score int32, reason []byte) int32 {
	if s.stage != abi.StageResponse || s.out == nil {
		return int32(abi.StatusWrongStage)
	}
	if !s.take(len(reason)) {
		return int32(abi.StatusLimit)
	}
	if flags&^abi.VerdictEscalate != 0 || score < 0 || score > 1000 || len(reason) > abi.MaxReasonLen || !printable(reason, true) {
		return int32(abi.StatusInvalid)
	}
	o := s.out
	o.Verdict = Verdict{Set: true, Escalate: flags&abi.VerdictEscalate != 0, Score: int(score), Reason: o.keep(reason), Policy: s.policy}
	return int32(abi.StatusOK)
}

// ReportRemoved implements abi.Imports: the reports are staged with the
// call's edits and committed only if the call succeeds.
func (s *callState) ReportRemoved(kind, n int32) int32 {
	if s.stage != abi.StageRequest || s.out == nil {
		return int32(abi.StatusWrongStage)
	}
	if kind < 0 || kind >= abi.NumRemovals || n < 0 {
		return int32(abi.StatusInvalid)
	}
	s.out.pendingRemoved[kind] += int64(n)
	return int32(abi.StatusOK)
}

// SetTrigger implements abi.Imports: only the self-check may declare a
// trigger; a later declaration in the same self-check replaces an earlier
// one.
func (s *callState) SetTrigger(spec []byte) int32 {
	if s.stage != abi.StageConfigure {
		return int32(abi.StatusWrongStage)
	}
	if !s.take(len(spec)) {
		return int32(abi.StatusLimit)
	}
	t, msg := newTrigger(spec)
	if msg != "" {
		s.errMsg = append(s.errMsg[:0], msg...)
		return int32(abi.StatusInvalid)
	}
	s.trigger = t
	return int32(abi.StatusOK)
}

// SetError implements abi.Imports.
func (s *callState) SetError(msg []byte) int32 {
	if len(msg) > abi.MaxErrorLen {
		msg = msg[:abi.MaxErrorLen]
	}
	if !s.take(len(msg)) {
		return int32(abi.StatusLimit)
	}
	s.errMsg = append(s.errMsg[:0], msg...)
	s.guestErr = true
	return int32(abi.StatusOK)
}
