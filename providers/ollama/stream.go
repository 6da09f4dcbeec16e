package ollama

import (
	"errors"
	"io"

	"github.com/aigateway/gateway/internal/sse"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/upstream"
)

// Stream translates Ollama's NDJSON chat stream into OpenAI chunk events.
//
// Ollama sends one api.ChatResponse per line ("done":false with a
// message.content or message.thinking delta, or with whole tool calls), then
// a last line with "done":true, done_reason and the counts; a failure after
// the stream started arrives as an {"error":"…"} line
// (https://github.com/ollama/ollama/blob/main/docs/api.md, "Chat request
// (Streaming)" and "(Streaming with tools)"). The client receives the role
// chunk with the first delta, one chunk per delta (a tool call as one
// ToolCallStart carrying all its arguments), the finish chunk, the usage
// chunk when stream_options.include_usage asked for it, and [DONE]. An
// upstream failure, stall, malformed line or error line ends the stream with
// an OpenAI error event.
//
// # Notes
//
// Next allocates nothing per chunk in steady state: lines are framed in a
// reused buffer, strings are unescaped into a reused scratch buffer, chunks
// are written by a reused ChunkWriter. Next is called from one goroutine;
// Close may be called from any goroutine, also while Next is blocked, and
// makes Next return. The Stream must not be reused (Reset) while Next runs.
type Stream struct {
	lines   sse.Lines
	cw      providers.ChunkWriter
	r       reply
	out     []byte
	scratch []byte
	args    []byte
	id      []byte

	usage        providers.Usage
	callID       string
	provider     string
	includeUsage bool
	started      bool
	done         bool
	tools        int // tool calls emitted so far
	cancel       func()
	redact       *providers.Redactor
	// ended is set by the "done":true line: tail then reads the body to its
	// end, so that the upstream connection goes back to the pool.
	ended bool
	tail  upstream.Tail
}

var _ providers.Stream = (*Stream)(nil)

// Reset prepares s to translate body for call; provider names the upstream
// in error events.
func (s *Stream) Reset(body io.Reader, call *providers.Call, provider string) {
	s.lines.Reset(body, 0)
	s.cw.Reset(call.ID, call.Created, call.Model)
	s.r = reply{}
	s.out, s.scratch, s.args, s.id = s.out[:0], s.scratch[:0], s.args[:0], s.id[:0]
	s.usage = providers.Usage{}
	s.callID, s.provider = call.ID, provider
	s.includeUsage = call.Req != nil && call.Req.IncludeUsage
	s.started, s.done, s.tools = false, false, 0
	s.cancel, s.redact, s.ended = nil, nil, false
	s.tail.Reset(body)
}

// Next returns the next event(s) for the client, or io.EOF after [DONE].
// Pending reports whether the next upstream line is already buffered.
func (s *Stream) Pending() bool { return s.lines.Pending() }

func (s *Stream) Next() ([]byte, error) {
	for {
		if s.done {
			if s.ended {
				s.tail.Drain()
			}
			return nil, io.EOF
		}
		line, err := s.lines.Next()
		if err != nil {
			s.done = true
			return s.fail(err), nil
		}
		if s.scratch, err = s.r.parse(line, s.scratch[:0]); err != nil {
			s.done = true
			return s.errorEvent("upstream_error", "upstream "+s.provider+" sent a malformed stream line"), nil
		}
		if s.r.hasError {
			s.done = true
			msg := string(s.r.errMsg)
			if msg == "" {
				msg = "unknown error"
			}
			return s.errorEvent("upstream_error", s.redact.String("upstream "+s.provider+": "+msg)), nil
		}
		if out := s.translate(); len(out) > 0 {
			return out, nil
		}
	}
}

// translate turns the parsed line into events; nil when it carries nothing
// (an empty delta).
func (s *Stream) translate() []byte {
	r := &s.r
	hasTools := len(r.toolCalls) > 2 // "[]" is empty
	if len(r.thinking) == 0 && len(r.content) == 0 && !hasTools && !r.done {
		return nil
	}
	s.out = s.out[:0]
	if !s.started {
		s.started = true
		s.out = append(s.out, s.cw.Role()...)
	}
	if len(r.thinking) > 0 {
		s.out = append(s.out, s.cw.Reasoning(r.thinking)...)
	}
	if len(r.content) > 0 {
		s.out = append(s.out, s.cw.Content(r.content)...)
	}
	if hasTools {
		s.args = s.args[:0]
		eachToolCall(r.toolCalls, &s.scratch, &s.args, func(tc toolCall) {
			id := unsafeconv.String(tc.id)
			if id == "" {
				s.id = appendToolID(s.id[:0], s.callID, s.tools)
				id = unsafeconv.String(s.id)
			}
			s.out = append(s.out, s.cw.ToolCallStart(s.tools, id, unsafeconv.String(tc.name), tc.args)...)
			s.tools++
		})
	}
	if r.done {
		s.done, s.ended = true, true
		s.usage = r.usage
		s.out = append(s.out, s.cw.Finish(finishReason(r.doneReason, s.tools > 0))...)
		s.out = append(s.out, s.cw.End(s.usage, s.includeUsage)...)
	}
	return s.out
}

func (s *Stream) errorEvent(code, msg string) []byte {
	s.out = providers.AppendErrorEvent(s.out[:0], "upstream_error", code, msg)
	return s.out
}

func (s *Stream) fail(err error) []byte {
	switch {
	case errors.Is(err, io.EOF):
		return s.errorEvent("upstream_error", "upstream "+s.provider+" closed the stream before it finished")
	case upstream.IsTimeout(err):
		return s.errorEvent("upstream_timeout", "upstream "+s.provider+" stalled longer than the idle timeout")
	case errors.Is(err, sse.ErrTooLarge):
		return s.errorEvent("upstream_error", "upstream "+s.provider+" sent a stream line larger than the limit")
	}
	return s.errorEvent("upstream_error", s.redact.String("upstream "+s.provider+" stream failed: "+err.Error()))
}

// Usage returns the usage from the final line (complete after io.EOF).
func (s *Stream) Usage() providers.Usage { return s.usage }

// Close cancels the upstream request: the connection is closed and a
// blocked Next returns. A stream that ended cleanly is left alone: its
// connection goes back to the pool when the response is released.
func (s *Stream) Close() error {
	if s.tail.Clean() {
		return nil
	}
	if c := s.cancel; c != nil {
		c()
	}
	return nil
}
