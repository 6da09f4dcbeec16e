package responses

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

func inErr(param, msg string) error { return &providers.RequestError{Param: param, Msg: msg} }

// UnportableError refuses what only OpenAI's own Responses API can run
// (hosted tools, its other item and output part types): the engine passes
// such a request through to a provider that serves the Responses API
// natively, and answers the error for any other.
type UnportableError struct{ Err *providers.RequestError }

func (e *UnportableError) Error() string { return e.Err.Error() }

// Unwrap makes the error the client's 400 wherever it is not passed
// through.
func (e *UnportableError) Unwrap() error { return e.Err }

func unportable(param, msg string) error {
	return &UnportableError{Err: &providers.RequestError{Param: param, Msg: msg}}
}

// idx is a parameter path with an index: idx("input", 2, ".role").
func idx(prefix string, i int, suffix string) string {
	return prefix + "[" + strconv.Itoa(i) + "]" + suffix
}

// randRead fills ids; golden tests make it deterministic.
var randRead = rand.Read

// NewID returns a new object id with the given prefix ("resp", "msg", "fc"):
// 128 random bits, unique across restarts and replicas.
func NewID(prefix string) string {
	var b [16]byte
	_, _ = randRead(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// Request is a parsed Responses API create request
// (https://platform.openai.com/docs/api-reference/responses/create). Raw
// members are JSON values that alias the body; Input holds the normalised
// input items (new memory).
type Request struct {
	Model              string
	Stream             bool
	Store              bool // default true
	PreviousResponseID string
	// Input is the request's own input items, normalised: each an object
	// with an id and a type; a message's content is an array of parts.
	Input [][]byte

	Instructions      []byte // a JSON string, or nil
	Tools             []byte // array of function tools, or nil
	ToolChoice        []byte
	Text              []byte // {"format":{…}}, or nil
	Reasoning         []byte
	Temperature       []byte
	TopP              []byte
	MaxOutputTokens   []byte
	ParallelToolCalls []byte
	User              []byte
	Metadata          []byte
}

// Parse validates a create request body and reads it. Members the gateway
// cannot honour on every provider are refused with a 400 that names them
// (background, conversation, prompt, hosted tools); members without an
// effect on the answer (include, truncation, service_tier, …) are ignored.
func Parse(body []byte) (*Request, error) {
	if err := jsonscan.Validate(body); err != nil {
		return nil, inErr("", "request body is not valid JSON: "+err.Error())
	}
	body = wire.TrimSpace(body)
	if jsonscan.KindOf(body) != jsonscan.Object {
		return nil, inErr("", "request body must be a JSON object")
	}
	r := &Request{Store: true}
	var input []byte
	seen := map[string]bool{}
	err := jsonscan.ObjectEach(body, func(k, v []byte) error {
		key := string(k)
		if seen[key] {
			return inErr(key, "appears more than once")
		}
		seen[key] = true
		null := jsonscan.KindOf(v) == jsonscan.Null
		switch key {
		case "model":
			if jsonscan.KindOf(v) != jsonscan.String {
				return inErr("model", "must be a string")
			}
			r.Model = wire.Str(v)
		case "input":
			input = v
		case "instructions":
			if !null && jsonscan.KindOf(v) != jsonscan.String {
				return inErr("instructions", "must be a string")
			}
			if !null {
				r.Instructions = v
			}
		case "stream":
			b, err := boolOf(key, v)
			r.Stream = b
			return err
		case "store":
			if null {
				return nil
			}
			b, err := boolOf(key, v)
			r.Store = b
			return err
		case "previous_response_id":
			if null {
				return nil
			}
			if jsonscan.KindOf(v) != jsonscan.String {
				return inErr(key, "must be a string")
			}
			r.PreviousResponseID = wire.Str(v)
		case "tools":
			if null {
				return nil
			}
			if err := checkTools(v); err != nil {
				return err
			}
			r.Tools = v
		case "tool_choice":
			if null {
				return nil
			}
			if _, err := chatToolChoice(nil, v); err != nil {
				return err
			}
			r.ToolChoice = v
		case "text":
			if null {
				return nil
			}
			if _, err := chatResponseFormat(nil, v); err != nil {
				return err
			}
			r.Text = v
		case "reasoning":
			if !null && jsonscan.KindOf(v) != jsonscan.Object {
				return inErr(key, "must be an object")
			}
			if !null {
				r.Reasoning = v
			}
		case "temperature", "top_p":
			if null {
				return nil
			}
			if jsonscan.KindOf(v) != jsonscan.Number {
				return inErr(key, "must be a number")
			}
			if key == "temperature" {
				r.Temperature = v
			} else {
				r.TopP = v
			}
		case "max_output_tokens":
			if null {
				return nil
			}
			if n, err := jsonscan.ParseInt(v); err != nil || n < 1 {
				return inErr(key, "must be a positive integer")
			}
			r.MaxOutputTokens = v
		case "parallel_tool_calls":
			if null {
				return nil
			}
			if _, err := boolOf(key, v); err != nil {
				return err
			}
			r.ParallelToolCalls = v
		case "user", "safety_identifier":
			if null {
				return nil
			}
			if jsonscan.KindOf(v) != jsonscan.String {
				return inErr(key, "must be a string")
			}
			r.User = v
		case "metadata":
			if null {
				return nil
			}
			if jsonscan.KindOf(v) != jsonscan.Object {
				return inErr(key, "must be an object")
			}
			r.Metadata = v
		case "background":
			if string(v) == "true" {
				return inErr(key, "background responses are not supported by the gateway; send the request without it")
			}
		case "conversation", "prompt":
			if !null {
				return inErr(key, "is not supported by the gateway; use previous_response_id to continue a conversation")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := r.checkAllowed(); err != nil {
		return nil, err
	}
	switch jsonscan.KindOf(input) {
	case jsonscan.String:
		var scratch []byte
		text := wire.Unq(input, &scratch)
		item := append([]byte(`{"id":`), jsonscan.AppendQuote(nil, NewID("msg"))...)
		item = append(item, `,"type":"message","role":"user","content":[{"type":"input_text","text":`...)
		item = jsonscan.AppendQuoteBytes(item, text)
		r.Input = append(r.Input, append(item, "}]}"...))
	case jsonscan.Array:
		err := jsonscan.ArrayEach(input, func(i int, it []byte) error {
			n, err := normalizeItem(nil, it, i)
			if err != nil {
				return err
			}
			if n != nil {
				r.Input = append(r.Input, n)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	case jsonscan.Invalid, jsonscan.Null:
		if r.PreviousResponseID == "" {
			return nil, inErr("input", "is required")
		}
	default:
		return nil, inErr("input", "must be a string or an array of input items")
	}
	return r, nil
}

func boolOf(key string, v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, inErr(key, "must be a boolean")
}

// members reads the named members of the object v; a member not found is
// nil. With a handful of names a linear scan beats a map.
func members(v []byte, names ...string) [][]byte {
	out := make([][]byte, len(names))
	_ = jsonscan.ObjectEach(v, func(k, val []byte) error {
		for i, n := range names {
			if string(k) == n && out[i] == nil {
				out[i] = val
			}
		}
		return nil
	})
	return out
}

// normalizeItem appends the normalised form of input item it (see
// Request.Input) to dst.
func normalizeItem(dst, it []byte, i int) ([]byte, error) {
	if jsonscan.KindOf(it) != jsonscan.Object {
		return nil, inErr(idx("input", i, ""), "expected an object")
	}
	m := members(it, "type", "role", "content", "id", "call_id", "name", "arguments", "output", "status")
	typ, role, content, id, callID, name, args, output := m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
	t := "message"
	if typ != nil {
		if jsonscan.KindOf(typ) != jsonscan.String {
			return nil, inErr(idx("input", i, ".type"), "must be a string")
		}
		t = wire.Str(typ)
	}
	itemID := func(prefix string) []byte {
		if jsonscan.KindOf(id) == jsonscan.String && len(id) > 2 {
			return id
		}
		return jsonscan.AppendQuote(nil, NewID(prefix))
	}
	switch t {
	case "message":
		r := wire.Str(role)
		switch r {
		case "user", "assistant", "system", "developer":
		default:
			return nil, inErr(idx("input", i, ".role"), "must be user, assistant, system or developer")
		}
		dst = append(dst, `{"id":`...)
		dst = append(dst, itemID("msg")...)
		dst = append(dst, `,"type":"message","role":"`...)
		dst = append(dst, r...)
		dst = append(dst, '"')
		if r == "assistant" {
			dst = append(dst, `,"status":"completed"`...)
		}
		dst = append(dst, `,"content":[`...)
		switch jsonscan.KindOf(content) {
		case jsonscan.String:
			if r == "assistant" {
				dst = append(dst, `{"type":"output_text","text":`...)
				dst = append(dst, content...)
				dst = append(dst, `,"annotations":[]}`...)
			} else {
				dst = append(dst, `{"type":"input_text","text":`...)
				dst = append(dst, content...)
				dst = append(dst, '}')
			}
		case jsonscan.Array:
			err := jsonscan.ArrayEach(content, func(j int, p []byte) error {
				param := idx("input", i, ".content") + "[" + strconv.Itoa(j) + "]"
				if err := checkPart(p, param); err != nil {
					return err
				}
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, wire.TrimSpace(p)...)
				return nil
			})
			if err != nil {
				return nil, err
			}
		default:
			return nil, inErr(idx("input", i, ".content"), "must be a string or an array of content parts")
		}
		return append(dst, "]}"...), nil
	case "function_call":
		if jsonscan.KindOf(callID) != jsonscan.String || jsonscan.KindOf(name) != jsonscan.String || jsonscan.KindOf(args) != jsonscan.String {
			return nil, inErr(idx("input", i, ""), "a function_call item needs the strings call_id, name and arguments")
		}
		dst = append(dst, `{"id":`...)
		dst = append(dst, itemID("fc")...)
		dst = append(dst, `,"type":"function_call","status":"completed","call_id":`...)
		dst = append(dst, callID...)
		dst = append(dst, `,"name":`...)
		dst = append(dst, name...)
		dst = append(dst, `,"arguments":`...)
		dst = append(dst, args...)
		return append(dst, '}'), nil
	case "function_call_output":
		if jsonscan.KindOf(callID) != jsonscan.String {
			return nil, inErr(idx("input", i, ".call_id"), "must be a string")
		}
		switch jsonscan.KindOf(output) {
		case jsonscan.String:
		case jsonscan.Array:
			err := jsonscan.ArrayEach(output, func(j int, p []byte) error {
				if string(jsonscan.Get(p, "type")) != `"input_text"` || jsonscan.KindOf(jsonscan.Get(p, "text")) != jsonscan.String {
					return unportable(idx("input", i, ".output")+"["+strconv.Itoa(j)+"]", "only input_text parts can be sent as a function call output through the gateway (others only on a model whose provider serves the Responses API, OpenAI)")
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		default:
			return nil, inErr(idx("input", i, ".output"), "must be a string or an array of input_text parts")
		}
		dst = append(dst, `{"id":`...)
		dst = append(dst, itemID("fco")...)
		dst = append(dst, `,"type":"function_call_output","status":"completed","call_id":`...)
		dst = append(dst, callID...)
		dst = append(dst, `,"output":`...)
		dst = append(dst, output...)
		return append(dst, '}'), nil
	case "reasoning":
		// A reasoning item carries state only OpenAI can read (its
		// encrypted content); other providers never see it.
		return append(dst, wire.TrimSpace(it)...), nil
	}
	if t == "item_reference" {
		// Never passed through: an item id would reach another project's
		// items at OpenAI, where the gateway has one account.
		return nil, inErr(idx("input", i, ".type"), "input items of type \"item_reference\" are not supported by the gateway")
	}
	return nil, unportable(idx("input", i, ".type"), "input items of type "+strconv.Quote(t)+" are not supported by the gateway (message, function_call, function_call_output and reasoning are; others only on a model whose provider serves the Responses API, OpenAI)")
}

// checkPart validates one content part of an input message.
func checkPart(p []byte, param string) error {
	if jsonscan.KindOf(p) != jsonscan.Object {
		return inErr(param, "expected an object")
	}
	m := members(p, "type", "text", "image_url", "file_data", "refusal")
	switch string(m[0]) {
	case `"input_text"`, `"output_text"`:
		if jsonscan.KindOf(m[1]) != jsonscan.String {
			return inErr(param+".text", "must be a string")
		}
	case `"refusal"`:
		if jsonscan.KindOf(m[4]) != jsonscan.String {
			return inErr(param+".refusal", "must be a string")
		}
	case `"input_image"`:
		if jsonscan.KindOf(m[2]) != jsonscan.String {
			return inErr(param+".image_url", "is required (a URL or a data: URL); file_id images are not supported by the gateway")
		}
	case `"input_file"`:
		if jsonscan.KindOf(m[3]) != jsonscan.String {
			return inErr(param+".file_data", "is required (file_id and file_url are not supported by the gateway)")
		}
	default:
		return inErr(param+".type", "must be input_text, output_text, refusal, input_image or input_file")
	}
	return nil
}

// checkTools accepts function tools only: hosted tools (web search, file
// search, code interpreter, …) run inside OpenAI and no other provider.
func checkTools(v []byte) error {
	if jsonscan.KindOf(v) != jsonscan.Array {
		return inErr("tools", "must be an array")
	}
	return jsonscan.ArrayEach(v, func(i int, t []byte) error {
		if jsonscan.KindOf(t) != jsonscan.Object {
			return inErr(idx("tools", i, ""), "expected an object")
		}
		m := members(t, "type", "name", "parameters")
		if string(m[0]) != `"function"` {
			return unportable(idx("tools", i, ".type"), "only function tools are supported by the gateway (hosted tools only on a model whose provider serves the Responses API, OpenAI); got "+string(m[0]))
		}
		if jsonscan.KindOf(m[1]) != jsonscan.String {
			return inErr(idx("tools", i, ".name"), "must be a string")
		}
		if m[2] != nil && jsonscan.KindOf(m[2]) != jsonscan.Object && jsonscan.KindOf(m[2]) != jsonscan.Null {
			return inErr(idx("tools", i, ".parameters"), "must be a JSON Schema object")
		}
		return nil
	})
}

// chatToolChoice appends the chat completions tool_choice equivalent to v:
// a mode as it is, a named function as chat's, and allowed_tools
// ({"type":"allowed_tools","mode":"auto"|"required","tools":[{"type":
// "function","name":…}]},
// https://platform.openai.com/docs/api-reference/responses/create#responses-create-tool_choice)
// as chat's allowed_tools, which every provider honours
// (providers/allowedtools.go). Allowed hosted tools are OpenAI's alone.
func chatToolChoice(dst, v []byte) ([]byte, error) {
	switch string(v) {
	case `"auto"`, `"none"`, `"required"`:
		return append(dst, v...), nil
	}
	if jsonscan.KindOf(v) == jsonscan.Object {
		m := members(v, "type", "name", "mode", "tools")
		switch wire.Str(m[0]) {
		case "function":
			if jsonscan.KindOf(m[1]) == jsonscan.String {
				dst = append(dst, `{"type":"function","function":{"name":`...)
				dst = append(dst, m[1]...)
				return append(dst, "}}"...), nil
			}
		case "allowed_tools":
			return chatAllowedTools(dst, m[2], m[3])
		}
	}
	return dst, inErr("tool_choice", `must be "auto", "none", "required", {"type":"function","name":…} or {"type":"allowed_tools",…}`)
}

// checkAllowed checks that an allowed_tools tool_choice names function
// tools of tools (members come in any order: after the whole body).
func (r *Request) checkAllowed() error {
	m := members(r.ToolChoice, "type", "tools")
	if jsonscan.KindOf(r.ToolChoice) != jsonscan.Object || wire.Str(m[0]) != "allowed_tools" {
		return nil
	}
	return jsonscan.ArrayEach(m[1], func(i int, t []byte) error {
		name := wire.Str(jsonscan.Get(t, "name"))
		found := false
		_ = jsonscan.ArrayEach(r.Tools, func(_ int, tool []byte) error {
			found = found || wire.Str(jsonscan.Get(tool, "name")) == name
			return nil
		})
		if !found {
			return inErr(idx("tool_choice.tools", i, ".name"), "names no function in tools: "+strconv.Quote(name))
		}
		return nil
	})
}

// chatAllowedTools appends chat's allowed_tools tool_choice for a
// Responses one with mode and tools.
func chatAllowedTools(dst, mode, tools []byte) ([]byte, error) {
	md := wire.Str(mode)
	if md != "auto" && md != "required" {
		return dst, inErr("tool_choice.mode", "must be auto or required")
	}
	if jsonscan.KindOf(tools) != jsonscan.Array {
		return dst, inErr("tool_choice.tools", "is required: an array of tools")
	}
	dst = append(dst, `{"type":"allowed_tools","allowed_tools":{"mode":"`...)
	dst = append(dst, md...)
	dst = append(dst, `","tools":[`...)
	err := jsonscan.ArrayEach(tools, func(i int, t []byte) error {
		m := members(t, "type", "name")
		if wire.Str(m[0]) != "function" {
			return unportable(idx("tool_choice.tools", i, ".type"), "only function tools can be allowed through the gateway (hosted tools only on a model whose provider serves the Responses API, OpenAI)")
		}
		if jsonscan.KindOf(m[1]) != jsonscan.String {
			return inErr(idx("tool_choice.tools", i, ".name"), "must be a string")
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"function","function":{"name":`...)
		dst = append(dst, m[1]...)
		dst = append(dst, "}}"...)
		return nil
	})
	return append(dst, "]}}"...), err
}

// chatResponseFormat appends the chat completions response_format
// equivalent to the text member v; nothing for plain text.
func chatResponseFormat(dst, v []byte) ([]byte, error) {
	if jsonscan.KindOf(v) != jsonscan.Object {
		return dst, inErr("text", "must be an object")
	}
	f := jsonscan.Get(v, "format")
	if f == nil || jsonscan.KindOf(f) == jsonscan.Null {
		return dst, nil
	}
	if jsonscan.KindOf(f) != jsonscan.Object {
		return dst, inErr("text.format", "must be an object")
	}
	m := members(f, "type", "name", "schema", "strict", "description")
	switch string(m[0]) {
	case `"text"`:
		return dst, nil
	case `"json_object"`:
		return append(dst, `{"type":"json_object"}`...), nil
	case `"json_schema"`:
		if jsonscan.KindOf(m[1]) != jsonscan.String {
			// OpenAI: "Missing required parameter: 'text.format.name'.",
			// code missing_required_parameter.
			return dst, &providers.RequestError{Param: "text.format.name", Code: providers.CodeMissingParameter, Msg: "is required"}
		}
		if jsonscan.KindOf(m[2]) != jsonscan.Object {
			return dst, inErr("text.format.schema", "is required and must be a JSON Schema object")
		}
		dst = append(dst, `{"type":"json_schema","json_schema":{"name":`...)
		dst = append(dst, m[1]...)
		dst = append(dst, `,"schema":`...)
		dst = append(dst, m[2]...)
		if k := jsonscan.KindOf(m[3]); k == jsonscan.True || k == jsonscan.False {
			dst = append(dst, `,"strict":`...)
			dst = append(dst, m[3]...)
		}
		if jsonscan.KindOf(m[4]) == jsonscan.String {
			dst = append(dst, `,"description":`...)
			dst = append(dst, m[4]...)
		}
		return append(dst, "}}"...), nil
	}
	return dst, inErr("text.format.type", "must be text, json_object or json_schema")
}
