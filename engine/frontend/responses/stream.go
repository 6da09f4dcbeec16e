package responses

import (
	"bytes"
	"errors"
	"io"
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// Stream wraps any stream of OpenAI chunk events (what every Provider's
// Response.Stream yields) and emits the Responses API event sequence
// (https://platform.openai.com/docs/api-reference/responses-streaming),
// each event as "event: TYPE\ndata: {…,"sequence_number":N}\n\n":
//
//	response.created, response.in_progress
//	per output item, in order:
//	  response.output_item.added
//	  message:       response.content_part.added, response.output_text.delta…,
//	                 response.output_text.done, response.content_part.done
//	  function_call: response.function_call_arguments.delta…,
//	                 response.function_call_arguments.done
//	  reasoning:     response.reasoning_summary_part.added,
//	                 response.reasoning_summary_text.delta…,
//	                 response.reasoning_summary_text.done,
//	                 response.reasoning_summary_part.done
//	  response.output_item.done
//	response.completed (or response.incomplete after finish_reason length)
//
// Each event goes out as its chunk arrives: nothing is held back but the
// text needed for the .done events and the final response object, which
// carries every item in full, as on OpenAI. A content delta opens a message
// item; a tool_calls delta with an id opens a function_call item (closing
// the message), and its arguments stream as deltas on that item, also when
// a provider interleaves several calls; reasoning_content deltas stream as
// a reasoning summary. An in-stream error, or a source that ends before
// [DONE], becomes response.failed.
//
// # Notes
//
// Next returns bytes valid until the next call. OnComplete, when set, is
// called once with the final response object (completed or incomplete)
// before the event that carries it is returned: the engine stores it there,
// so that a client that saw response.completed can chain on it at once.
type Stream struct {
	src     providers.Stream
	meta    *Meta
	rest    []byte
	out     []byte
	scratch []byte
	model   []byte
	seq     int
	started bool
	items   []item
	openMsg int // index of the open message item, -1 when none
	openRsn int // index of the open reasoning item, -1 when none
	tools   []int
	finish  string
	usage   providers.Usage
	final   []byte
	done    bool
	// finished is set by the source's [DONE]; drained once the source was
	// asked for its end (which lets it give its connection back).
	finished, drained bool

	// OnComplete receives the final response object; see Notes.
	OnComplete func(response []byte)
}

// item is one output item being streamed.
type item struct {
	kind   byte // 'm' message, 'f' function call, 'r' reasoning
	id     string
	text   []byte // the text, arguments or summary so far (unescaped)
	callID []byte // JSON strings, for function calls
	name   []byte
	done   bool
	// incomplete marks the item the stop cut (finish_reason length or
	// content_filter): its status is incomplete once done.
	incomplete bool
}

var _ providers.Stream = (*Stream)(nil)

// NewStream returns a Stream reading src; m is the response's id, time and
// request.
func NewStream(src providers.Stream, m *Meta) *Stream {
	return &Stream{src: src, meta: m, openMsg: -1, openRsn: -1}
}

// Usage is the answer's usage.
func (s *Stream) Usage() providers.Usage {
	if s.usage.Set {
		return s.usage
	}
	return s.src.Usage()
}

// Close closes the source.
func (s *Stream) Close() error { return s.src.Close() }

// Pending reports whether Next can answer without waiting on the source.
func (s *Stream) Pending() bool {
	if len(s.rest) > 0 {
		return true
	}
	p, ok := s.src.(providers.Pender)
	return ok && p.Pending()
}

// Final returns the final response object once the stream completed, else
// nil.
func (s *Stream) Final() []byte { return s.final }

var (
	eventSep = []byte("\n\n")
)

// Next returns the next events.
func (s *Stream) Next() ([]byte, error) {
	s.out = s.out[:0]
	for !s.done && len(s.out) == 0 {
		if len(s.rest) == 0 {
			b, err := s.src.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					s.fail("the upstream stream ended before it finished")
				} else {
					s.fail("the upstream stream failed: " + err.Error())
				}
				break
			}
			s.rest = b
			continue
		}
		ev := s.rest
		if i := bytes.Index(ev, eventSep); i >= 0 {
			ev, s.rest = ev[:i], s.rest[i+2:]
		} else {
			s.rest = nil
		}
		s.event(ev)
	}
	if len(s.out) == 0 && s.done {
		if s.finished && !s.drained {
			s.drained = true
			_, _ = s.src.Next()
		}
		return nil, io.EOF
	}
	return s.out, nil
}

