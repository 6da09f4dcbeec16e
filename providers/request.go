package providers

import (
	"strconv"
	"sync"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
)

// Request is the canonical form of an OpenAI chat completion request: decoded
// once, then translated by every provider.
//
// # Notes
//
// Every string and []byte in a Request aliases Body or the Request's own
// scratch buffer: nothing is copied out of the body. They are valid until
// Release, across Adopt too: a rewritten body never overwrites the bytes an
// earlier decode handed out (see Adopt). Callers that keep a value past the
// request must copy it. A Request is not safe for concurrent mutation.
type Request struct {
	// Body is the client's JSON body, owned by the Request.
	Body []byte

	Model          string
	Stream         bool
	IncludeUsage   bool // stream_options.include_usage
	Messages       []Message
	Tools          []Tool
	ToolChoice     []byte // raw JSON, nil when absent
	ParallelTools  Tri    // parallel_tool_calls
	Temperature    Float
	TopP           Float
	MaxTokens      int // max_completion_tokens, else max_tokens; 0 when absent
	Stop           []string
	ResponseFormat []byte // raw JSON object, nil when absent
	// ResponseFormatType is response_format.type, unescaped: "text",
	// "json_object" or "json_schema"; "" when absent.
	ResponseFormatType string
	Seed               Int
	User               string
	N                  int    // 0 when absent
	Skill              string // gateway extension: the "skill" body field
	// ReasoningEffort is reasoning_effort ("minimal", "low", "medium",
	// "high", …) as the client sent it; "" when absent. Providers whose
	// format has an equivalent map it, unless Call.NoReasoning.
	ReasoningEffort string
	// Logprobs and TopLogprobs are logprobs and top_logprobs (0–20, only
	// with logprobs true), checked as OpenAI checks them.
	Logprobs    bool
	TopLogprobs Int

	// Fields lists every top-level member in body order, known or not, so that
	// OpenAI-format upstreams receive unknown parameters verbatim.
	Fields []Field

	// streamOptions: a stream_options object was sent (it needs stream).
	streamOptions bool

	parts     []Part
	toolCalls []ToolCall
	ranges    []msgRanges
	scratch   []byte
	// retired holds the bodies and scratch buffers of earlier decodes of
	// this request (before Adopt), alive until Reset so that every string
	// and span taken from them stays valid; spare holds emptied buffers
	// for EditBuffer, recycled across pooled uses.
	retired [][]byte
	spare   [][]byte
}

// maxSpare bounds the emptied buffers a pooled Request keeps.
const maxSpare = 4

type msgRanges struct{ p0, p1, c0, c1 int }

// Field is one top-level member of the body: Body[Start:End] is the whole
// member ("key": value), Body[ValStart:End] its value.
type Field struct {
	Key      string
	Start    int
	ValStart int
	End      int
}

// Tri is an optional boolean.
type Tri int8

// Tri values.
const (
	Unset Tri = iota
	False
	True
)

// Float is an optional number.
type Float struct {
	V   float64
	Set bool
}

// Int is an optional integer.
type Int struct {
	V   int64
	Set bool
}

// Message is one chat message.
type Message struct {
	Role string
	// Content holds the text when the content was a JSON string.
	Content string
	// Parts holds the content parts when the content was an array.
	Parts      []Part
	Name       string
	ToolCallID string
	ToolCalls  []ToolCall
	// Span is the message object's byte range in Body; ContentSpan the range
	// of its "content" value (zero when absent).
	Span, ContentSpan Span
}

// Span is a half-open byte range [Start, End) of Request.Body.
type Span struct{ Start, End int }

// Empty reports whether the span covers nothing.
func (s Span) Empty() bool { return s.End <= s.Start }

// Part is one content part of a message.
type Part struct {
	Type     string // "text", "image_url", "input_audio", "file", …
	Text     string
	ImageURL string // image_url.url: a data: URL or an http(s) URL
	Detail   string // image_url.detail
	Raw      []byte // the whole part object, for parts the gateway does not interpret
}

