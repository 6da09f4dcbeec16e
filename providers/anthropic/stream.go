package anthropic

import (
	"errors"
	"io"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/sse"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/upstream"
)

// blockKind is what an Anthropic content block turns into.
type blockKind uint8

const (
	blockIgnored  blockKind = iota // redacted_thinking, server tools, unknown
	blockText                      // text deltas → content deltas
	blockTool                      // tool_use → tool_calls deltas
	blockJSON                      // the forced JSON tool → content deltas
	blockThinking                  // thinking deltas → reasoning_content deltas
)

type block struct {
	kind blockKind
	tool int // OpenAI tool call index for blockTool
}

// Translator turns an Anthropic Messages event stream
// (https://docs.anthropic.com/en/docs/build-with-claude/streaming) into
// OpenAI chat.completion.chunk events:
//   - message_start → the role chunk (id and model from the message);
//   - content_block_start text → nothing (or its text), tool_use → a
//     tool_calls delta with the next index, id and name, thinking → nothing;
//   - content_block_delta text_delta → a content delta, input_json_delta →
//     an arguments delta on the block's tool index, thinking_delta → a
//     reasoning_content delta; signature and citation deltas are dropped;
//   - message_delta → the finish_reason chunk (usage is recorded);
//   - message_stop → the usage chunk when asked for, then [DONE];
//   - error → an OpenAI error event, then [DONE];
//   - ping, content_block_stop and unknown events → nothing.
//
// # Notes
//
// Next allocates nothing per text or argument delta in steady state. Close
// may run concurrently with a blocked Next: it cancels the upstream, which
// makes the read return. A Translator is otherwise not safe for concurrent
// use.
type Translator struct {
	sr       sse.Reader
	cw       providers.ChunkWriter
	out      []byte
	scratch  []byte
	blocks   []block
	ntools   int
	usage    usageCounts
	info     reqInfo
	include  bool
	started  bool
	finished bool
	done     bool
	provider string
	id       string
	created  int64
	model    string
	cancel   func()
	redact   *providers.Redactor
	// stopped is set by message_stop: tail then reads the body to its end,
	// so that the upstream connection goes back to the pool.
	stopped bool
	tail    upstream.Tail

	// idBuf and modelBuf hold the id and model of message_start that
	// id and model then point into.
	idBuf, modelBuf []byte
}

var _ providers.Stream = (*Translator)(nil)

// Reset prepares t to translate body. id, created and model are used until
// message_start gives the upstream's own; includeUsage is the client's
// stream_options.include_usage.
func (t *Translator) Reset(body io.Reader, provider, id string, created int64, model string, includeUsage bool) {
	t.sr.Reset(body, 0)
	t.out, t.scratch, t.blocks = t.out[:0], t.scratch[:0], t.blocks[:0]
	t.ntools, t.usage, t.info, t.include = 0, usageCounts{}, reqInfo{}, includeUsage
	t.started, t.finished, t.done = false, false, false
	t.provider, t.id, t.created, t.model, t.cancel = provider, id, created, model, nil
	t.redact, t.stopped = nil, false
	t.tail.Reset(body)
	t.cw.Reset(id, created, model)
}

// Next returns the next OpenAI events.
// Pending reports whether the next upstream event is already buffered.
func (t *Translator) Pending() bool { return t.sr.Pending() }

func (t *Translator) Next() ([]byte, error) {
	for !t.done {
		ev, err := t.sr.Next()
		if err != nil {
			t.done = true
			return t.fail(err), nil
		}
		if out := t.event(ev); out != nil {
			return out, nil
		}
	}
	if t.stopped {
		t.tail.Drain()
	}
	return nil, io.EOF
}

// Usage returns the usage seen so far, in OpenAI terms.
func (t *Translator) Usage() providers.Usage { return t.usage.openAI() }

// Close cancels the upstream request, unless the stream ended cleanly (its
// connection then goes back to the pool when the response is released).
func (t *Translator) Close() error {
	if t.tail.Clean() {
		return nil
	}
	if c := t.cancel; c != nil {
		c()
	}
	return nil
}

var (
	evMessageStart = []byte("message_start")
	evBlockStart   = []byte("content_block_start")
	evBlockDelta   = []byte("content_block_delta")
	evMessageDelta = []byte("message_delta")
	evMessageStop  = []byte("message_stop")
	evError        = []byte("error")
)

