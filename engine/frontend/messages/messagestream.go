package messages

import (
	"bytes"
	"errors"
	"io"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/anthropic"
)

// Stream wraps any stream of OpenAI chunk events (what every
// Provider's Response.Stream yields) and emits the Anthropic Messages event
// sequence (https://docs.anthropic.com/en/docs/build-with-claude/streaming):
//
//	message_start
//	(content_block_start, content_block_delta…, content_block_stop)…
//	message_delta (stop_reason, usage)
//	message_stop
//
// Content deltas open a text block; a tool_calls delta with an id opens a
// tool_use block (input {}) and its arguments arrive as input_json_delta
// events on that block, also when a provider interleaves the arguments of
// several calls. A block is stopped when the next one starts or the answer
// finishes. message_start carries the usage known then (Gemini reports the
// prompt up front); message_delta carries the final input, cache and output
// counts, which the Anthropic SDKs take as the totals. reasoning_content
// deltas are dropped (a thinking block needs an Anthropic signature). An
// in-stream OpenAI error, or a source that ends without [DONE], becomes an
// "error" event, after which the stream ends.
//
// # Notes
//
// Next returns bytes valid until the next call. Close closes the source and
// may run concurrently with Next, as the source allows.
type Stream struct {
	src      providers.Stream
	rest     []byte // unread events from the source's last Next
	out      []byte
	scratch  []byte
	model    string
	started  bool
	open     int // index of the open block, -1 when none
	openTool bool
	nblocks  int
	tools    []int // OpenAI tool index → block index
	stop     string
	usage    providers.Usage
	done     bool
	// finished is set by the source's [DONE]; drained once the source was
	// asked for its end, which lets it read its upstream body to the end
	// and give the connection back to the pool.
	finished, drained bool
}

var _ providers.Stream = (*Stream)(nil)

// NewStream returns a Stream reading src. model names the model in
// message_start when the chunks carry none.
func NewStream(src providers.Stream, model string) *Stream {
	return &Stream{src: src, model: model, open: -1}
}

// Usage returns the source's usage.
func (m *Stream) Usage() providers.Usage {
	if m.usage.Set {
		return m.usage
	}
	return m.src.Usage()
}

// Close closes the source.
func (m *Stream) Close() error { return m.src.Close() }

var (
	eventSep = []byte("\n\n")
)

// Next returns the next Anthropic events.
// Pending reports whether Next can answer without waiting on the source.
func (m *Stream) Pending() bool {
	if len(m.rest) > 0 {
		return true
	}
	p, ok := m.src.(providers.Pender)
	return ok && p.Pending()
}

func (m *Stream) Next() ([]byte, error) {
	m.out = m.out[:0]
	for !m.done && len(m.out) == 0 {
		if len(m.rest) == 0 {
			b, err := m.src.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					m.fail("the upstream stream ended before it finished")
				} else {
					m.fail("the upstream stream failed: " + err.Error())
				}
				break
			}
			m.rest = b
			continue
		}
		ev := m.rest
		if i := bytes.Index(ev, eventSep); i >= 0 {
			ev, m.rest = ev[:i], m.rest[i+2:]
		} else {
			m.rest = nil
		}
		m.event(ev)
	}
	if len(m.out) == 0 && m.done {
		if m.finished && !m.drained {
			m.drained = true
			_, _ = m.src.Next() // io.EOF, once the source's body has ended
		}
		return nil, io.EOF
	}
	return m.out, nil
}

// event handles one OpenAI SSE event (possibly several lines).
func (m *Stream) event(ev []byte) {
	for {
		chunk, rest, done := wire.NextChunk(ev)
		switch {
		case done:
			m.finish()
			return
		case chunk == nil:
			return
		}
		m.chunk(chunk)
		if m.done {
			return
		}
		ev = rest
	}
}

func (m *Stream) emit(name string) {
	m.out = append(m.out, "event: "...)
	m.out = append(m.out, name...)
	m.out = append(m.out, "\ndata: "...)
}

