package responses

import (
	"errors"
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// errNotCacheable: a response holds what a chat completion cannot carry.
var errNotCacheable = errors.New("response has output a chat completion cannot carry")

// ToCompletion appends the chat completion that carries the same answer as
// an upstream's Responses API response object (a passthrough), so that the
// response cache, which keeps chat completions, can store it: message text
// becomes the content, function_call items tool calls (call_id as their
// id), a reasoning item's summary text the reasoning, usage the chat usage;
// status incomplete with reason max_output_tokens is finish_reason length.
// A response with other output (hosted tool calls, refusals, images) or
// that did not complete is refused with an error: it is not cached.
func ToCompletion(dst, resp []byte) ([]byte, error) {
	status := jsonscan.Get(resp, "status")
	finish := "stop"
	switch string(status) {
	case `"completed"`:
	case `"incomplete"`:
		if string(jsonscan.Get(jsonscan.Get(resp, "incomplete_details"), "reason")) != `"max_output_tokens"` {
			return dst, errNotCacheable
		}
		finish = "length"
	default:
		return dst, errNotCacheable
	}
	var text, reasoning, calls []byte
	ncalls := 0
	err := jsonscan.ArrayEach(jsonscan.Get(resp, "output"), func(_ int, it []byte) error {
		switch string(jsonscan.Get(it, "type")) {
		case `"message"`:
			return jsonscan.ArrayEach(jsonscan.Get(it, "content"), func(_ int, p []byte) error {
				if string(jsonscan.Get(p, "type")) != `"output_text"` {
					return errNotCacheable
				}
				s, _, err := jsonscan.Unquote(jsonscan.Get(p, "text"), nil)
				text = append(text, s...)
				return err
			})
		case `"reasoning"`:
			return jsonscan.ArrayEach(jsonscan.Get(it, "summary"), func(_ int, p []byte) error {
				s, _, err := jsonscan.Unquote(jsonscan.Get(p, "text"), nil)
				reasoning = append(reasoning, s...)
				return err
			})
		case `"function_call"`:
			for _, k := range [...]string{"call_id", "name", "arguments"} {
				if jsonscan.KindOf(jsonscan.Get(it, k)) != jsonscan.String {
					return errNotCacheable
				}
			}
			if ncalls > 0 {
				calls = append(calls, ',')
			}
			calls = append(calls, `{"index":`...)
			calls = strconv.AppendInt(calls, int64(ncalls), 10)
			calls = append(calls, `,"id":`...)
			calls = append(calls, jsonscan.Get(it, "call_id")...)
			calls = append(calls, `,"type":"function","function":{"name":`...)
			calls = append(calls, jsonscan.Get(it, "name")...)
			calls = append(calls, `,"arguments":`...)
			calls = append(calls, jsonscan.Get(it, "arguments")...)
			calls = append(calls, `}}`...)
			ncalls++
			return nil
		}
		return errNotCacheable
	})
	if err != nil {
		return dst, errNotCacheable
	}
	if ncalls > 0 && finish == "stop" {
		finish = "tool_calls"
	}
	dst = append(dst, `{"id":`...)
	dst = append(dst, ofKind(resp, "id", jsonscan.String, `""`)...)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = append(dst, ofKind(resp, "created_at", jsonscan.Number, "0")...)
	dst = append(dst, `,"model":`...)
	dst = append(dst, ofKind(resp, "model", jsonscan.String, `""`)...)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if len(text) > 0 || ncalls == 0 {
		dst = jsonscan.AppendQuoteBytes(dst, text)
	} else {
		dst = append(dst, "null"...)
	}
	if len(reasoning) > 0 {
		dst = append(dst, `,"reasoning_content":`...)
		dst = jsonscan.AppendQuoteBytes(dst, reasoning)
	}
	if ncalls > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		dst = append(dst, calls...)
		dst = append(dst, ']')
	}
	dst = append(dst, `},"finish_reason":"`...)
	dst = append(dst, finish...)
	dst = append(dst, `"}],"usage":`...)
	u := providers.ParseResponsesUsage(jsonscan.Get(resp, "usage"))
	return append(u.AppendJSON(dst), '}'), nil
}

// ofKind is obj's member key when it is of kind k, else def.
func ofKind(obj []byte, key string, k jsonscan.Kind, def string) []byte {
	if v := jsonscan.Get(obj, key); jsonscan.KindOf(v) == k {
		return v
	}
	return []byte(def)
}