func (t *Translator) event(ev sse.Event) []byte {
	if jsonscan.Validate(ev.Data) != nil || jsonscan.KindOf(ev.Data) != jsonscan.Object {
		return nil // a malformed event is skipped, like an unknown one
	}
	name := ev.Name
	if name == nil {
		name = wire.Unq(jsonscan.Get(ev.Data, "type"), &t.scratch)
	}
	t.scratch = t.scratch[:0]
	switch string(name) {
	case string(evBlockDelta):
		return t.delta(ev.Data)
	case string(evBlockStart):
		return t.blockStart(ev.Data)
	case string(evMessageStart):
		return t.messageStart(ev.Data)
	case string(evMessageDelta):
		return t.messageDelta(ev.Data)
	case string(evMessageStop):
		return t.messageStop()
	case string(evError):
		return t.errorEvent(ev.Data)
	}
	return nil
}

func (t *Translator) role() []byte {
	if t.started {
		return nil
	}
	t.started = true
	return t.cw.Role()
}

func (t *Translator) messageStart(data []byte) []byte {
	msg := jsonscan.Get(data, "message")
	if jsonscan.KindOf(msg) == jsonscan.Object {
		// The upstream's id and model are held in t's own buffers,
		// reused only by the next stream: no copy per stream.
		if id := wire.Unq(jsonscan.Get(msg, "id"), &t.scratch); len(id) > 0 {
			t.idBuf = append(t.idBuf[:0], id...)
			t.id = unsafeconv.String(t.idBuf)
		}
		if m := wire.Unq(jsonscan.Get(msg, "model"), &t.scratch); len(m) > 0 {
			t.modelBuf = append(t.modelBuf[:0], m...)
			t.model = unsafeconv.String(t.modelBuf)
		}
		parseUsage(jsonscan.Get(msg, "usage"), &t.usage)
		t.cw.Reset(t.id, t.created, t.model)
	}
	if t.started {
		return nil
	}
	return t.role()
}

// begin must precede building a chunk: it stages the role chunk when
// message_start never came, and emit then prefixes it. (The ChunkWriter
// reuses one buffer, so the role must be copied out before the next chunk.)
func (t *Translator) begin() {
	t.out = t.out[:0]
	if !t.started {
		t.out = append(t.out, t.role()...)
	}
}

func (t *Translator) emit(ev []byte) []byte {
	if len(t.out) == 0 {
		return ev
	}
	return append(t.out, ev...)
}

func (t *Translator) lookup(data []byte) (*block, []byte) {
	var index = -1
	var payload []byte
	_ = jsonscan.ObjectEach(data, func(k, v []byte) error {
		switch string(k) {
		case "index":
			if n, err := jsonscan.ParseInt(v); err == nil && n >= 0 && n < 1<<16 {
				index = int(n)
			}
		case "delta", "content_block":
			payload = v
		}
		return nil
	})
	if index < 0 || jsonscan.KindOf(payload) != jsonscan.Object {
		return nil, nil
	}
	for len(t.blocks) <= index {
		t.blocks = append(t.blocks, block{})
	}
	return &t.blocks[index], payload
}

func (t *Translator) blockStart(data []byte) []byte {
	b, cb := t.lookup(data)
	if b == nil {
		return nil
	}
	var typ, text, id, name []byte
	var input []byte
	_ = jsonscan.ObjectEach(cb, func(k, v []byte) error {
		switch string(k) {
		case "type":
			typ = v
		case "text", "thinking":
			text = v
		case "id":
			id = v
		case "name":
			name = v
		case "input":
			input = v
		}
		return nil
	})
	switch string(typ) {
	case `"text"`:
		*b = block{kind: blockText}
		if s := wire.Unq(text, &t.scratch); len(s) > 0 {
			t.begin()
			return t.emit(t.cw.Content(s))
		}
	case `"thinking"`:
		*b = block{kind: blockThinking}
		if s := wire.Unq(text, &t.scratch); len(s) > 0 {
			t.begin()
			return t.emit(t.cw.Reasoning(s))
		}
	case `"tool_use"`:
		n := wire.Unq(name, &t.scratch)
		if t.info.jsonTool && string(n) == JSONToolName {
			*b = block{kind: blockJSON}
			return nil
		}
		*b = block{kind: blockTool, tool: t.ntools}
		t.ntools++
		var args []byte
		if jsonscan.KindOf(input) == jsonscan.Object && len(input) > 2 && string(wire.TrimSpace(input[1:len(input)-1])) != "" {
			args = input // a block that starts with its input (no deltas follow)
		}
		t.begin()
		return t.emit(t.cw.ToolCallStart(b.tool, unsafeconv.String(wire.Unq(id, &t.scratch)), unsafeconv.String(n), args))
	default:
		*b = block{kind: blockIgnored}
	}
	return nil
}

