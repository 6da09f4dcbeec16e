package responses

import (
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
)

// chatMsg is one chat completions message being built from input items.
type chatMsg struct {
	role    string
	content []byte   // a JSON value: a string, an array of parts, or nil
	calls   [][]byte // rendered tool_calls entries (assistant)
	callID  []byte   // tool_call_id, a JSON string (tool)
}

// AppendChat appends to dst the OpenAI chat completion request equivalent
// to r over the conversation items (normalised items, see Request.Input:
// the previous response's input and output, then r.Input), so that the
// engine can decode it into the canonical Request:
//
//   - instructions become a leading system message (they are not carried
//     over from a previous response, as on OpenAI);
//   - message items become messages (developer as system); input_text and
//     output_text parts text parts, input_image an image_url part,
//     input_file a file part; an assistant message's parts become its
//     text content;
//   - function_call items become tool_calls of the assistant message they
//     follow (or of a new one), function_call_output items tool messages;
//   - reasoning items are dropped (only OpenAI reads their content);
//   - function tools become chat tools, tool_choice maps to its chat form,
//     text.format to response_format, max_output_tokens to
//     max_completion_tokens, reasoning.effort to reasoning_effort;
//     temperature, top_p, parallel_tool_calls and user pass; stream adds
//     stream_options.include_usage.
func (r *Request) AppendChat(dst []byte, items [][]byte) ([]byte, error) {
	var msgs []chatMsg
	if r.Instructions != nil && len(r.Instructions) > 2 {
		msgs = append(msgs, chatMsg{role: "system", content: r.Instructions})
	}
	for i, it := range items {
		m := members(it, "type", "role", "content", "call_id", "name", "arguments", "output")
		switch string(m[0]) {
		case `"message"`:
			role := wire.Str(m[1])
			if role == "developer" {
				role = "system"
			}
			if role == "assistant" {
				msgs = append(msgs, chatMsg{role: role, content: textOf(m[2])})
				continue
			}
			c, err := chatParts(m[2], i)
			if err != nil {
				return dst, err
			}
			msgs = append(msgs, chatMsg{role: role, content: c})
		case `"function_call"`:
			call := append([]byte(`{"id":`), m[3]...)
			call = append(call, `,"type":"function","function":{"name":`...)
			call = append(call, m[4]...)
			call = append(call, `,"arguments":`...)
			call = append(call, m[5]...)
			call = append(call, "}}"...)
			if n := len(msgs); n > 0 && msgs[n-1].role == "assistant" {
				msgs[n-1].calls = append(msgs[n-1].calls, call)
			} else {
				msgs = append(msgs, chatMsg{role: "assistant", calls: [][]byte{call}})
			}
		case `"function_call_output"`:
			out := m[6]
			if jsonscan.KindOf(out) == jsonscan.Array {
				out = textOf(out)
			}
			msgs = append(msgs, chatMsg{role: "tool", content: out, callID: m[3]})
		}
	}
	dst = append(dst, '{')
	if r.Model != "" {
		dst = append(dst, `"model":`...)
		dst = jsonscan.AppendQuote(dst, r.Model)
		dst = append(dst, ',')
	}
	dst = append(dst, `"messages":[`...)
	for i, m := range msgs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"role":"`...)
		dst = append(dst, m.role...)
		dst = append(dst, `","content":`...)
		if m.content == nil {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, m.content...)
		}
		if len(m.calls) > 0 {
			dst = append(dst, `,"tool_calls":[`...)
			for j, c := range m.calls {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, c...)
			}
			dst = append(dst, ']')
		}
		if m.callID != nil {
			dst = append(dst, `,"tool_call_id":`...)
			dst = append(dst, m.callID...)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	if r.Tools != nil && len(wire.TrimSpace(r.Tools)) > 2 {
		dst = append(dst, `,"tools":[`...)
		_ = jsonscan.ArrayEach(r.Tools, func(i int, t []byte) error {
			m := members(t, "name", "description", "parameters", "strict")
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"type":"function","function":{"name":`...)
			dst = append(dst, m[0]...)
			if jsonscan.KindOf(m[1]) == jsonscan.String {
				dst = append(dst, `,"description":`...)
				dst = append(dst, m[1]...)
			}
			if jsonscan.KindOf(m[2]) == jsonscan.Object {
				dst = append(dst, `,"parameters":`...)
				dst = append(dst, m[2]...)
			}
			if k := jsonscan.KindOf(m[3]); k == jsonscan.True || k == jsonscan.False {
				dst = append(dst, `,"strict":`...)
				dst = append(dst, m[3]...)
			}
			dst = append(dst, "}}"...)
			return nil
		})
		dst = append(dst, ']')
	}
	var err error
	if r.ToolChoice != nil {
		dst = append(dst, `,"tool_choice":`...)
		if dst, err = chatToolChoice(dst, r.ToolChoice); err != nil {
			return dst, err
		}
	}
	if r.Text != nil {
		mark := len(dst)
		dst = append(dst, `,"response_format":`...)
		n := len(dst)
		if dst, err = chatResponseFormat(dst, r.Text); err != nil {
			return dst, err
		}
		if len(dst) == n {
			dst = dst[:mark]
		}
	}
	if effort := r.effort(); effort != "" {
		dst = append(dst, `,"reasoning_effort":"`...)
		dst = append(dst, effort...)
		dst = append(dst, '"')
	}
	for _, kv := range [...]struct {
		k string
		v []byte
	}{{"max_completion_tokens", r.MaxOutputTokens}, {"temperature", r.Temperature}, {"top_p", r.TopP},
		{"parallel_tool_calls", r.ParallelToolCalls}, {"user", r.User}} {
		if kv.v != nil {
			dst = append(dst, `,"`...)
			dst = append(dst, kv.k...)
			dst = append(dst, `":`...)
			dst = append(dst, kv.v...)
		}
	}
	if r.Stream {
		dst = append(dst, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(dst, '}'), nil
}

// effort is reasoning.effort as a chat reasoning_effort: minimal as low,
// xhigh as high, none (or absent) as nothing.
func (r *Request) effort() string {
	switch e := wire.Str(jsonscan.Get(r.Reasoning, "effort")); e {
	case "minimal", "low":
		return "low"
	case "medium":
		return "medium"
	case "high", "xhigh":
		return "high"
	}
	return ""
}

// textOf joins the text of content parts (input_text, output_text,
// refusal) into one JSON string; a string is returned as it is.
func textOf(content []byte) []byte {
	if jsonscan.KindOf(content) == jsonscan.String {
		return content
	}
	var text, scratch []byte
	_ = jsonscan.ArrayEach(content, func(_ int, p []byte) error {
		m := members(p, "text", "refusal")
		v := m[0]
		if v == nil {
			v = m[1]
		}
		text = append(text, wire.Unq(v, &scratch)...)
		return nil
	})
	return jsonscan.AppendQuoteBytes(nil, text)
}

// chatParts converts a normalised message's content parts to chat parts:
// a string when they are all text (every provider takes that), else an
// array.
func chatParts(content []byte, i int) ([]byte, error) {
	allText := true
	_ = jsonscan.ArrayEach(content, func(_ int, p []byte) error {
		if t := string(jsonscan.Get(p, "type")); t != `"input_text"` && t != `"output_text"` && t != `"refusal"` {
			allText = false
		}
		return nil
	})
	if allText {
		return textOf(content), nil
	}
	out := []byte{'['}
	err := jsonscan.ArrayEach(content, func(j int, p []byte) error {
		if j > 0 {
			out = append(out, ',')
		}
		m := members(p, "type", "text", "image_url", "detail", "file_data", "filename", "refusal")
		switch string(m[0]) {
		case `"input_text"`, `"output_text"`:
			out = append(out, `{"type":"text","text":`...)
			out = append(out, m[1]...)
		case `"refusal"`:
			out = append(out, `{"type":"text","text":`...)
			out = append(out, m[6]...)
		case `"input_image"`:
			out = append(out, `{"type":"image_url","image_url":{"url":`...)
			out = append(out, m[2]...)
			if jsonscan.KindOf(m[3]) == jsonscan.String {
				out = append(out, `,"detail":`...)
				out = append(out, m[3]...)
			}
			out = append(out, '}')
		case `"input_file"`:
			out = append(out, `{"type":"file","file":{"file_data":`...)
			out = append(out, m[4]...)
			if jsonscan.KindOf(m[5]) == jsonscan.String {
				out = append(out, `,"filename":`...)
				out = append(out, m[5]...)
			}
			out = append(out, '}')
		default:
			return inErr(idx("input", i, ".content"), "unsupported content part "+string(m[0]))
		}
		out = append(out, '}')
		return nil
	})
	return append(out, ']'), err
}