func (s *Stream) event(ev []byte) {
	for {
		chunk, rest, done := wire.NextChunk(ev)
		switch {
		case done:
			s.complete()
			return
		case chunk == nil:
			return
		}
		s.chunk(chunk)
		if s.done {
			return
		}
		ev = rest
	}
}

// emit starts an event: the SSE lines and the data object up to its
// sequence number; the caller appends the rest and ends it with end.
func (s *Stream) emit(name string) {
	s.out = append(s.out, "event: "...)
	s.out = append(s.out, name...)
	s.out = append(s.out, "\ndata: {\"type\":\""...)
	s.out = append(s.out, name...)
	s.out = append(s.out, `","sequence_number":`...)
	s.out = strconv.AppendInt(s.out, int64(s.seq), 10)
	s.seq++
}

func (s *Stream) end() { s.out = append(s.out, "}\n\n"...) }

// itemRef appends the item_id and output_index members of item i.
func (s *Stream) itemRef(i int) {
	s.out = append(s.out, `,"item_id":`...)
	s.out = jsonscan.AppendQuote(s.out, s.items[i].id)
	s.out = append(s.out, `,"output_index":`...)
	s.out = strconv.AppendInt(s.out, int64(i), 10)
}

func (s *Stream) start(model []byte) {
	if s.started {
		return
	}
	s.started = true
	s.model = append(s.model[:0], model...)
	for _, name := range [...]string{"response.created", "response.in_progress"} {
		s.emit(name)
		s.out = append(s.out, `,"response":`...)
		s.out = s.meta.appendResponse(s.out, StatusInProgress, s.model, nil, nil, "", nil)
		s.end()
	}
}

// appendItem appends item i as it stands.
func (s *Stream) appendItem(dst []byte, i int) []byte {
	it := &s.items[i]
	status := StatusInProgress
	switch {
	case it.done && it.incomplete:
		status = StatusIncomplete
	case it.done:
		status = StatusCompleted
	}
	switch it.kind {
	case 'm':
		var text []byte
		if it.done {
			text = jsonscan.AppendQuoteBytes(nil, it.text)
		}
		dst = appendMessageItem(dst, it.id, status, text)
	case 'f':
		args := []byte(`""`)
		if it.done {
			args = jsonscan.AppendQuoteBytes(nil, it.text)
		}
		dst = appendCallItem(dst, it.id, status, it.callID, it.name, args)
	case 'r':
		if it.done {
			dst = appendReasoningItem(dst, it.id, jsonscan.AppendQuoteBytes(nil, it.text))
		} else {
			dst = append(dst, `{"id":`...)
			dst = jsonscan.AppendQuote(dst, it.id)
			dst = append(dst, `,"type":"reasoning","summary":[]}`...)
		}
	}
	return dst
}

// open adds an item and sends output_item.added.
func (s *Stream) open(kind byte, prefix string) int {
	s.items = append(s.items, item{kind: kind, id: NewID(prefix)})
	i := len(s.items) - 1
	return i
}

func (s *Stream) added(i int) {
	s.emit("response.output_item.added")
	s.out = append(s.out, `,"output_index":`...)
	s.out = strconv.AppendInt(s.out, int64(i), 10)
	s.out = append(s.out, `,"item":`...)
	s.out = s.appendItem(s.out, i)
	s.end()
}