// ToolCall is an assistant's function call.
type ToolCall struct {
	ID        string
	Type      string
	Name      string
	Arguments string // a JSON document serialised as a string, as OpenAI sends it
}

// Tool is a function tool definition.
type Tool struct {
	Type        string
	Name        string
	Description string
	Parameters  []byte // raw JSON Schema object, nil when absent
	Strict      Tri
	Raw         []byte // the whole tool object
}

// Text returns the message's text: Content, or the text parts joined by "\n".
// It allocates only when several text parts must be joined.
func (m *Message) Text() string {
	if len(m.Parts) == 0 {
		return m.Content
	}
	n, last := 0, -1
	for i := range m.Parts {
		if m.Parts[i].Type == "text" {
			n++
			last = i
		}
	}
	switch n {
	case 0:
		return ""
	case 1:
		return m.Parts[last].Text
	}
	var b []byte
	for i := range m.Parts {
		if m.Parts[i].Type == "text" {
			if len(b) > 0 {
				b = append(b, '\n')
			}
			b = append(b, m.Parts[i].Text...)
		}
	}
	return string(b)
}

// HasImages reports whether any message carries an image part.
func (r *Request) HasImages() bool {
	for i := range r.Messages {
		for j := range r.Messages[i].Parts {
			if r.Messages[i].Parts[j].Type == "image_url" {
				return true
			}
		}
	}
	return false
}

// WantsJSON reports whether response_format asks for JSON output.
func (r *Request) WantsJSON() bool {
	if r.ResponseFormat == nil {
		return false
	}
	return r.ResponseFormatType == "json_object" || r.ResponseFormatType == "json_schema"
}

// Field returns the top-level member named key, if present.
func (r *Request) Field(key string) (Field, bool) {
	for _, f := range r.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

// Value returns the raw JSON value of the top-level member key, or nil.
func (r *Request) Value(key string) []byte {
	if f, ok := r.Field(key); ok {
		return r.Body[f.ValStart:f.End]
	}
	return nil
}

var requestPool = sync.Pool{New: func() any { return new(Request) }}

// AcquireRequest returns an empty Request from a pool.
func AcquireRequest() *Request { return requestPool.Get().(*Request) }

// ReleaseRequest returns r to the pool. r and everything it aliases must not
// be used afterwards.
func ReleaseRequest(r *Request) {
	r.Reset()
	requestPool.Put(r)
}

// Reset clears r, keeping its buffers for reuse.
func (r *Request) Reset() {
	spare := r.spare
	for _, b := range r.retired {
		if len(spare) < maxSpare {
			spare = append(spare, b[:0])
		}
	}
	clear(r.retired)
	retired := r.retired[:0]
	r.resetDecoded()
	r.Body, r.scratch = r.Body[:0], r.scratch[:0]
	r.retired, r.spare = retired, spare
}

// resetDecoded clears the decoded fields, keeping every buffer: Body,
// scratch, retired and spare are the caller's to set.
func (r *Request) resetDecoded() {
	body, msgs, tools, fields, parts, calls, scratch, stop, rg := r.Body, r.Messages[:0], r.Tools[:0], r.Fields[:0], r.parts[:0], r.toolCalls[:0], r.scratch, r.Stop[:0], r.ranges[:0]
	retired, spare := r.retired, r.spare
	// Everything the other slices hold points into buffers r keeps; only
	// messages are cleared, as before, so that a stale Parts slice cannot
	// survive into the next decode.
	clear(msgs[:cap(msgs)])
	*r = Request{}
	r.Body, r.Messages, r.Tools, r.Fields, r.parts, r.toolCalls, r.scratch, r.Stop, r.ranges = body, msgs, tools, fields, parts, calls, scratch, stop, rg
	r.retired, r.spare = retired, spare
}

// EditBuffer returns an empty buffer owned by r for building a rewritten
// body to hand back with Adopt. It is never a buffer that any of r's
// strings or spans point into.
func (r *Request) EditBuffer() []byte {
	if n := len(r.spare); n > 0 {
		b := r.spare[n-1]
		r.spare[n-1] = nil
		r.spare = r.spare[:n-1]
		return b[:0]
	}
	return nil
}

// Adopt makes body the request's body, without copying, and decodes it.
// The previous body and scratch buffer are retired, not reused, until
// Reset: a string or span a caller took before (the model name, a message's
// text) keeps reading the bytes it read then, whatever the new body holds.
// body must come from EditBuffer (or be otherwise owned by nobody else) and
// must not be modified afterwards. On error r holds a partial decode and
// must be Reset or Released.
func (r *Request) Adopt(body []byte) error {
	r.retired = append(r.retired, r.Body, r.scratch)
	r.Body, r.scratch = nil, nil
	if n := len(r.spare); n > 0 {
		r.scratch = r.spare[n-1][:0]
		r.spare[n-1] = nil
		r.spare = r.spare[:n-1]
	}
	r.resetDecoded()
	r.Body = body
	return r.decode()
}

// RequestError is a client error in the request body; Param names the field.
type RequestError struct {
	Param string
	Msg   string
	// Code is the error envelope's code; "" for the generic one.
	Code string
}

func (e *RequestError) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	return e.Param + ": " + e.Msg
}

