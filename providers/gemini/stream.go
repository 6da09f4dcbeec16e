package gemini

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

// Translator turns a streamGenerateContent?alt=sse body (one
// GenerateContentResponse per "data:" event,
// https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent)
// into OpenAI chat.completion.chunk events, chunk by chunk:
//   - the first event opens with the role chunk;
//   - text parts become content deltas, thought parts reasoning_content
//     deltas, and each functionCall (Gemini sends it whole) one tool_calls
//     delta with the next index, its synthesised id, name and arguments;
//   - a finishReason becomes the finish_reason chunk; usageMetadata is
//     recorded (the last one holds the totals);
//   - the end of the body then gives the usage chunk when asked for and
//     [DONE]; an end before any finishReason, an {"error":…} event or a
//     transport failure gives an OpenAI error event and [DONE].
//
// # Notes
//
// Next allocates nothing per text delta in steady state. Close may run
// concurrently with a blocked Next: it cancels the upstream.
type Translator struct {
	// model holds the upstream's modelVersion that the chunks name.
	model      []byte
	sr         sse.Reader
	cw         providers.ChunkWriter
	out        []byte
	scratch    []byte
	args       []byte
	id         []byte
	responseID []byte
	ncalls     int
	usage      usageCounts
	include    bool
	started    bool
	finished   bool
	done       bool
	provider   string
	created    int64
	chunkID    string
	cancel     func()
	redact     *providers.Redactor
	// tail records that the body was read to its end after the last
	// event: the upstream connection then goes back to the pool.
	tail upstream.Tail
}

var _ providers.Stream = (*Translator)(nil)

// Reset prepares t to translate body; id, created and model label every
// chunk until the stream reports its modelVersion.
func (t *Translator) Reset(body io.Reader, provider, id string, created int64, model string, includeUsage bool) {
	t.sr.Reset(body, 0)
	t.out, t.scratch, t.args, t.id, t.responseID = t.out[:0], t.scratch[:0], t.args[:0], t.id[:0], t.responseID[:0]
	t.ncalls, t.usage, t.include = 0, usageCounts{}, includeUsage
	t.started, t.finished, t.done = false, false, false
	t.provider, t.created, t.chunkID, t.cancel, t.redact = provider, created, id, nil, nil
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
			if errors.Is(err, io.EOF) && t.finished {
				t.tail.Drain() // the body has ended: this only records it
				return t.cw.End(t.usage.openAI(), t.include), nil
			}
			return t.fail(err), nil
		}
		if out := t.event(ev.Data); len(out) > 0 {
			return out, nil
		}
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

func (t *Translator) event(data []byte) []byte {
	data = wire.TrimSpace(data)
	if jsonscan.Validate(data) != nil || jsonscan.KindOf(data) != jsonscan.Object {
		return nil
	}
	t.scratch = t.scratch[:0]
	t.out = t.out[:0]
	var cand, usage, feedback []byte
	_ = jsonscan.ObjectEach(data, func(k, v []byte) error {
		switch string(k) {
		case "candidates":
			_ = jsonscan.ArrayEach(v, func(i int, e []byte) error {
				if i == 0 {
					cand = e
				}
				return nil
			})
		case "usageMetadata":
			usage = v
		case "promptFeedback":
			feedback = v
		case "modelVersion":
			if !t.started {
				if m := wire.Unq(v, &t.scratch); len(m) > 0 {
					// The chunks' model is held in t's own buffer, reused
					// only by the next stream's Reset: no copy per stream.
					t.model = append(t.model[:0], m...)
					t.cw.Reset(t.chunkID, t.created, unsafeconv.String(t.model))
				}
			}
		case "responseId":
			if len(t.responseID) == 0 {
				t.responseID = append(t.responseID, wire.Unq(v, &t.scratch)...)
			}
		case "error":
			cand = nil
			t.errorEvent(v)
			return errStop
		}
		return nil
	})
	if t.done {
		return t.out
	}
	parseUsage(usage, &t.usage)
	if !t.started {
		t.started = true
		t.out = append(t.out, t.cw.Role()...)
	}
	var finish []byte
	if jsonscan.KindOf(cand) == jsonscan.Object {
		finish = eachPart(cand, &t.scratch, func(p part) {
			switch p.kind {
			case partText:
				if len(p.text) > 0 {
					t.out = append(t.out, t.cw.Content(p.text)...)
				}
			case partThought:
				if len(p.text) > 0 {
					t.out = append(t.out, t.cw.Reasoning(p.text)...)
				}
			case partCall:
				t.args = appendCompact(t.args[:0], p.args)
				t.id = appendToolID(t.id[:0], t.responseID, t.ncalls, &p, t.args)
				t.out = append(t.out, t.cw.ToolCallStart(t.ncalls, unsafeconv.String(t.id), unsafeconv.String(p.name), t.args)...)
				t.ncalls++
			}
		})
	}
	if !t.finished {
		reason := ""
		if len(finish) > 0 {
			reason = FinishReason(string(finish), t.ncalls > 0)
		} else if jsonscan.KindOf(feedback) == jsonscan.Object && jsonscan.Get(feedback, "blockReason") != nil {
			reason = "content_filter"
		}
		if reason != "" {
			t.finished = true
			t.out = append(t.out, t.cw.Finish(reason)...)
		}
	}
	return t.out
}

var errStop = errors.New("stop")

func (t *Translator) errorEvent(v []byte) {
	t.done = true
	msg := string(wire.Unq(jsonscan.Get(v, "message"), &t.scratch))
	if msg == "" {
		msg = "stream failed"
	}
	code := "upstream_error"
	if string(jsonscan.Get(v, "status")) == `"UNAVAILABLE"` {
		code = "upstream_overloaded"
	}
	t.out = providers.AppendErrorEvent(t.out[:0], "upstream_error", code, t.redact.String("upstream "+t.provider+": "+msg))
}

func (t *Translator) fail(err error) []byte {
	msg := "upstream " + t.provider + " stream failed: " + err.Error()
	code := "upstream_error"
	switch {
	case errors.Is(err, io.EOF):
		msg = "upstream " + t.provider + " closed the stream before it finished"
	case upstream.IsTimeout(err):
		msg, code = "upstream "+t.provider+" stalled longer than the idle timeout", "upstream_timeout"
	case errors.Is(err, sse.ErrTooLarge):
		msg = "upstream " + t.provider + " sent a stream event larger than the limit"
	}
	t.out = providers.AppendErrorEvent(t.out[:0], "upstream_error", code, t.redact.String(msg))
	return t.out
}