// closeItem sends item i's closing events and output_item.done.
func (s *Stream) closeItem(i int) {
	it := &s.items[i]
	if it.done {
		return
	}
	it.done = true
	q := jsonscan.AppendQuoteBytes(nil, it.text)
	switch it.kind {
	case 'm':
		s.emit("response.output_text.done")
		s.itemRef(i)
		s.out = append(s.out, `,"content_index":0,"text":`...)
		s.out = append(s.out, q...)
		s.out = append(s.out, `,"logprobs":[]`...)
		s.end()
		s.emit("response.content_part.done")
		s.itemRef(i)
		s.out = append(s.out, `,"content_index":0,"part":`...)
		s.out = appendTextPart(s.out, q)
		s.end()
		if s.openMsg == i {
			s.openMsg = -1
		}
	case 'f':
		s.emit("response.function_call_arguments.done")
		s.itemRef(i)
		s.out = append(s.out, `,"name":`...)
		s.out = append(s.out, it.name...)
		s.out = append(s.out, `,"arguments":`...)
		s.out = append(s.out, q...)
		s.end()
	case 'r':
		s.emit("response.reasoning_summary_text.done")
		s.itemRef(i)
		s.out = append(s.out, `,"summary_index":0,"text":`...)
		s.out = append(s.out, q...)
		s.end()
		s.emit("response.reasoning_summary_part.done")
		s.itemRef(i)
		s.out = append(s.out, `,"summary_index":0,"part":{"type":"summary_text","text":`...)
		s.out = append(s.out, q...)
		s.out = append(s.out, '}')
		s.end()
		if s.openRsn == i {
			s.openRsn = -1
		}
	}
	s.emit("response.output_item.done")
	s.out = append(s.out, `,"output_index":`...)
	s.out = strconv.AppendInt(s.out, int64(i), 10)
	s.out = append(s.out, `,"item":`...)
	s.out = s.appendItem(s.out, i)
	s.end()
}

func (s *Stream) chunk(data []byte) {
	s.scratch = s.scratch[:0]
	top := members(data, "model", "choices", "usage", "error")
	if top[3] != nil {
		msg := wire.Unq(jsonscan.Get(top[3], "message"), &s.scratch)
		if len(msg) == 0 {
			msg = []byte("the upstream stream failed")
		}
		s.fail(string(msg))
		return
	}
	s.start(wire.Unq(top[0], &s.scratch))
	if jsonscan.KindOf(top[2]) == jsonscan.Object {
		s.usage = providers.ParseUsage(top[2])
	}
	var choice []byte
	_ = jsonscan.ArrayEach(top[1], func(i int, c []byte) error {
		if i == 0 {
			choice = c
		}
		return nil
	})
	if jsonscan.KindOf(choice) != jsonscan.Object {
		return
	}
	cm := members(choice, "delta", "finish_reason")
	if jsonscan.KindOf(cm[0]) == jsonscan.Object {
		d := members(cm[0], "content", "tool_calls", "reasoning_content")
		if text := wire.Unq(d[2], &s.scratch); len(text) > 0 {
			if s.openRsn < 0 {
				s.closeOpenMsg()
				s.openRsn = s.open('r', "rs")
				s.added(s.openRsn)
				s.emit("response.reasoning_summary_part.added")
				s.itemRef(s.openRsn)
				s.out = append(s.out, `,"summary_index":0,"part":{"type":"summary_text","text":""}`...)
				s.end()
			}
			s.items[s.openRsn].text = append(s.items[s.openRsn].text, text...)
			s.emit("response.reasoning_summary_text.delta")
			s.itemRef(s.openRsn)
			s.out = append(s.out, `,"summary_index":0,"delta":`...)
			s.out = jsonscan.AppendQuoteBytes(s.out, text)
			s.end()
		}
		if text := wire.Unq(d[0], &s.scratch); len(text) > 0 {
			if s.openMsg < 0 {
				if s.openRsn >= 0 {
					s.closeItem(s.openRsn)
				}
				s.openMsg = s.open('m', "msg")
				s.added(s.openMsg)
				s.emit("response.content_part.added")
				s.itemRef(s.openMsg)
				s.out = append(s.out, `,"content_index":0,"part":`...)
				s.out = appendTextPart(s.out, []byte(`""`))
				s.end()
			}
			s.items[s.openMsg].text = append(s.items[s.openMsg].text, text...)
			s.emit("response.output_text.delta")
			s.itemRef(s.openMsg)
			s.out = append(s.out, `,"content_index":0,"delta":`...)
			s.out = jsonscan.AppendQuoteBytes(s.out, text)
			s.out = append(s.out, `,"logprobs":[]`...)
			s.end()
		}
		if jsonscan.KindOf(d[1]) == jsonscan.Array {
			_ = jsonscan.ArrayEach(d[1], func(_ int, c []byte) error {
				s.toolDelta(c)
				return nil
			})
		}
	}
	if jsonscan.KindOf(cm[1]) == jsonscan.String {
		s.finish = string(wire.Unq(cm[1], &s.scratch))
	}
}

