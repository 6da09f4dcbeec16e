package cache

import (
	"bytes"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
)

// toolAcc accumulates one tool call.
type toolAcc struct {
	index               int
	id, typ, name, args []byte
}

// builder accumulates the parts of an answer; the Assembler and
// ParseCompletion share it.
type builder struct {
	created                                    int64
	model, finish, content, reasoning, refusal []byte
	usage                                      providers.Usage
	tools                                      []toolAcc
	scratch                                    []byte
	failed                                     bool // an error event or error body
	unsupported                                bool // something an Entry cannot represent
}

func (b *builder) reset() {
	b.created, b.usage, b.failed, b.unsupported = 0, providers.Usage{}, false, false
	b.model, b.finish, b.content, b.reasoning, b.refusal = b.model[:0], b.finish[:0], b.content[:0], b.reasoning[:0], b.refusal[:0]
	b.tools = b.tools[:0]
}

// str unquotes a JSON string value into the scratch buffer; ok is false for
// anything but a valid string.
func (b *builder) str(v []byte) ([]byte, bool) {
	if jsonscan.KindOf(v) != jsonscan.String {
		return nil, false
	}
	s, scratch, err := jsonscan.Unquote(v, b.scratch[:0])
	b.scratch = scratch
	if err != nil {
		b.unsupported = true
		return nil, false
	}
	return s, true
}

// appendStr appends the string value v to dst; null and absent append nothing.
func (b *builder) appendStr(dst, v []byte) []byte {
	if s, ok := b.str(v); ok {
		return append(dst, s...)
	}
	if k := jsonscan.KindOf(v); k != jsonscan.Null {
		b.unsupported = true
	}
	return dst
}

func nonNull(v []byte) bool {
	k := jsonscan.KindOf(v)
	return k != jsonscan.Null && k != jsonscan.Invalid
}