func reqErr(param, msg string) error { return &RequestError{Param: param, Msg: msg} }

// path names a field lazily ("a[i]b[j]c"), so that the happy path never
// builds the string.
type path struct {
	a string
	i int
	b string
	j int
	c string
}

func p0(a string) path                                   { return path{a: a, i: -1, j: -1} }
func p1(a string, i int, b string) path                  { return path{a: a, i: i, b: b, j: -1} }
func p2(a string, i int, b string, j int, c string) path { return path{a, i, b, j, c} }

func (p path) String() string {
	s := p.a
	if p.i >= 0 {
		s += "[" + strconv.Itoa(p.i) + "]"
	}
	s += p.b
	if p.j >= 0 {
		s += "[" + strconv.Itoa(p.j) + "]"
	}
	return s + p.c
}

// with sets the path's trailing literal.
func (p path) with(c string) path { p.c = c; return p }

func pathErr(p path, msg string) error { return &RequestError{Param: p.String(), Msg: msg} }

// Decode copies body into r and decodes it. On error r holds a partial
// decode and must be Reset or Released. Decode reuses r's buffers: to
// rewrite the body of a request that is being served, use Adopt.
func (r *Request) Decode(body []byte) error {
	if len(r.Body) > 0 || len(r.Messages) > 0 || len(r.Fields) > 0 {
		// A second Decode on a live request would overwrite bytes that
		// earlier strings point into: treat it as Adopt of a copy.
		return r.Adopt(append(r.EditBuffer(), body...))
	}
	r.Body = append(r.Body[:0], body...)
	return r.decode()
}

// offsetOf returns the offset of sub within b; sub must be a sub-slice of b.
func offsetOf(b, sub []byte) int {
	if len(sub) == 0 {
		return 0
	}
	return int(uintptrOf(sub) - uintptrOf(b))
}

// lastQuoteBefore finds the opening quote of the key that precedes the value
// at valStart (the key is keyLen raw bytes long).
func lastQuoteBefore(b []byte, base, valStart, keyLen int) int {
	i := valStart - 1
	for i > base && b[i] != ':' {
		i--
	}
	i--
	for i > base && b[i] != '"' {
		i--
	}
	// i is the closing quote; the opening one is keyLen+1 before it.
	return i - keyLen - 1
}

func (r *Request) str(param path, v []byte) (string, error) {
	if jsonscan.KindOf(v) != jsonscan.String {
		return "", pathErr(param, "expected a string, got "+jsonscan.KindOf(v).String())
	}
	s, scratch, err := jsonscan.Unquote(v, r.scratch)
	r.scratch = scratch
	if err != nil {
		return "", pathErr(param, err.Error())
	}
	return unsafeconv.String(s), nil
}

func boolVal(param path, v []byte) (bool, error) {
	switch jsonscan.KindOf(v) {
	case jsonscan.True:
		return true, nil
	case jsonscan.False, jsonscan.Null:
		return false, nil
	}
	return false, pathErr(param, "expected a boolean, got "+jsonscan.KindOf(v).String())
}