func (t *Translator) delta(data []byte) []byte {
	b, d := t.lookup(data)
	if b == nil {
		return nil
	}
	var typ, val []byte
	_ = jsonscan.ObjectEach(d, func(k, v []byte) error {
		switch string(k) {
		case "type":
			typ = v
		case "text", "partial_json", "thinking":
			val = v
		}
		return nil
	})
	s := wire.Unq(val, &t.scratch)
	if len(s) == 0 {
		return nil
	}
	switch b.kind {
	case blockText:
		if string(typ) == `"text_delta"` {
			t.begin()
			return t.emit(t.cw.Content(s))
		}
	case blockTool:
		if string(typ) == `"input_json_delta"` {
			t.begin()
			return t.emit(t.cw.ToolCallArgs(b.tool, s))
		}
	case blockJSON:
		if string(typ) == `"input_json_delta"` {
			t.begin()
			return t.emit(t.cw.Content(s))
		}
	case blockThinking:
		if string(typ) == `"thinking_delta"` {
			t.begin()
			return t.emit(t.cw.Reasoning(s))
		}
	}
	return nil
}

func (t *Translator) finishReason(stop []byte) string {
	r := FinishReason(string(stop))
	if r == "tool_calls" && t.ntools == 0 {
		// Only the forced JSON tool was called: that is the answer.
		r = "stop"
	}
	return r
}

func (t *Translator) messageDelta(data []byte) []byte {
	var stop []byte
	_ = jsonscan.ObjectEach(data, func(k, v []byte) error {
		switch string(k) {
		case "delta":
			stop = wire.Unq(jsonscan.Get(v, "stop_reason"), &t.scratch)
		case "usage":
			parseUsage(v, &t.usage)
		}
		return nil
	})
	if t.finished {
		return nil
	}
	t.finished = true
	t.begin()
	return t.emit(t.cw.Finish(t.finishReason(stop)))
}

func (t *Translator) messageStop() []byte {
	t.done, t.stopped = true, true
	t.out = t.out[:0]
	if !t.started {
		t.out = append(t.out, t.role()...)
	}
	if !t.finished {
		t.finished = true
		t.out = append(t.out, t.cw.Finish("stop")...)
	}
	// Kept in t.out: a grown buffer serves the next stream too.
	t.out = append(t.out, t.cw.End(t.usage.openAI(), t.include)...)
	return t.out
}

func (t *Translator) errorEvent(data []byte) []byte {
	t.done = true
	e := jsonscan.Get(data, "error")
	typ := wire.Unq(jsonscan.Get(e, "type"), &t.scratch)
	msg := string(wire.Unq(jsonscan.Get(e, "message"), &t.scratch))
	if msg == "" {
		msg = "stream failed"
	}
	t.out = providers.AppendErrorEvent(t.out[:0], "upstream_error", streamErrorCode(typ), t.redact.String("upstream "+t.provider+": "+msg))
	return t.out
}

// fail reports a transport failure in-stream.
func (t *Translator) fail(err error) []byte {
	t.out = providers.AppendErrorEvent(t.out[:0], "upstream_error", failCode(err), t.redact.String(failMessage(t.provider, err)))
	return t.out
}

func failCode(err error) string {
	if upstream.IsTimeout(err) {
		return "upstream_timeout"
	}
	return "upstream_error"
}

func failMessage(provider string, err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "upstream " + provider + " closed the stream before it finished"
	case upstream.IsTimeout(err):
		return "upstream " + provider + " stalled longer than the idle timeout"
	case errors.Is(err, sse.ErrTooLarge):
		return "upstream " + provider + " sent a stream event larger than the limit"
	}
	return "upstream " + provider + " stream failed: " + err.Error()
}