// closeOpenMsg closes the open message and reasoning items: a new item
// follows them.
func (s *Stream) closeOpenMsg() {
	if s.openMsg >= 0 {
		s.closeItem(s.openMsg)
	}
}

func (s *Stream) toolDelta(c []byte) {
	if jsonscan.KindOf(c) != jsonscan.Object {
		return
	}
	cc := members(c, "index", "id", "function")
	ti := 0
	if n, err := jsonscan.ParseInt(cc[0]); err == nil && n >= 0 && n < 1<<12 {
		ti = int(n)
	}
	fn := members(cc[2], "name", "arguments")
	if jsonscan.KindOf(cc[1]) == jsonscan.String && len(cc[1]) > 2 {
		s.closeOpenMsg()
		if s.openRsn >= 0 {
			s.closeItem(s.openRsn)
		}
		for len(s.tools) <= ti {
			s.tools = append(s.tools, -1)
		}
		i := s.open('f', "fc")
		s.tools[ti] = i
		name := fn[0]
		if jsonscan.KindOf(name) != jsonscan.String {
			name = []byte(`""`)
		}
		s.items[i].callID = append([]byte(nil), cc[1]...)
		s.items[i].name = append([]byte(nil), name...)
		s.added(i)
	}
	if ti >= len(s.tools) || s.tools[ti] < 0 {
		return // arguments for a call that never started
	}
	i := s.tools[ti]
	if args := wire.Unq(fn[1], &s.scratch); len(args) > 0 {
		s.items[i].text = append(s.items[i].text, args...)
		s.emit("response.function_call_arguments.delta")
		s.itemRef(i)
		s.out = append(s.out, `,"delta":`...)
		s.out = jsonscan.AppendQuoteBytes(s.out, args)
		s.end()
	}
}

// complete closes every open item and sends the final response.
func (s *Stream) complete() {
	s.start(nil)
	status, reason := incompleteReason(s.finish)
	// Only the last item can still be open: every new item closes the
	// ones before it. That one the stop cut.
	if n := len(s.items); n > 0 && status == StatusIncomplete && !s.items[n-1].done {
		s.items[n-1].incomplete = true
	}
	for i := range s.items {
		s.closeItem(i)
	}
	var output []byte
	for i := range s.items {
		if i > 0 {
			output = append(output, ',')
		}
		output = s.appendItem(output, i)
	}
	u := s.Usage()
	s.final = s.meta.appendResponse(nil, status, s.model, output, &u, reason, nil)
	if s.OnComplete != nil {
		s.OnComplete(s.final)
	}
	name := "response.completed"
	if status == StatusIncomplete {
		name = "response.incomplete"
	}
	s.emit(name)
	s.out = append(s.out, `,"response":`...)
	s.out = append(s.out, s.final...)
	s.end()
	s.done, s.finished = true, true
}

// fail ends the stream with response.failed.
func (s *Stream) fail(msg string) {
	s.start(nil)
	errv := append([]byte(`{"code":"server_error","message":`), jsonscan.AppendQuote(nil, msg)...)
	errv = append(errv, '}')
	s.emit("response.failed")
	s.out = append(s.out, `,"response":`...)
	s.out = s.meta.appendResponse(s.out, StatusFailed, s.model, nil, nil, "", errv)
	s.end()
	s.done = true
}
