package ollama

import (
	"strconv"
	"strings"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
)

// appendRequest appends the /api/chat body for call. Members follow the
// order of api.ChatRequest: model, messages, tools, format, options, stream,
// keep_alive, think. numCtx is the default options.num_ctx (0: none).
//
// Every string written comes from the canonical request and is quoted with
// jsonscan.AppendQuote; raw JSON values (tool parameters, the schema, tool
// arguments, passthrough options) were validated by the decoder or here and
// are compacted, so the body is one line of JSON.
func appendRequest(dst []byte, call *providers.Call, numCtx int) ([]byte, error) {
	r := call.Req
	if r.N > 1 {
		return dst, reqErr("n", "Ollama returns a single choice; n must be 1")
	}
	dst = append(dst, `{"model":`...)
	dst = jsonscan.AppendQuote(dst, call.Model)
	dst = append(dst, `,"messages":[`...)
	var err error
	for i := range r.Messages {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendMessage(dst, r, i); err != nil {
			return dst, err
		}
	}
	dst = append(dst, ']')
	// Ollama has no tool_choice: "none" is honoured by not offering the
	// tools, allowed_tools by offering the allowed ones alone; "required"
	// and a named function cannot be forced and are left to the model.
	if len(r.Tools) > 0 && string(r.ToolChoice) != `"none"` {
		if dst, err = appendTools(dst, r.Tools, r.ToolChoice); err != nil {
			return dst, err
		}
	}
	if dst, err = appendFormat(dst, r.ResponseFormat, r.ResponseFormatType); err != nil {
		return dst, err
	}
	if dst, err = appendOptions(dst, r, call.MaxTokens(), numCtx); err != nil {
		return dst, err
	}
	// Ollama streams unless told otherwise, so the flag is always explicit.
	if r.Stream {
		dst = append(dst, `,"stream":true`...)
	} else {
		dst = append(dst, `,"stream":false`...)
	}
	if dst, err = appendPassthrough(dst, r); err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

func msgParam(i int, suffix string) string {
	return "messages[" + strconv.Itoa(i) + "]" + suffix
}

func callParam(i, j int, suffix string) string {
	return msgParam(i, ".tool_calls["+strconv.Itoa(j)+"]"+suffix)
}

func partParam(i, j int, suffix string) string {
	return msgParam(i, ".content["+strconv.Itoa(j)+"]"+suffix)
}

// appendMessage appends one api.Message: role, content, images, tool_calls,
// tool_name.
func appendMessage(dst []byte, r *providers.Request, i int) ([]byte, error) {
	m := &r.Messages[i]
	role := m.Role
	switch role {
	case "developer":
		role = "system"
	case "function":
		role = "tool"
	}
	dst = append(dst, `{"role":`...)
	dst = jsonscan.AppendQuote(dst, role)
	dst = append(dst, `,"content":`...)
	dst = appendText(dst, m)
	images := 0
	for j := range m.Parts {
		p := &m.Parts[j]
		switch p.Type {
		case "text", "refusal":
		case "image_url":
			data, err := imageData(p.ImageURL, i, j)
			if err != nil {
				return dst, err
			}
			if images == 0 {
				dst = append(dst, `,"images":[`...)
			} else {
				dst = append(dst, ',')
			}
			dst = jsonscan.AppendQuote(dst, data)
			images++
		default:
			return dst, reqErr(partParam(i, j, ".type"), "content part type "+strconv.Quote(p.Type)+" is not supported by Ollama")
		}
	}
	if images > 0 {
		dst = append(dst, ']')
	}
	if len(m.ToolCalls) > 0 && role == "assistant" {
		dst = append(dst, `,"tool_calls":[`...)
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			if tc.Type != "" && tc.Type != "function" {
				return dst, reqErr(callParam(i, j, ".type"), "only function tool calls are supported by Ollama")
			}
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"function":{"name":`...)
			dst = jsonscan.AppendQuote(dst, tc.Name)
			dst = append(dst, `,"arguments":`...)
			// OpenAI sends the arguments as a JSON document in a string;
			// Ollama wants the object itself (api.ToolCallFunctionArguments).
			args := strings.TrimSpace(tc.Arguments)
			if args == "" {
				args = "{}"
			}
			b := unsafeconv.Bytes(args)
			if jsonscan.Validate(b) != nil || jsonscan.KindOf(b) != jsonscan.Object {
				return dst, reqErr(callParam(i, j, ".function.arguments"), "must be a JSON object: Ollama takes tool-call arguments as an object")
			}
			dst = compact(dst, b)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	if role == "tool" {
		if name := toolName(r, i); name != "" {
			dst = append(dst, `,"tool_name":`...)
			dst = jsonscan.AppendQuote(dst, name)
		}
	}
	return append(dst, '}'), nil
}

// appendText appends the message text as one JSON string: Content, or the
// text parts joined by "\n", quoted in place without an intermediate copy.
func appendText(dst []byte, m *providers.Message) []byte {
	if len(m.Parts) == 0 {
		return jsonscan.AppendQuote(dst, m.Content)
	}
	dst = append(dst, '"')
	first := true
	for j := range m.Parts {
		if m.Parts[j].Type != "text" {
			continue
		}
		if !first {
			dst = append(dst, `\n`...)
		}
		first = false
		q := len(dst)
		dst = jsonscan.AppendQuote(dst, m.Parts[j].Text)
		// Drop the quotes AppendQuote added around this part.
		n := copy(dst[q:], dst[q+1:len(dst)-1])
		dst = dst[:q+n]
	}
	return append(dst, '"')
}

// toolName recovers the function name a tool message answers: Ollama
// matches results to calls by name (api.Message.ToolName), OpenAI by id.
func toolName(r *providers.Request, i int) string {
	m := &r.Messages[i]
	if m.ToolCallID != "" {
		for k := i - 1; k >= 0; k-- {
			for _, tc := range r.Messages[k].ToolCalls {
				if tc.ID == m.ToolCallID {
					return tc.Name
				}
			}
		}
	}
	return m.Name
}

// imageData returns the base64 payload of a data: URL. Ollama's images are
// base64 strings (api.ImageData, decoded with the standard alphabet); it
// cannot fetch URLs.
func imageData(url string, i, j int) (string, error) {
	fail := func(msg string) (string, error) { return "", reqErr(partParam(i, j, ".image_url.url"), msg) }
	if !hasPrefixFold(url, "data:") {
		if hasPrefixFold(url, "http://") || hasPrefixFold(url, "https://") {
			return fail("Ollama cannot fetch image URLs; send the image inline as a base64 data: URL")
		}
		return fail("must be a base64 data: URL")
	}
	comma := strings.IndexByte(url, ',')
	if comma < 0 {
		return fail("is not a valid data: URL")
	}
	if meta := url[len("data:"):comma]; len(meta) < len(";base64") || !strings.EqualFold(meta[len(meta)-len(";base64"):], ";base64") {
		return fail("must be base64-encoded (data:<media type>;base64,<data>)")
	}
	data := url[comma+1:]
	if data == "" {
		return fail("has no image data")
	}
	for k := 0; k < len(data); k++ {
		c := data[k]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '\r' || c == '\n') {
			return fail("image data is not standard base64")
		}
	}
	return data, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// appendTools appends "tools": Ollama takes OpenAI's function tool shape
// (api.Tool), re-serialised so that only the fields it knows are sent; with
// an allowed_tools tool_choice only the allowed ones
// (providers/allowedtools.go; its mode cannot be forced).
func appendTools(dst []byte, tools []providers.Tool, choice []byte) ([]byte, error) {
	_, allowed, restrict := providers.AllowedTools(choice)
	dst = append(dst, `,"tools":[`...)
	n := 0
	for i := range tools {
		t := &tools[i]
		if t.Type != "function" {
			return dst, reqErr("tools["+strconv.Itoa(i)+"].type", "only function tools are supported by Ollama")
		}
		if restrict && !providers.ToolAllowed(allowed, t.Name) {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"type":"function","function":{"name":`...)
		dst = jsonscan.AppendQuote(dst, t.Name)
		if t.Description != "" {
			dst = append(dst, `,"description":`...)
			dst = jsonscan.AppendQuote(dst, t.Description)
		}
		dst = append(dst, `,"parameters":`...)
		if t.Parameters != nil {
			dst = compact(dst, t.Parameters)
		} else {
			dst = append(dst, `{"type":"object","properties":{}}`...)
		}
		dst = append(dst, "}}"...)
	}
	return append(dst, ']'), nil
}

// appendFormat maps response_format: json_object → "json", json_schema →
// the schema object itself (Ollama's structured outputs), text → nothing.
func appendFormat(dst, rf []byte, typ string) ([]byte, error) {
	if rf == nil {
		return dst, nil
	}
	switch typ { // unescaped, and checked by the decoder
	case "text":
		return dst, nil
	case "json_object":
		return append(dst, `,"format":"json"`...), nil
	case "json_schema":
		js := jsonscan.Get(rf, "json_schema")
		var schema []byte
		if jsonscan.KindOf(js) == jsonscan.Object {
			schema = jsonscan.Get(js, "schema")
		}
		if jsonscan.KindOf(schema) != jsonscan.Object {
			return dst, reqErr("response_format.json_schema.schema", "is required for json_schema")
		}
		dst = append(dst, `,"format":`...)
		return compact(dst, schema), nil
	}
	return dst, nil // the decoder refuses any other type
}

// optWriter appends the members of the "options" object.
type optWriter struct {
	dst  []byte
	n    int
	mine []byte // the client's own "options" object, nil when absent
}

// want reports whether the translated option k should be written: not when
// the client's own options set it.
func (w *optWriter) want(k string) bool {
	return w.mine == nil || jsonscan.Get(w.mine, k) == nil
}

func (w *optWriter) key(k string) {
	if w.n > 0 {
		w.dst = append(w.dst, ',')
	}
	w.n++
	w.dst = append(w.dst, '"')
	w.dst = append(w.dst, k...)
	w.dst = append(w.dst, '"', ':')
}

// appendOptions appends "options" (api.Options, named as in the Modelfile
// parameters): temperature, top_p, seed, stop, num_predict, num_ctx,
// frequency_penalty, presence_penalty, then the members of the client's own
// "options" object, which win over the translated ones.
func appendOptions(dst []byte, r *providers.Request, maxTokens, numCtx int) ([]byte, error) {
	mark := len(dst)
	w := optWriter{dst: append(dst, `,"options":{`...)}
	mine := r.Value("options")
	switch jsonscan.KindOf(mine) {
	case jsonscan.Invalid, jsonscan.Null:
		mine = nil
	case jsonscan.Object:
		w.mine = mine
	default:
		return dst, reqErr("options", "expected an object of Ollama model options")
	}
	if r.Temperature.Set && w.want("temperature") {
		w.key("temperature")
		w.dst = strconv.AppendFloat(w.dst, r.Temperature.V, 'g', -1, 64)
	}
	if r.TopP.Set && w.want("top_p") {
		w.key("top_p")
		w.dst = strconv.AppendFloat(w.dst, r.TopP.V, 'g', -1, 64)
	}
	if r.Seed.Set && w.want("seed") {
		w.key("seed")
		w.dst = strconv.AppendInt(w.dst, r.Seed.V, 10)
	}
	if len(r.Stop) > 0 && w.want("stop") {
		w.key("stop")
		w.dst = append(w.dst, '[')
		for i, s := range r.Stop {
			if i > 0 {
				w.dst = append(w.dst, ',')
			}
			w.dst = jsonscan.AppendQuote(w.dst, s)
		}
		w.dst = append(w.dst, ']')
	}
	if maxTokens > 0 && w.want("num_predict") {
		w.key("num_predict")
		w.dst = strconv.AppendInt(w.dst, int64(maxTokens), 10)
	}
	// num_ctx: the body's top-level "num_ctx" (a gateway extension), else
	// the configured window for the model.
	if v := r.Value("num_ctx"); v != nil && jsonscan.KindOf(v) != jsonscan.Null {
		n, err := jsonscan.ParseInt(v)
		if jsonscan.KindOf(v) != jsonscan.Number || err != nil || n < 1 {
			return dst, reqErr("num_ctx", "must be a positive integer")
		}
		if w.want("num_ctx") {
			w.key("num_ctx")
			w.dst = strconv.AppendInt(w.dst, n, 10)
		}
	} else if numCtx > 0 && w.want("num_ctx") {
		w.key("num_ctx")
		w.dst = strconv.AppendInt(w.dst, int64(numCtx), 10)
	}
	for _, k := range [...]string{"frequency_penalty", "presence_penalty"} {
		v := r.Value(k)
		switch jsonscan.KindOf(v) {
		case jsonscan.Invalid, jsonscan.Null:
		case jsonscan.Number:
			if !w.want(k) {
				continue
			}
			w.key(k)
			w.dst = append(w.dst, v...)
		default:
			return dst, reqErr(k, "expected a number")
		}
	}
	if mine != nil {
		_ = jsonscan.ObjectEach(mine, func(k, val []byte) error {
			if w.n > 0 {
				w.dst = append(w.dst, ',')
			}
			w.n++
			w.dst = append(w.dst, '"')
			w.dst = append(w.dst, k...) // raw key, escapes kept
			w.dst = append(w.dst, '"', ':')
			w.dst = compact(w.dst, val)
			return nil
		})
	}
	if w.n == 0 {
		return w.dst[:mark], nil
	}
	return append(w.dst, '}'), nil
}

// appendPassthrough copies Ollama-only top-level members the client may
// send: keep_alive (a duration string or seconds) and think (a boolean, or
// "low"/"medium"/"high" for models that take a level).
func appendPassthrough(dst []byte, r *providers.Request) ([]byte, error) {
	if v := r.Value("keep_alive"); v != nil {
		switch jsonscan.KindOf(v) {
		case jsonscan.Null:
		case jsonscan.String, jsonscan.Number:
			dst = append(dst, `,"keep_alive":`...)
			dst = append(dst, v...)
		default:
			return dst, reqErr("keep_alive", "expected a duration string or a number of seconds")
		}
	}
	if v := r.Value("think"); v != nil {
		switch jsonscan.KindOf(v) {
		case jsonscan.Null:
		case jsonscan.True, jsonscan.False, jsonscan.String:
			dst = append(dst, `,"think":`...)
			dst = append(dst, v...)
		default:
			return dst, reqErr("think", "expected a boolean or a level string")
		}
	}
	return dst, nil
}