func numVal(param path, v []byte, lo, hi float64) (Float, error) {
	switch jsonscan.KindOf(v) {
	case jsonscan.Null:
		return Float{}, nil
	case jsonscan.Number:
		f, err := jsonscan.ParseFloat(v)
		if err != nil {
			return Float{}, pathErr(param, "invalid number")
		}
		if f < lo || f > hi {
			return Float{}, pathErr(param, "must be between "+strconv.FormatFloat(lo, 'g', -1, 64)+" and "+strconv.FormatFloat(hi, 'g', -1, 64))
		}
		return Float{V: f, Set: true}, nil
	}
	return Float{}, pathErr(param, "expected a number, got "+jsonscan.KindOf(v).String())
}

// intIn is intVal within [lo, hi]. A value out of range has the gateway's
// generic code, as every range error does (OpenAI's own codes,
// integer_above_max_value and the like, are not part of the contract the
// SDK checks pin).
func intIn(param path, v []byte, lo, hi int64) (Int, error) {
	n, err := intVal(param, v)
	if err != nil || !n.Set || (n.V >= lo && n.V <= hi) {
		return n, err
	}
	if hi == 1<<63-1 {
		return Int{}, pathErr(param, "must be at least "+strconv.FormatInt(lo, 10))
	}
	return Int{}, pathErr(param, "must be between "+strconv.FormatInt(lo, 10)+" and "+strconv.FormatInt(hi, 10))
}

func intVal(param path, v []byte) (Int, error) {
	switch jsonscan.KindOf(v) {
	case jsonscan.Null:
		return Int{}, nil
	case jsonscan.Number:
		n, err := jsonscan.ParseInt(v)
		if err != nil {
			return Int{}, pathErr(param, "expected an integer")
		}
		return Int{V: n, Set: true}, nil
	}
	return Int{}, pathErr(param, "expected an integer, got "+jsonscan.KindOf(v).String())
}