// top handles the members shared by chunks and completions; choice handles
// each element of "choices" (delta for chunks, message for completions).
func (b *builder) top(obj []byte, choiceKey string) {
	if jsonscan.KindOf(obj) != jsonscan.Object {
		b.unsupported = true
		return
	}
	err := jsonscan.ObjectEach(obj, func(k, v []byte) error {
		switch string(k) {
		case "error":
			if nonNull(v) {
				b.failed = true
			}
		case "model":
			if len(b.model) == 0 {
				b.model = b.appendStr(b.model, v)
			}
		case "created":
			if b.created == 0 && jsonscan.KindOf(v) == jsonscan.Number {
				if n, err := jsonscan.ParseInt(v); err == nil {
					b.created = n
				}
			}
		case "usage":
			if jsonscan.KindOf(v) == jsonscan.Object {
				b.usage = providers.ParseUsage(v)
			}
		case "choices":
			if jsonscan.KindOf(v) != jsonscan.Array {
				b.unsupported = true
				return nil
			}
			return jsonscan.ArrayEach(v, func(i int, c []byte) error {
				b.choice(c, choiceKey)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		b.unsupported = true
	}
}

func (b *builder) choice(c []byte, key string) {
	if jsonscan.KindOf(c) != jsonscan.Object {
		b.unsupported = true
		return
	}
	_ = jsonscan.ObjectEach(c, func(k, v []byte) error {
		switch string(k) {
		case "index":
			if string(v) != "0" {
				b.unsupported = true // n > 1: an Entry holds one choice
			}
		case "finish_reason":
			if s, ok := b.str(v); ok {
				b.finish = append(b.finish[:0], s...)
			}
		case "logprobs":
			if nonNull(v) {
				b.unsupported = true
			}
		case key: // "delta" or "message"
			if jsonscan.KindOf(v) == jsonscan.Object {
				b.message(v)
			} else if nonNull(v) {
				b.unsupported = true
			}
		}
		return nil
	})
}

func (b *builder) message(m []byte) {
	_ = jsonscan.ObjectEach(m, func(k, v []byte) error {
		switch string(k) {
		case "content":
			b.content = b.appendStr(b.content, v)
		case "reasoning_content", "reasoning":
			b.reasoning = b.appendStr(b.reasoning, v)
		case "refusal":
			b.refusal = b.appendStr(b.refusal, v)
		case "tool_calls":
			switch jsonscan.KindOf(v) {
			case jsonscan.Array:
				_ = jsonscan.ArrayEach(v, func(i int, tc []byte) error {
					b.toolCall(i, tc)
					return nil
				})
			case jsonscan.Null:
			default:
				b.unsupported = true
			}
		case "function_call", "audio", "annotations":
			// Content an Entry does not carry: replaying without it would
			// not be the same answer.
			if nonNull(v) && string(v) != "[]" {
				b.unsupported = true
			}
		}
		return nil
	})
}

func (b *builder) toolCall(pos int, tc []byte) {
	if jsonscan.KindOf(tc) != jsonscan.Object {
		b.unsupported = true
		return
	}
	index := pos
	if v := jsonscan.Get(tc, "index"); jsonscan.KindOf(v) == jsonscan.Number {
		n, err := jsonscan.ParseInt(v)
		if err != nil || n < 0 || n > 1024 {
			b.unsupported = true
			return
		}
		index = int(n)
	}
	var t *toolAcc
	for i := range b.tools {
		if b.tools[i].index == index {
			t = &b.tools[i]
			break
		}
	}
	if t == nil {
		if len(b.tools) < cap(b.tools) {
			b.tools = b.tools[:len(b.tools)+1]
		} else {
			b.tools = append(b.tools, toolAcc{})
		}
		t = &b.tools[len(b.tools)-1]
		t.index, t.id, t.typ, t.name, t.args = index, t.id[:0], t.typ[:0], t.name[:0], t.args[:0]
	}
	_ = jsonscan.ObjectEach(tc, func(k, v []byte) error {
		switch string(k) {
		case "id":
			if len(t.id) == 0 {
				t.id = b.appendStr(t.id, v)
			}
		case "type":
			if len(t.typ) == 0 {
				t.typ = b.appendStr(t.typ, v)
			}
		case "function":
			if jsonscan.KindOf(v) != jsonscan.Object {
				b.unsupported = true
				return nil
			}
			_ = jsonscan.ObjectEach(v, func(k2, v2 []byte) error {
				switch string(k2) {
				case "name":
					t.name = b.appendStr(t.name, v2)
				case "arguments":
					t.args = b.appendStr(t.args, v2)
				}
				return nil
			})
		}
		return nil
	})
}

// entry builds the Entry, or reports why the answer cannot be cached.
// fallbackModel names the model when the answer did not.
func (b *builder) entry(fallbackModel string) (*Entry, error) {
	switch {
	case b.failed:
		return nil, ErrUpstreamFailed
	case b.unsupported:
		return nil, ErrNotCacheable
	case len(b.finish) == 0:
		return nil, ErrIncomplete
	}
	model := b.model
	if len(model) == 0 {
		model = unsafeconv.Bytes(fallbackModel)
	}
	created := b.created
	if created == 0 {
		created = time.Now().Unix()
	}
	for i := range b.tools {
		if len(b.tools[i].name) == 0 {
			return nil, ErrNotCacheable
		}
	}
	n := 64 + len(model) + len(b.finish) + len(b.content) + len(b.reasoning) + len(b.refusal)
	for i := range b.tools {
		t := &b.tools[i]
		n += 40 + len(t.id) + len(t.typ) + len(t.name) + len(t.args)
	}
	body := appendBody(make([]byte, 0, n), created, model, b.finish, b.content, b.reasoning, b.refusal, b.usage, b.tools)
	e := new(Entry)
	if err := e.decodeBody(body); err != nil {
		panic("BUG: cache: a freshly encoded entry does not decode: " + err.Error())
	}
	return e, nil
}

// ParseCompletion builds an Entry from a non-streaming OpenAI
// chat.completion body. It fails with ErrUpstreamFailed for an error body,
// ErrNotCacheable for answers an Entry cannot represent (several choices,
// logprobs, audio), and ErrIncomplete without a finish reason.
func ParseCompletion(body []byte, fallbackModel string) (*Entry, error) {
	b := builderPool.Get()
	defer builderPool.Put(b)
	b.reset()
	if err := jsonscan.Validate(body); err != nil {
		return nil, ErrNotCacheable
	}
	b.top(body[jsonscan.SkipSpace(body, 0):], "message")
	return b.entry(fallbackModel)
}

// Assembler builds an Entry from the OpenAI chunk events a
// providers.Stream's Next returns, one call at a time.
//
// # Notes
//
// Write allocates nothing in steady state: content, tool calls and partial
// lines accumulate in buffers kept across Reset. An Assembler is not safe for
// concurrent use.
type Assembler struct {
	b       builder
	line    []byte // a partial line carried to the next Write
	data    []byte // the current event's data
	hasData bool
	done    bool // [DONE] seen
}

// Reset prepares a for a new stream, keeping its buffers.
func (a *Assembler) Reset() {
	a.b.reset()
	a.line, a.data, a.hasData, a.done = a.line[:0], a.data[:0], false, false
}

// Write consumes bytes of the SSE stream: any number of events, possibly
// split anywhere.
func (a *Assembler) Write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			a.line = append(a.line, p...)
			return
		}
		line := p[:i]
		p = p[i+1:]
		if len(a.line) > 0 {
			a.line = append(a.line, line...)
			line = a.line
		}
		a.handleLine(line)
		a.line = a.line[:0]
	}
}

var dataPrefix = []byte("data:")

func (a *Assembler) handleLine(line []byte) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		if a.hasData {
			a.hasData = false
			a.event(a.data)
		}
		return
	}
	if !bytes.HasPrefix(line, dataPrefix) {
		return // comments, event:, id:, retry:
	}
	v := line[len(dataPrefix):]
	if len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	if a.hasData {
		a.data = append(append(a.data, '\n'), v...)
	} else {
		a.data = append(a.data[:0], v...)
		a.hasData = true
	}
}

