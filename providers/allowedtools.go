package providers

import (
	"bytes"
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
)

// The allowed_tools tool_choice
// (https://platform.openai.com/docs/api-reference/chat/create#chat-create-tool_choice):
//
//	{"type":"allowed_tools","allowed_tools":{"mode":"auto"|"required",
//	 "tools":[{"type":"function","function":{"name":"get_weather"}},…]}}
//
// restricts the tools the model may call to a subset of tools, which stays
// whole (so that a prompt cache keeps it). OpenAI-format upstreams receive it
// as it is; the translators of providers without it (Anthropic, Gemini,
// Ollama) send the allowed tools alone, with mode auto as their auto and
// required as their "any tool" (Ollama, which cannot force a call, leaves
// it to the model).

// AllowedTools reads an allowed_tools tool_choice tc, as the decoder
// checked it: required reports mode "required", list is the tools array.
// ok is false for any other tool_choice.
func AllowedTools(tc []byte) (required bool, list []byte, ok bool) {
	if jsonscan.KindOf(tc) != jsonscan.Object || !isString(jsonscan.Get(tc, "type"), "allowed_tools") {
		return false, nil, false
	}
	at := jsonscan.Get(tc, "allowed_tools")
	return isString(jsonscan.Get(at, "mode"), "required"), jsonscan.Get(at, "tools"), true
}

// ToolAllowed reports whether the function tool name is in list, an
// allowed_tools tools array.
func ToolAllowed(list []byte, name string) bool {
	found := false
	_ = jsonscan.ArrayEach(list, func(_ int, t []byte) error {
		if !found && isString(jsonscan.Get(jsonscan.Get(t, "function"), "name"), name) {
			found = true
		}
		return nil
	})
	return found
}

// isString reports whether the JSON value v is the string s, however
// escaped.
func isString(v []byte, s string) bool {
	if jsonscan.KindOf(v) != jsonscan.String {
		return false
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1:len(v)-1]) == s
	}
	var scratch []byte
	return string(wire.Unq(v, &scratch)) == s
}

// checkAllowedTools checks an allowed_tools tool_choice: its mode, and
// that every entry is a function tool of tools (read in full by then).
func (r *Request) checkAllowedTools(tc []byte) error {
	const p = "tool_choice.allowed_tools"
	at := jsonscan.Get(tc, "allowed_tools")
	if jsonscan.KindOf(at) != jsonscan.Object {
		return &RequestError{Param: p, Code: CodeMissingParameter, Msg: "is required when tool_choice.type is allowed_tools"}
	}
	mode := jsonscan.Get(at, "mode")
	if !isString(mode, "auto") && !isString(mode, "required") {
		return &RequestError{Param: p + ".mode", Code: CodeInvalidValue, Msg: "must be auto or required"}
	}
	list := jsonscan.Get(at, "tools")
	if jsonscan.KindOf(list) != jsonscan.Array {
		return &RequestError{Param: p + ".tools", Code: CodeMissingParameter, Msg: "is required: an array of tools"}
	}
	// An empty list would leave a translated request with no tools and a
	// tool_choice; tool_choice "none" says that.
	n := 0
	_ = jsonscan.ArrayEach(list, func(int, []byte) error { n++; return nil })
	if n == 0 {
		return reqErr(p+".tools", `must name at least one tool (tool_choice "none" allows none)`)
	}
	return jsonscan.ArrayEach(list, func(i int, t []byte) error {
		param := p + ".tools[" + strconv.Itoa(i) + "]"
		name := jsonscan.Get(jsonscan.Get(t, "function"), "name")
		if !isString(jsonscan.Get(t, "type"), "function") || jsonscan.KindOf(name) != jsonscan.String {
			return reqErr(param, `must be {"type":"function","function":{"name":…}}`)
		}
		var scratch []byte
		n := string(wire.Unq(name, &scratch))
		for j := range r.Tools {
			if r.Tools[j].Type == "function" && r.Tools[j].Name == n {
				return nil
			}
		}
		return reqErr(param+".function.name", "names no function in tools: "+strconv.Quote(n))
	})
}