func (m *Stream) start(id, model []byte) {
	if m.started {
		return
	}
	m.started = true
	u := m.src.Usage()
	m.emit("message_start")
	m.out = append(m.out, `{"type":"message_start","message":{"id":`...)
	m.out = appendMsgID(m.out, id)
	m.out = append(m.out, `,"type":"message","role":"assistant","model":`...)
	if len(model) > 0 {
		m.out = jsonscan.AppendQuoteBytes(m.out, model)
	} else {
		m.out = jsonscan.AppendQuote(m.out, m.model)
	}
	m.out = append(m.out, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	m.out = appendUsageIn(m.out, providers.Usage{PromptTokens: u.PromptTokens, CachedTokens: u.CachedTokens, CacheWriteTokens: u.CacheWriteTokens})
	m.out = append(m.out, "}}\n\n"...)
}

func (m *Stream) closeBlock() {
	if m.open < 0 {
		return
	}
	m.emit("content_block_stop")
	m.out = append(m.out, `{"type":"content_block_stop","index":`...)
	m.out = wire.AppendInt(m.out, m.open)
	m.out = append(m.out, "}\n\n"...)
	m.open = -1
}

func (m *Stream) openBlock(tool bool) int {
	m.closeBlock()
	m.open, m.openTool = m.nblocks, tool
	m.nblocks++
	m.emit("content_block_start")
	m.out = append(m.out, `{"type":"content_block_start","index":`...)
	m.out = wire.AppendInt(m.out, m.open)
	m.out = append(m.out, `,"content_block":`...)
	return m.open
}

func (m *Stream) delta(index int, typ, key string, val []byte) {
	m.emit("content_block_delta")
	m.out = append(m.out, `{"type":"content_block_delta","index":`...)
	m.out = wire.AppendInt(m.out, index)
	m.out = append(m.out, `,"delta":{"type":"`...)
	m.out = append(m.out, typ...)
	m.out = append(m.out, `","`...)
	m.out = append(m.out, key...)
	m.out = append(m.out, `":`...)
	m.out = jsonscan.AppendQuoteBytes(m.out, val)
	m.out = append(m.out, "}}\n\n"...)
}

func (m *Stream) chunk(data []byte) {
	m.scratch = m.scratch[:0]
	var id, model, choices, usage, errv []byte
	_ = jsonscan.ObjectEach(data, func(k, v []byte) error {
		switch string(k) {
		case "id":
			id = v
		case "model":
			model = v
		case "choices":
			choices = v
		case "usage":
			usage = v
		case "error":
			errv = v
		}
		return nil
	})
	if errv != nil {
		msg := wire.Unq(jsonscan.Get(errv, "message"), &m.scratch)
		if len(msg) == 0 {
			msg = []byte("the upstream stream failed")
		}
		m.fail(string(msg))
		return
	}
	m.start(wire.Unq(id, &m.scratch), wire.Unq(model, &m.scratch))
	if jsonscan.KindOf(usage) == jsonscan.Object {
		m.usage = providers.ParseUsage(usage)
	}
	var choice []byte
	if jsonscan.KindOf(choices) == jsonscan.Array {
		_ = jsonscan.ArrayEach(choices, func(i int, c []byte) error {
			if i == 0 {
				choice = c
			}
			return nil
		})
	}
	if jsonscan.KindOf(choice) != jsonscan.Object {
		return
	}
	var delta, finish []byte
	_ = jsonscan.ObjectEach(choice, func(k, v []byte) error {
		switch string(k) {
		case "delta":
			delta = v
		case "finish_reason":
			finish = v
		}
		return nil
	})
	if jsonscan.KindOf(delta) == jsonscan.Object {
		var content, calls []byte
		_ = jsonscan.ObjectEach(delta, func(k, v []byte) error {
			switch string(k) {
			case "content":
				content = v
			case "tool_calls":
				calls = v
			}
			return nil
		})
		if text := wire.Unq(content, &m.scratch); len(text) > 0 {
			if m.open < 0 || m.openTool {
				m.openBlock(false)
				m.out = append(m.out, `{"type":"text","text":""}}`+"\n\n"...)
			}
			m.delta(m.open, "text_delta", "text", text)
		}
		if jsonscan.KindOf(calls) == jsonscan.Array {
			_ = jsonscan.ArrayEach(calls, func(_ int, c []byte) error {
				m.toolDelta(c)
				return nil
			})
		}
	}
	if jsonscan.KindOf(finish) == jsonscan.String {
		m.stop = StopReason(string(wire.Unq(finish, &m.scratch)))
		m.closeBlock()
	}
}

func (m *Stream) toolDelta(c []byte) {
	if jsonscan.KindOf(c) != jsonscan.Object {
		return
	}
	ti := 0
	if n, err := jsonscan.ParseInt(jsonscan.Get(c, "index")); err == nil && n >= 0 && n < 1<<12 {
		ti = int(n)
	}
	fn := jsonscan.Get(c, "function")
	id := wire.Unq(jsonscan.Get(c, "id"), &m.scratch)
	if len(id) > 0 {
		for len(m.tools) <= ti {
			m.tools = append(m.tools, -1)
		}
		m.tools[ti] = m.openBlock(true)
		m.out = append(m.out, `{"type":"tool_use","id":`...)
		m.out = jsonscan.AppendQuoteBytes(m.out, id)
		m.out = append(m.out, `,"name":`...)
		m.out = jsonscan.AppendQuoteBytes(m.out, wire.Unq(jsonscan.Get(fn, "name"), &m.scratch))
		m.out = append(m.out, `,"input":{}}}`+"\n\n"...)
	}
	if ti >= len(m.tools) || m.tools[ti] < 0 {
		return // arguments for a call that never started
	}
	if args := wire.Unq(jsonscan.Get(fn, "arguments"), &m.scratch); len(args) > 0 {
		m.delta(m.tools[ti], "input_json_delta", "partial_json", args)
	}
}

// finish ends the message: the open block stops, then message_delta and
// message_stop.
func (m *Stream) finish() {
	m.start(nil, nil)
	m.closeBlock()
	u := m.Usage()
	stop := m.stop
	if stop == "" {
		stop = "end_turn"
	}
	m.emit("message_delta")
	m.out = append(m.out, `{"type":"message_delta","delta":{"stop_reason":"`...)
	m.out = append(m.out, stop...)
	m.out = append(m.out, `","stop_sequence":null},"usage":`...)
	m.out = appendUsageIn(m.out, u)
	m.out = append(m.out, "}\n\n"...)
	m.emit("message_stop")
	m.out = append(m.out, `{"type":"message_stop"}`+"\n\n"...)
	m.done, m.finished = true, true
}

// fail ends the stream with an error event; the status picks its type.
func (m *Stream) fail(msg string) {
	status := 502
	if bytes.Contains([]byte(msg), []byte("overloaded")) {
		status = 529
	}
	m.out = anthropic.AppendErrorEvent(m.out, status, msg)
	m.done = true
}
