package responses

import (
	"errors"
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// ErrBadCompletion is returned when an upstream chat completion cannot be
// read as one.
var ErrBadCompletion = errors.New("chat completion cannot be translated to a response")

// Meta is what a response object says besides the answer: its id and
// creation time, and the request members it echoes.
type Meta struct {
	ID        string
	CreatedAt int64
	// Model names the model when the answer carries none.
	Model string
	Req   *Request
}

// Status values of a response object.
const (
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusIncomplete = "incomplete"
	StatusFailed     = "failed"
)

// appendResponse appends a response object
// (https://platform.openai.com/docs/api-reference/responses/object).
// output is the items array's content (without brackets); errv is a
// rendered error object for a failed response; incomplete names why an
// incomplete one stopped.
func (m *Meta) appendResponse(dst []byte, status string, model, output []byte, u *providers.Usage, incomplete string, errv []byte) []byte {
	r := m.Req
	dst = append(dst, `{"id":`...)
	dst = jsonscan.AppendQuote(dst, m.ID)
	dst = append(dst, `,"object":"response","created_at":`...)
	dst = strconv.AppendInt(dst, m.CreatedAt, 10)
	dst = append(dst, `,"status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","background":false,"error":`...)
	dst = orNull(dst, errv)
	dst = append(dst, `,"incomplete_details":`...)
	if incomplete != "" {
		dst = append(dst, `{"reason":"`...)
		dst = append(dst, incomplete...)
		dst = append(dst, `"}`...)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"instructions":`...)
	dst = orNull(dst, r.Instructions)
	dst = append(dst, `,"max_output_tokens":`...)
	dst = orNull(dst, r.MaxOutputTokens)
	dst = append(dst, `,"model":`...)
	if len(model) > 0 {
		dst = jsonscan.AppendQuoteBytes(dst, model)
	} else {
		dst = jsonscan.AppendQuote(dst, m.Model)
	}
	dst = append(dst, `,"output":[`...)
	dst = append(dst, output...)
	dst = append(dst, `],"parallel_tool_calls":`...)
	dst = orDefault(dst, r.ParallelToolCalls, "true")
	dst = append(dst, `,"previous_response_id":`...)
	if r.PreviousResponseID != "" {
		dst = jsonscan.AppendQuote(dst, r.PreviousResponseID)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"reasoning":{"effort":`...)
	dst = orNull(dst, jsonscan.Get(r.Reasoning, "effort"))
	dst = append(dst, `,"summary":`...)
	dst = orNull(dst, jsonscan.Get(r.Reasoning, "summary"))
	dst = append(dst, `},"store":`...)
	dst = strconv.AppendBool(dst, r.Store)
	dst = append(dst, `,"temperature":`...)
	dst = orDefault(dst, r.Temperature, "1")
	dst = append(dst, `,"text":`...)
	if f := jsonscan.Get(r.Text, "format"); jsonscan.KindOf(f) == jsonscan.Object {
		dst = append(dst, `{"format":`...)
		dst = append(dst, f...)
		dst = append(dst, '}')
	} else {
		dst = append(dst, `{"format":{"type":"text"}}`...)
	}
	dst = append(dst, `,"tool_choice":`...)
	dst = orDefault(dst, r.ToolChoice, `"auto"`)
	dst = append(dst, `,"tools":`...)
	dst = orDefault(dst, r.Tools, "[]")
	dst = append(dst, `,"top_p":`...)
	dst = orDefault(dst, r.TopP, "1")
	dst = append(dst, `,"truncation":"disabled","usage":`...)
	if u != nil && u.Set {
		dst = appendUsage(dst, *u)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"user":`...)
	dst = orNull(dst, r.User)
	dst = append(dst, `,"metadata":`...)
	dst = orDefault(dst, r.Metadata, "{}")
	return append(dst, '}')
}

func orNull(dst, v []byte) []byte { return orDefault(dst, v, "null") }

func orDefault(dst, v []byte, def string) []byte {
	if len(v) == 0 {
		return append(dst, def...)
	}
	return append(dst, v...)
}

// appendUsage appends u as a Responses usage object.
func appendUsage(dst []byte, u providers.Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"input_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedTokens), 10)
	dst = append(dst, `},"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"output_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.ReasoningTokens), 10)
	dst = append(dst, `},"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.Total()), 10)
	return append(dst, '}')
}

// appendMessageItem appends an assistant message output item holding text
// (a JSON string).
func appendMessageItem(dst []byte, id, status string, text []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonscan.AppendQuote(dst, id)
	dst = append(dst, `,"type":"message","status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","role":"assistant","content":[`...)
	if text != nil {
		dst = appendTextPart(dst, text)
	}
	return append(dst, "]}"...)
}

func appendTextPart(dst, text []byte) []byte {
	dst = append(dst, `{"type":"output_text","text":`...)
	dst = append(dst, text...)
	return append(dst, `,"annotations":[],"logprobs":[]}`...)
}

// appendCallItem appends a function_call output item; callID, name and
// args are JSON strings.
func appendCallItem(dst []byte, id, status string, callID, name, args []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonscan.AppendQuote(dst, id)
	dst = append(dst, `,"type":"function_call","status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","arguments":`...)
	dst = append(dst, args...)
	dst = append(dst, `,"call_id":`...)
	dst = append(dst, callID...)
	dst = append(dst, `,"name":`...)
	dst = append(dst, name...)
	return append(dst, '}')
}

// appendReasoningItem appends a reasoning item whose summary is text (a
// JSON string): the reasoning text a provider returned
// (reasoning_content), the closest the gateway has to a summary.
func appendReasoningItem(dst []byte, id string, text []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonscan.AppendQuote(dst, id)
	dst = append(dst, `,"type":"reasoning","summary":[{"type":"summary_text","text":`...)
	dst = append(dst, text...)
	return append(dst, "}]}"...)
}

// incompleteReason maps a chat finish_reason to a response's status and
// incomplete_details.reason.
func incompleteReason(finish string) (status, reason string) {
	switch finish {
	case "length":
		return StatusIncomplete, "max_output_tokens"
	case "content_filter":
		return StatusIncomplete, "content_filter"
	}
	return StatusCompleted, ""
}

// FromCompletion appends to dst the response object equivalent to an
// OpenAI chat.completion body (what every provider's non-streaming
// Response.Body is): reasoning_content becomes a reasoning item with a
// summary, the content an assistant message, each tool call a
// function_call item; finish_reason length makes the response incomplete
// (max_output_tokens), content_filter too, and with it the last message or
// function_call item, the one the stop cut.
func FromCompletion(dst, completion []byte, m *Meta) ([]byte, error) {
	if jsonscan.Validate(completion) != nil || jsonscan.KindOf(wire.TrimSpace(completion)) != jsonscan.Object {
		return dst, ErrBadCompletion
	}
	top := members(wire.TrimSpace(completion), "model", "choices", "usage")
	var choice []byte
	_ = jsonscan.ArrayEach(top[1], func(i int, c []byte) error {
		if i == 0 {
			choice = c
		}
		return nil
	})
	if jsonscan.KindOf(choice) != jsonscan.Object {
		return dst, ErrBadCompletion
	}
	cm := members(choice, "message", "finish_reason")
	msg := members(cm[0], "content", "tool_calls", "reasoning_content", "refusal")
	var scratch []byte
	status, reason := incompleteReason(string(wire.Unq(cm[1], &scratch)))
	// The stop cut the last item: the message, or the last call after it.
	ncalls := 0
	_ = jsonscan.ArrayEach(msg[1], func(int, []byte) error { ncalls++; return nil })
	itemStatus := func(last bool) string {
		if last && status == StatusIncomplete {
			return StatusIncomplete
		}
		return StatusCompleted
	}
	var out []byte
	if jsonscan.KindOf(msg[2]) == jsonscan.String && len(msg[2]) > 2 {
		out = appendReasoningItem(out, NewID("rs"), msg[2])
	}
	text := msg[0]
	if jsonscan.KindOf(text) != jsonscan.String && jsonscan.KindOf(msg[3]) == jsonscan.String {
		text = msg[3]
	}
	if jsonscan.KindOf(text) == jsonscan.String && len(text) > 2 {
		if len(out) > 0 {
			out = append(out, ',')
		}
		out = appendMessageItem(out, NewID("msg"), itemStatus(ncalls == 0), text)
	}
	if jsonscan.KindOf(msg[1]) == jsonscan.Array {
		err := jsonscan.ArrayEach(msg[1], func(i int, c []byte) error {
			cc := members(c, "id", "function")
			fn := members(cc[1], "name", "arguments")
			if jsonscan.KindOf(cc[0]) != jsonscan.String || jsonscan.KindOf(fn[0]) != jsonscan.String {
				return ErrBadCompletion
			}
			args := fn[1]
			if jsonscan.KindOf(args) != jsonscan.String {
				args = []byte(`"{}"`)
			}
			if len(out) > 0 {
				out = append(out, ',')
			}
			out = appendCallItem(out, NewID("fc"), itemStatus(i == ncalls-1), cc[0], fn[0], args)
			return nil
		})
		if err != nil {
			return dst, err
		}
	}
	var u providers.Usage
	if jsonscan.KindOf(top[2]) == jsonscan.Object {
		u = providers.ParseUsage(top[2])
	}
	return m.appendResponse(dst, status, wire.Unq(top[0], &scratch), out, &u, reason, nil), nil
}
