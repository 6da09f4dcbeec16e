package ollama

import (
	"strconv"
	"strings"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
)

// reply is one api.ChatResponse: the whole non-streaming answer, or one
// NDJSON line of a stream. Byte slices alias the line or the scratch buffer
// passed to parse.
type reply struct {
	model      []byte
	content    []byte // unescaped message.content
	thinking   []byte // unescaped message.thinking
	toolCalls  []byte // raw message.tool_calls array, nil when absent
	doneReason []byte // unescaped
	errMsg     []byte // unescaped "error", when hasError
	hasError   bool
	done       bool
	usage      providers.Usage
}

// parse decodes b into r, unescaping strings into scratch, and returns the
// grown scratch. A line that is not one JSON object is ErrMalformedLine.
func (r *reply) parse(b, scratch []byte) ([]byte, error) {
	*r = reply{}
	if jsonscan.Validate(b) != nil {
		return scratch, ErrMalformedLine
	}
	obj := b[jsonscan.SkipSpace(b, 0):]
	if jsonscan.KindOf(obj) != jsonscan.Object {
		return scratch, ErrMalformedLine
	}
	unquote := func(v []byte) []byte {
		if jsonscan.KindOf(v) != jsonscan.String {
			return nil
		}
		s, grown, err := jsonscan.Unquote(v, scratch)
		scratch = grown
		if err != nil {
			return nil
		}
		return s
	}
	_ = jsonscan.ObjectEach(obj, func(k, v []byte) error {
		switch string(k) {
		case "model":
			r.model = unquote(v)
		case "message":
			if jsonscan.KindOf(v) != jsonscan.Object {
				return nil
			}
			_ = jsonscan.ObjectEach(v, func(k2, v2 []byte) error {
				switch string(k2) {
				case "content":
					r.content = unquote(v2)
				case "thinking":
					r.thinking = unquote(v2)
				case "tool_calls":
					if jsonscan.KindOf(v2) == jsonscan.Array {
						r.toolCalls = v2
					}
				}
				return nil
			})
		case "done":
			r.done = jsonscan.KindOf(v) == jsonscan.True
		case "done_reason":
			r.doneReason = unquote(v)
		case "prompt_eval_count":
			r.usage.PromptTokens, r.usage.Set = intOf(v), true
		case "eval_count":
			r.usage.CompletionTokens, r.usage.Set = intOf(v), true
		case "prompt_eval_cached_count":
			// Newer servers: the part of prompt_eval_count read from the
			// KV cache (prompt_eval_count includes it since ollama#5371).
			r.usage.CachedTokens = intOf(v)
		case "error":
			if jsonscan.KindOf(v) != jsonscan.Null {
				r.hasError = true
				if jsonscan.KindOf(v) == jsonscan.Object {
					v = jsonscan.Get(v, "message")
				}
				r.errMsg = unquote(v)
			}
		}
		return nil
	})
	return scratch, nil
}

func intOf(v []byte) int {
	if jsonscan.KindOf(v) != jsonscan.Number {
		return 0
	}
	if n, err := jsonscan.ParseInt(v); err == nil {
		return int(max(min(n, 1<<31-1), 0))
	}
	if f, err := jsonscan.ParseFloat(v); err == nil && f > 0 && f < 1<<31 {
		return int(f)
	}
	return 0
}

// toolCall is one element of message.tool_calls (api.ToolCall):
// {"id"?: "…", "function": {"index"?: n, "name": "…", "arguments": {…}}}.
type toolCall struct {
	id, name, args []byte // args is the compacted arguments object
}

// eachToolCall calls fn for every well-formed call in the raw array, with
// strings unescaped into *scratch and arguments compacted into *args (both
// grown as needed). Calls without a name are skipped.
func eachToolCall(raw []byte, scratch, args *[]byte, fn func(tc toolCall)) {
	_ = jsonscan.ArrayEach(raw, func(_ int, e []byte) error {
		if jsonscan.KindOf(e) != jsonscan.Object {
			return nil
		}
		var tc toolCall
		var rawArgs []byte
		_ = jsonscan.ObjectEach(e, func(k, v []byte) error {
			switch string(k) {
			case "id":
				if jsonscan.KindOf(v) == jsonscan.String {
					s, grown, err := jsonscan.Unquote(v, *scratch)
					*scratch = grown
					if err == nil {
						tc.id = s
					}
				}
			case "function":
				if jsonscan.KindOf(v) != jsonscan.Object {
					return nil
				}
				_ = jsonscan.ObjectEach(v, func(k2, v2 []byte) error {
					switch string(k2) {
					case "name":
						if jsonscan.KindOf(v2) == jsonscan.String {
							s, grown, err := jsonscan.Unquote(v2, *scratch)
							*scratch = grown
							if err == nil {
								tc.name = s
							}
						}
					case "arguments":
						rawArgs = v2
					}
					return nil
				})
			}
			return nil
		})
		if len(tc.name) == 0 {
			return nil
		}
		start := len(*args)
		*args = appendArgs(*args, rawArgs, scratch)
		tc.args = (*args)[start:]
		fn(tc)
		return nil
	})
}

