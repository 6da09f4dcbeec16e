package messages

import (
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// StopReason maps an OpenAI finish_reason to an Anthropic stop_reason.
func StopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls", "function_call":
		return "tool_use"
	case "content_filter":
		return "refusal"
	}
	return "end_turn"
}

// appendMsgID appends an Anthropic-style message id for an OpenAI id.
func appendMsgID(dst, id []byte) []byte {
	dst = append(dst, '"')
	if len(id) < 4 || string(id[:4]) != "msg_" {
		dst = append(dst, "msg_"...)
		if len(id) > 8 && string(id[:8]) == "chatcmpl" {
			id = id[8:]
			if len(id) > 0 && id[0] == '-' {
				id = id[1:]
			}
		}
	}
	for _, c := range id {
		if c >= 0x20 && c != '"' && c != '\\' {
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendUsageIn appends an Anthropic usage object for OpenAI usage:
// input_tokens exclude the cached prefix, as Anthropic counts them.
func appendUsageIn(dst []byte, u providers.Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = wire.AppendInt(dst, max(u.PromptTokens-u.CachedTokens-u.CacheWriteTokens, 0))
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = wire.AppendInt(dst, u.CacheWriteTokens)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = wire.AppendInt(dst, u.CachedTokens)
	dst = append(dst, `,"output_tokens":`...)
	dst = wire.AppendInt(dst, u.CompletionTokens)
	return append(dst, '}')
}

// FromCompletion appends to dst the Anthropic message
// (https://docs.anthropic.com/en/api/messages, "Response") equivalent to an
// OpenAI chat.completion: the content becomes a text block (a refusal too),
// each tool call a tool_use block with the arguments parsed as its input,
// finish_reason a stop_reason (StopReason), usage Anthropic's usage with
// input_tokens excluding cached tokens. reasoning_content is dropped: an
// Anthropic thinking block needs a signature that only Anthropic can make.
// The id keeps the OpenAI id after a "msg_" prefix.
func FromCompletion(dst, completion []byte) ([]byte, error) {
	if jsonscan.Validate(completion) != nil {
		return dst, ErrBadCompletion
	}
	completion = wire.TrimSpace(completion)
	var choice []byte
	_ = jsonscan.ArrayEach(jsonscan.Get(completion, "choices"), func(i int, c []byte) error {
		if i == 0 {
			choice = c
		}
		return nil
	})
	msg := jsonscan.Get(choice, "message")
	if jsonscan.KindOf(msg) != jsonscan.Object {
		return dst, ErrBadCompletion
	}
	start := len(dst)
	dst = append(dst, `{"id":`...)
	dst = appendMsgID(dst, wire.Unq(jsonscan.Get(completion, "id"), new([]byte)))
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	if m := jsonscan.Get(completion, "model"); jsonscan.KindOf(m) == jsonscan.String {
		dst = append(dst, m...)
	} else {
		dst = append(dst, `""`...)
	}
	dst = append(dst, `,"content":[`...)
	n := 0
	text := jsonscan.Get(msg, "content")
	if jsonscan.KindOf(text) != jsonscan.String || len(text) == 2 {
		if r := jsonscan.Get(msg, "refusal"); jsonscan.KindOf(r) == jsonscan.String && len(r) > 2 {
			text = r
		}
	}
	switch jsonscan.KindOf(text) {
	case jsonscan.String:
		if len(text) > 2 {
			dst = append(dst, `{"type":"text","text":`...)
			dst = append(dst, text...)
			dst = append(dst, '}')
			n++
		}
	case jsonscan.Array: // content parts, as some servers answer
		_ = jsonscan.ArrayEach(text, func(_ int, p []byte) error {
			if t := jsonscan.Get(p, "text"); jsonscan.KindOf(t) == jsonscan.String && len(t) > 2 {
				if n > 0 {
					dst = append(dst, ',')
				}
				n++
				dst = append(dst, `{"type":"text","text":`...)
				dst = append(dst, t...)
				dst = append(dst, '}')
			}
			return nil
		})
	}
	var scratch []byte
	calls := jsonscan.Get(msg, "tool_calls")
	if jsonscan.KindOf(calls) != jsonscan.Array {
		calls = []byte("[]")
	}
	err := jsonscan.ArrayEach(calls, func(_ int, tc []byte) error {
		fn := jsonscan.Get(tc, "function")
		id, name := jsonscan.Get(tc, "id"), jsonscan.Get(fn, "name")
		if jsonscan.KindOf(id) != jsonscan.String || jsonscan.KindOf(name) != jsonscan.String {
			return ErrBadCompletion
		}
		args := wire.TrimSpace(wire.Unq(jsonscan.Get(fn, "arguments"), &scratch))
		if len(args) == 0 {
			args = emptyObject
		} else if jsonscan.Validate(args) != nil || jsonscan.KindOf(args) != jsonscan.Object {
			return ErrBadCompletion
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"type":"tool_use","id":`...)
		dst = append(dst, id...)
		dst = append(dst, `,"name":`...)
		dst = append(dst, name...)
		dst = append(dst, `,"input":`...)
		dst = append(dst, args...)
		dst = append(dst, '}')
		return nil
	})
	if err != nil {
		return dst[:start], ErrBadCompletion
	}
	dst = append(dst, `],"stop_reason":"`...)
	dst = append(dst, StopReason(string(wire.Unq(jsonscan.Get(choice, "finish_reason"), &scratch)))...)
	dst = append(dst, `","stop_sequence":null,"usage":`...)
	dst = appendUsageIn(dst, providers.ParseUsage(jsonscan.Get(completion, "usage")))
	return append(dst, '}'), nil
}