// decodeField decodes the top-level member f (an index of topNames, -1 for
// members the decoder does not read).
func (r *Request) decodeField(f int, val []byte, msgs *[]byte) error {
	var err error
	switch f {
	case fModel:
		r.Model, err = r.str(p0("model"), val)
	case fMessages:
		if jsonscan.KindOf(val) != jsonscan.Array {
			return reqErr("messages", "expected an array, got "+jsonscan.KindOf(val).String())
		}
		*msgs = val
	case fStream:
		r.Stream, err = boolVal(p0("stream"), val)
	case fStreamOptions:
		switch jsonscan.KindOf(val) {
		case jsonscan.Null:
		case jsonscan.Object:
			r.streamOptions = true
			var seen jsonscan.Seen
			err = jsonscan.ObjectEachTrusted(val, func(k, v []byte) error {
				o, err := streamOptionsNames.Check(&seen, k)
				if err != nil {
					return NameErr("stream_options", err)
				}
				if o == soIncludeUsage {
					r.IncludeUsage, err = boolVal(p0("stream_options.include_usage"), v)
				}
				return err
			})
		default:
			return reqErr("stream_options", "expected an object")
		}
	case fTemperature:
		r.Temperature, err = numVal(p0("temperature"), val, 0, 2)
	case fTopP:
		r.TopP, err = numVal(p0("top_p"), val, 0, 1)
	case fMaxTokens, fMaxCompletionTokens:
		var n Int
		if n, err = intIn(p0(topNames.Name(f)), val, 1, 1<<63-1); err == nil && n.Set {
			if f == fMaxCompletionTokens || r.MaxTokens == 0 {
				r.MaxTokens = int(min(n.V, 1<<31-1))
			}
		}
	case fN:
		var n Int
		if n, err = intIn(p0("n"), val, 1, 128); err == nil && n.Set {
			r.N = int(n.V)
		}
	case fLogprobs:
		r.Logprobs, err = boolVal(p0("logprobs"), val)
	case fTopLogprobs:
		r.TopLogprobs, err = intIn(p0("top_logprobs"), val, 0, 20)
	case fSeed:
		r.Seed, err = intVal(p0("seed"), val)
	case fUser:
		if jsonscan.KindOf(val) != jsonscan.Null {
			r.User, err = r.str(p0("user"), val)
		}
	case fSkill:
		if jsonscan.KindOf(val) != jsonscan.Null {
			r.Skill, err = r.str(p0("skill"), val)
		}
	case fReasoningEffort:
		if jsonscan.KindOf(val) != jsonscan.Null {
			r.ReasoningEffort, err = r.str(p0("reasoning_effort"), val)
		}
	case fStop:
		err = r.decodeStop(val)
	case fTools:
		err = r.decodeTools(val)
	case fToolChoice:
		switch jsonscan.KindOf(val) {
		case jsonscan.Null:
		case jsonscan.String, jsonscan.Object:
			r.ToolChoice = val
		default:
			return reqErr("tool_choice", "expected a string or an object")
		}
	case fParallelToolCalls:
		var v bool
		if jsonscan.KindOf(val) != jsonscan.Null {
			if v, err = boolVal(p0("parallel_tool_calls"), val); err == nil {
				r.ParallelTools = False
				if v {
					r.ParallelTools = True
				}
			}
		}
	case fResponseFormat:
		switch jsonscan.KindOf(val) {
		case jsonscan.Null:
		case jsonscan.Object:
			var t, js []byte
			var seen jsonscan.Seen
			err := jsonscan.ObjectEachTrusted(val, func(k, v []byte) error {
				o, err := responseFormatNames.Check(&seen, k)
				switch {
				case err != nil:
					return NameErr("response_format", err)
				case o == rfType:
					t = v
				case o == rfJSONSchema:
					js = v
					return NameErr("response_format.json_schema", jsonscan.CheckNames(v, jsonSchemaMembers))
				}
				return nil
			})
			if err != nil {
				return err
			}
			if jsonscan.KindOf(t) != jsonscan.String {
				return &RequestError{Param: "response_format.type", Code: CodeMissingParameter, Msg: "is required"}
			}
			if err := r.checkResponseFormat(t, js); err != nil {
				return err
			}
			r.ResponseFormat = val
		default:
			return reqErr("response_format", "expected an object")
		}
	}
	return err
}

// checkResponseFormat checks response_format's type (the JSON string t)
// and, for json_schema, its json_schema member js: the values and names
// https://platform.openai.com/docs/api-reference/chat/create#chat-create-response_format
// requires, with OpenAI's codes (invalid_value, missing_required_parameter).
// A translating provider would otherwise drop what OpenAI refuses.
func (r *Request) checkResponseFormat(t, js []byte) error {
	typ, err := r.str(p0("response_format.type"), t)
	if err != nil {
		return err
	}
	switch typ {
	case "text", "json_object":
		r.ResponseFormatType = typ
		return nil
	case "json_schema":
		r.ResponseFormatType = typ
	default:
		return &RequestError{Param: "response_format.type", Code: CodeInvalidValue,
			Msg: "invalid value " + strconv.Quote(typ) + "; supported values are json_object, json_schema and text"}
	}
	if jsonscan.KindOf(js) != jsonscan.Object {
		return &RequestError{Param: "response_format.json_schema", Code: CodeMissingParameter,
			Msg: "is required when response_format.type is json_schema"}
	}
	name := jsonscan.Get(js, "name")
	switch jsonscan.KindOf(name) {
	case jsonscan.String:
		return nil
	case jsonscan.Invalid, jsonscan.Null:
		return &RequestError{Param: "response_format.json_schema.name", Code: CodeMissingParameter, Msg: "is required"}
	}
	return reqErr("response_format.json_schema.name", "expected a string, got "+jsonscan.KindOf(name).String())
}