var doneData = []byte("[DONE]")

func (a *Assembler) event(d []byte) {
	if bytes.Equal(d, doneData) {
		a.done = true
		return
	}
	if a.done {
		a.b.unsupported = true // data after [DONE]
		return
	}
	// No separate Validate pass: ObjectEach and ArrayEach validate every
	// value they skip, and a malformed chunk makes the answer unsupported.
	a.b.top(d[jsonscan.SkipSpace(d, 0):], "delta")
}

// SetUsage supplies the usage when the stream's own bytes did not carry it
// (the relay drops the usage chunk for clients that did not ask for it, but
// Stream.Usage still reports it).
func (a *Assembler) SetUsage(u providers.Usage) {
	if !a.b.usage.Set && u.Set {
		a.b.usage = u
	}
}

// Done reports whether the stream's [DONE] event has been seen.
func (a *Assembler) Done() bool { return a.done }

// Entry returns the assembled answer. It fails with ErrIncomplete unless the
// stream reached its finish reason and [DONE], with ErrUpstreamFailed after an
// in-stream error event, and with ErrNotCacheable for answers an Entry cannot
// represent.
func (a *Assembler) Entry(fallbackModel string) (*Entry, error) {
	if a.hasData { // a final event without its blank line
		a.hasData = false
		a.event(a.data)
	}
	if a.b.failed {
		return nil, ErrUpstreamFailed
	}
	if !a.done {
		return nil, ErrIncomplete
	}
	return a.b.entry(fallbackModel)
}

var builderPool = syncPool(func() *builder { return new(builder) })