// appendArgs appends the OpenAI arguments text for Ollama's arguments value:
// the object compacted (it is sent on as a JSON string), a string as it is
// (servers that already follow OpenAI), anything else as "{}".
func appendArgs(dst, v []byte, scratch *[]byte) []byte {
	switch jsonscan.KindOf(v) {
	case jsonscan.Object:
		return compact(dst, v)
	case jsonscan.String:
		s, grown, err := jsonscan.Unquote(v, *scratch)
		*scratch = grown
		if err == nil {
			return append(dst, s...)
		}
	}
	return append(dst, "{}"...)
}

// compact appends the validated JSON value v without insignificant
// whitespace.
func compact(dst, v []byte) []byte {
	inString, escaped := false, false
	for _, c := range v {
		if inString {
			dst = append(dst, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inString = true
		}
		dst = append(dst, c)
	}
	return dst
}

// appendToolID appends the id of the n-th tool call of completion callID:
// "call_<callID without chatcmpl->_<n>", stable for a given completion, so
// that a client can match its tool results to the calls.
func appendToolID(dst []byte, callID string, n int) []byte {
	dst = append(dst, "call_"...)
	if s := strings.TrimPrefix(callID, "chatcmpl-"); s != "" {
		dst = append(dst, s...)
		dst = append(dst, '_')
	}
	return strconv.AppendInt(dst, int64(n), 10)
}

// finishReason maps done_reason ("stop", "length", "load", "unload") to
// OpenAI's finish_reason; an answer that called tools finishes with
// "tool_calls" whatever Ollama says (it reports "stop").
func finishReason(doneReason []byte, calledTools bool) string {
	switch {
	case calledTools:
		return "tool_calls"
	case string(doneReason) == "length":
		return "length"
	}
	return "stop"
}

// AppendCompletion translates a non-streaming /api/chat answer (one
// api.ChatResponse object) into an OpenAI chat.completion appended to dst.
// It returns the usage (prompt_eval_count, eval_count) and the model Ollama
// reports. An {"error":"…"} body is an *providers.UpstreamError (502); a body
// that is not a chat response wraps ErrBadResponse.
func AppendCompletion(dst, body []byte, call *providers.Call) (out []byte, usage providers.Usage, model string, err error) {
	var m []byte
	out, usage, m, err = appendCompletion(dst, body, call)
	if err != nil {
		return out, usage, "", err
	}
	if m == nil {
		return out, usage, call.Model, nil
	}
	return out, usage, string(m), nil
}

// appendCompletion is AppendCompletion without a copy of the model name:
// model, when Ollama reported one, points into body.
func appendCompletion(dst, body []byte, call *providers.Call) (out []byte, usage providers.Usage, model []byte, err error) {
	var r reply
	var scratch []byte
	if scratch, err = r.parse(body, nil); err != nil {
		return dst, usage, nil, ErrBadResponse
	}
	if r.hasError {
		msg := string(r.errMsg)
		if msg == "" {
			msg = "unknown error"
		}
		return dst, usage, nil, &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_error", Message: msg}
	}
	c := providers.Completion{
		ID:        call.ID,
		Created:   call.Created,
		Model:     call.Model,
		Content:   r.content,
		Reasoning: r.thinking,
		Usage:     r.usage,
	}
	if len(r.model) > 0 {
		// Read by AppendJSON below only: a view of body, not a copy.
		c.Model, model = unsafeconv.String(r.model), r.model
	}
	if r.toolCalls != nil {
		var args, idb []byte
		eachToolCall(r.toolCalls, &scratch, &args, func(tc toolCall) {
			id := string(tc.id)
			if id == "" {
				idb = appendToolID(idb[:0], call.ID, len(c.ToolCalls))
				id = string(idb)
			}
			c.ToolCalls = append(c.ToolCalls, providers.ToolCall{ID: id, Type: "function", Name: string(tc.name), Arguments: string(tc.args)})
		})
	}
	c.Finish = finishReason(r.doneReason, len(c.ToolCalls) > 0)
	return c.AppendJSON(dst), r.usage, model, nil
}