// checkTop checks what depends on several top-level members, once all are
// read (they come in any order): stream_options needs stream true,
// top_logprobs needs logprobs true, as on OpenAI, and an allowed_tools
// tool_choice names tools of tools.
func (r *Request) checkTop() error {
	if r.streamOptions && !r.Stream {
		return reqErr("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
	}
	if r.TopLogprobs.Set && !r.Logprobs {
		return reqErr("top_logprobs", "is only allowed when 'logprobs' is true")
	}
	if jsonscan.KindOf(r.ToolChoice) == jsonscan.Object && isString(jsonscan.Get(r.ToolChoice, "type"), "allowed_tools") {
		return r.checkAllowedTools(r.ToolChoice)
	}
	return nil
}

func (r *Request) decodeStop(val []byte) error {
	switch jsonscan.KindOf(val) {
	case jsonscan.Null:
		return nil
	case jsonscan.String:
		s, err := r.str(p0("stop"), val)
		if err != nil {
			return err
		}
		r.Stop = append(r.Stop, s)
		return nil
	case jsonscan.Array:
		return jsonscan.ArrayEachTrusted(val, func(i int, e []byte) error {
			s, err := r.str(p1("stop", i, ""), e)
			if err != nil {
				return err
			}
			r.Stop = append(r.Stop, s)
			return nil
		})
	}
	return reqErr("stop", "expected a string or an array of strings")
}

func (r *Request) decodeTools(val []byte) error {
	switch jsonscan.KindOf(val) {
	case jsonscan.Null:
		return nil
	case jsonscan.Array:
	default:
		return reqErr("tools", "expected an array")
	}
	return jsonscan.ArrayEachTrusted(val, func(i int, e []byte) error {
		if jsonscan.KindOf(e) != jsonscan.Object {
			return pathErr(p1("tools", i, ""), "expected an object")
		}
		var tv, fn []byte
		var seen jsonscan.Seen
		err := jsonscan.ObjectEachTrusted(e, func(k, v []byte) error {
			f, err := toolNames.Check(&seen, k)
			switch {
			case err != nil:
				return nameErr(p1("tools", i, ""), err)
			case f == tType:
				tv = v
			case f == tFunction:
				fn = v
			}
			return nil
		})
		if err != nil {
			return err
		}
		t := Tool{Type: "function", Raw: e}
		if tv != nil {
			s, err := r.str(p1("tools", i, ".type"), tv)
			if err != nil {
				return err
			}
			t.Type = s
		}
		if t.Type == "function" {
			if jsonscan.KindOf(fn) != jsonscan.Object {
				return pathErr(p1("tools", i, ".function"), "is required for function tools")
			}
			var seen jsonscan.Seen
			err := jsonscan.ObjectEachTrusted(fn, func(k, v []byte) error {
				f, err := toolFunctionNames.Check(&seen, k)
				if err != nil {
					return nameErr(p1("tools", i, ".function"), err)
				}
				switch f {
				case tfName:
					t.Name, err = r.str(p1("tools", i, ".function.name"), v)
				case tfDescription:
					if jsonscan.KindOf(v) != jsonscan.Null {
						t.Description, err = r.str(p1("tools", i, ".function.description"), v)
					}
				case tfParameters:
					if jsonscan.KindOf(v) == jsonscan.Object {
						t.Parameters = v
					} else if jsonscan.KindOf(v) != jsonscan.Null {
						err = pathErr(p1("tools", i, ".function.parameters"), "expected an object")
					}
				case tfStrict:
					var b bool
					if b, err = boolVal(p1("tools", i, ".function.strict"), v); err == nil {
						t.Strict = False
						if b {
							t.Strict = True
						}
					}
				}
				return err
			})
			if err != nil {
				return err
			}
			if t.Name == "" {
				return pathErr(p1("tools", i, ".function.name"), "is required")
			}
		}
		r.Tools = append(r.Tools, t)
		return nil
	})
}

var validRoles = [...]string{"system", "developer", "user", "assistant", "tool", "function"}

func (r *Request) decodeMessages(val []byte) error {
	// Parts and tool calls go to shared arenas; the per-message sub-slices are
	// fixed up at the end because appends may move the arenas.
	rg := r.ranges[:0]
	defer func() { r.ranges = rg[:0] }()
	err := jsonscan.ArrayEachTrusted(val, func(i int, e []byte) error {
		if jsonscan.KindOf(e) != jsonscan.Object {
			return pathErr(p1("messages", i, ""), "expected an object")
		}
		m := Message{}
		m.Span = Span{offsetOf(r.Body, e), offsetOf(r.Body, e) + len(e)}
		x := msgRanges{p0: len(r.parts), c0: len(r.toolCalls)}
		hasContent := false
		var seen jsonscan.Seen
		err := jsonscan.ObjectEachTrusted(e, func(k, v []byte) error {
			f, err := messageNames.Check(&seen, k)
			if err != nil {
				return nameErr(p1("messages", i, ""), err)
			}
			return r.messageMember(i, &m, &hasContent, f, v)
		})
		if err != nil {
			return err
		}
		rg, err = r.addMessage(i, &m, hasContent, x, rg)
		return err
	})
	if err != nil {
		return err
	}
	r.fixMessages(rg)
	return nil
}

// messageMember decodes the member f (an index of messageNames) of the
// message i into m.
func (r *Request) messageMember(i int, m *Message, hasContent *bool, f int, v []byte) error {
	var err error
	switch f {
	case mRole:
		m.Role, err = r.str(p1("messages", i, ".role"), v)
	case mContent:
		*hasContent = true
		m.ContentSpan = Span{offsetOf(r.Body, v), offsetOf(r.Body, v) + len(v)}
		switch jsonscan.KindOf(v) {
		case jsonscan.String:
			m.Content, err = r.str(p1("messages", i, ".content"), v)
		case jsonscan.Array:
			err = r.decodeParts(i, v)
		case jsonscan.Null:
		default:
			err = pathErr(p1("messages", i, ".content"), "expected a string, an array of content parts or null")
		}
	case mName:
		if jsonscan.KindOf(v) != jsonscan.Null {
			m.Name, err = r.str(p1("messages", i, ".name"), v)
		}
	case mToolCallID:
		if jsonscan.KindOf(v) != jsonscan.Null {
			m.ToolCallID, err = r.str(p1("messages", i, ".tool_call_id"), v)
		}
	case mToolCalls:
		err = r.decodeToolCalls(i, v)
	}
	return err
}

// addMessage checks the decoded message i and appends it, with its ranges
// of the parts and tool-call arenas (x, from where they stood before the
// message) to rg.
func (r *Request) addMessage(i int, m *Message, hasContent bool, x msgRanges, rg []msgRanges) ([]msgRanges, error) {
	switch m.Role {
	case "":
		return rg, pathErr(p1("messages", i, ".role"), "is required")
	case "tool":
		if m.ToolCallID == "" {
			return rg, pathErr(p1("messages", i, ".tool_call_id"), "is required for tool messages")
		}
	}
	known := false
	for _, role := range validRoles {
		known = known || m.Role == role
	}
	if !known {
		return rg, pathErr(p1("messages", i, ".role"), "unknown role "+strconv.Quote(m.Role)+"; expected system, developer, user, assistant or tool")
	}
	if !hasContent && m.Role != "assistant" {
		return rg, pathErr(p1("messages", i, ".content"), "is required")
	}
	x.p1, x.c1 = len(r.parts), len(r.toolCalls)
	r.Messages = append(r.Messages, *m)
	return append(rg, x), nil
}

// fixMessages points each message at its parts and tool calls, once the
// arenas stopped moving.
func (r *Request) fixMessages(rg []msgRanges) {
	for i := range r.Messages {
		x := rg[i]
		if x.p1 > x.p0 {
			r.Messages[i].Parts = r.parts[x.p0:x.p1:x.p1]
		}
		if x.c1 > x.c0 {
			r.Messages[i].ToolCalls = r.toolCalls[x.c0:x.c1:x.c1]
		}
	}
}

func (r *Request) decodeParts(mi int, v []byte) error {
	return jsonscan.ArrayEachTrusted(v, func(pi int, e []byte) error {
		param := p2("messages", mi, ".content", pi, "")
		if jsonscan.KindOf(e) != jsonscan.Object {
			return pathErr(param, "expected a content part object")
		}
		p := Part{Raw: e}
		var seen jsonscan.Seen
		err := jsonscan.ObjectEachTrusted(e, func(k, val []byte) error {
			f, err := partNames.Check(&seen, k)
			if err != nil {
				return nameErr(param, err)
			}
			return r.partMember(param, &p, f, val)
		})
		if err != nil {
			return err
		}
		return r.addPart(param, &p)
	})
}

// partMember decodes the member f (an index of partNames) of a content
// part into p.
func (r *Request) partMember(param path, p *Part, f int, val []byte) error {
	var err error
	switch f {
	case ptType:
		p.Type, err = r.str(param.with(".type"), val)
	case ptText:
		p.Text, err = r.str(param.with(".text"), val)
	case ptImageURL:
		switch jsonscan.KindOf(val) {
		case jsonscan.String: // tolerated shorthand
			p.ImageURL, err = r.str(param.with(".image_url"), val)
		case jsonscan.Object:
			var seenURL jsonscan.Seen
			err = jsonscan.ObjectEachTrusted(val, func(k2, v2 []byte) error {
				f, err := imageURLNames.Check(&seenURL, k2)
				if err != nil {
					return nameErr(param.with(".image_url"), err)
				}
				switch f {
				case iuURL:
					p.ImageURL, err = r.str(param.with(".image_url.url"), v2)
				case iuDetail:
					if jsonscan.KindOf(v2) != jsonscan.Null {
						p.Detail, err = r.str(param.with(".image_url.detail"), v2)
					}
				}
				return err
			})
		default:
			err = pathErr(param.with(".image_url"), "expected an object")
		}
	}
	return err
}

// addPart checks the decoded part p and appends it.
func (r *Request) addPart(param path, p *Part) error {
	switch p.Type {
	case "":
		return pathErr(param.with(".type"), "is required")
	case "image_url":
		if p.ImageURL == "" {
			return pathErr(param.with(".image_url.url"), "is required")
		}
	}
	r.parts = append(r.parts, *p)
	return nil
}

func (r *Request) decodeToolCalls(mi int, v []byte) error {
	switch jsonscan.KindOf(v) {
	case jsonscan.Null:
		return nil
	case jsonscan.Array:
	default:
		return pathErr(p1("messages", mi, ".tool_calls"), "expected an array")
	}
	return jsonscan.ArrayEachTrusted(v, func(ci int, e []byte) error {
		param := p2("messages", mi, ".tool_calls", ci, "")
		if jsonscan.KindOf(e) != jsonscan.Object {
			return pathErr(param, "expected an object")
		}
		tc := ToolCall{Type: "function"}
		var seen jsonscan.Seen
		err := jsonscan.ObjectEachTrusted(e, func(k, val []byte) error {
			f, err := toolCallNames.Check(&seen, k)
			if err != nil {
				return nameErr(param, err)
			}
			switch f {
			case tcID:
				tc.ID, err = r.str(param.with(".id"), val)
			case tcType:
				tc.Type, err = r.str(param.with(".type"), val)
			case tcFunction:
				if jsonscan.KindOf(val) != jsonscan.Object {
					return pathErr(param.with(".function"), "expected an object")
				}
				var seenFn jsonscan.Seen
				err = jsonscan.ObjectEachTrusted(val, func(k2, v2 []byte) error {
					f, err := callFunctionNames.Check(&seenFn, k2)
					if err != nil {
						return nameErr(param.with(".function"), err)
					}
					switch f {
					case cfName:
						tc.Name, err = r.str(param.with(".function.name"), v2)
					case cfArguments:
						tc.Arguments, err = r.str(param.with(".function.arguments"), v2)
					}
					return err
				})
			}
			return err
		})
		if err != nil {
			return err
		}
		if tc.Name == "" {
			return pathErr(param.with(".function.name"), "is required")
		}
		r.toolCalls = append(r.toolCalls, tc)
		return nil
	})
}
