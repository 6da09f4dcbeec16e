package gemini

import (
	"path"
	"strconv"
	"strings"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// SkipSignature is the thoughtSignature Google documents for function calls
// whose signature is unknown (a conversation begun on another model or
// provider); Gemini 3 models refuse function calls without one.
const SkipSignature = "skip_thought_signature_validator"

// signatureSep separates a synthesised tool call id from the thought
// signature it carries back to Gemini (base64 never contains it).
const signatureSep = "__thought__"

func badRequest(param, msg string) error {
	return &providers.UpstreamError{Status: 400, Type: "invalid_request_error", Code: "unsupported_for_provider",
		Param: param, Message: msg, Err: &providers.RequestError{Param: param, Msg: msg}}
}

func idx(prefix string, i int, suffix string) string {
	return prefix + "[" + strconv.Itoa(i) + "]" + suffix
}

// turnWriter appends the contents array. Consecutive messages of one role
// merge into one turn, except that function responses keep a user turn of
// their own, which is what Gemini pairs with the model's function calls.
type turnWriter struct {
	dst   []byte
	role  string
	tool  bool
	parts int
}

func (w *turnWriter) part(role string, tool bool) {
	if w.role != role || w.tool != tool {
		w.close()
		if w.dst[len(w.dst)-1] != '[' {
			w.dst = append(w.dst, ',')
		}
		w.dst = append(w.dst, `{"role":"`...)
		w.dst = append(w.dst, role...)
		w.dst = append(w.dst, `","parts":[`...)
		w.role, w.tool, w.parts = role, tool, 0
	}
	if w.parts > 0 {
		w.dst = append(w.dst, ',')
	}
	w.parts++
}

func (w *turnWriter) close() {
	if w.role != "" {
		w.dst = append(w.dst, "]}"...)
		w.role = ""
	}
}

// needsSignature reports whether model refuses function calls without a
// thought signature (Gemini 3 and later; 1.x and 2.x ignore the field).
func needsSignature(model string) bool {
	return strings.HasPrefix(model, "gemini-") && !strings.HasPrefix(model, "gemini-1.") && !strings.HasPrefix(model, "gemini-2.")
}

// appendRequest appends the generateContent request body for call
// (https://ai.google.dev/api/generate-content#request-body). The mapping is
// documented in the package comment.
func appendRequest(dst []byte, call *providers.Call) ([]byte, error) {
	r := call.Req
	if r.N > 1 {
		return dst, badRequest("n", "gemini returns one choice per request here; n must be 1")
	}
	jsonMode := r.WantsJSON()
	var schema []byte
	if jsonMode {
		if js := jsonscan.Get(r.ResponseFormat, "json_schema"); jsonscan.KindOf(js) == jsonscan.Object {
			if s := jsonscan.Get(js, "schema"); jsonscan.KindOf(s) == jsonscan.Object {
				schema = s
			}
		}
	}
	// Gemini refuses responseMimeType application/json together with
	// function calling: with tools, JSON is asked for in the instruction.
	jsonInstruction := jsonMode && len(r.Tools) > 0

	dst = append(dst, '{')
	nsys := 0
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.Role != "system" && m.Role != "developer" {
			continue
		}
		var err error
		if dst, nsys, err = appendSystem(dst, i, m, nsys); err != nil {
			return dst, err
		}
	}
	if jsonInstruction {
		dst = sysSep(dst, nsys)
		nsys++
		instr := "Respond only with a single valid JSON object, with no other text."
		if schema != nil {
			instr = "Respond only with a single valid JSON value, with no other text, that conforms to this JSON Schema: " + string(schema)
		}
		dst = append(dst, `{"text":`...)
		dst = jsonscan.AppendQuote(dst, instr)
		dst = append(dst, '}')
	}
	if nsys > 0 {
		dst = append(dst, "]},"...)
	}

	w := turnWriter{dst: append(dst, `"contents":[`...)}
	for i := range r.Messages {
		m := &r.Messages[i]
		var err error
		switch m.Role {
		case "system", "developer":
			continue
		case "user":
			err = w.user(i, m)
		case "assistant":
			err = w.model(i, m, needsSignature(call.Model))
		case "tool":
			err = w.functionResponse(r, i, m)
		default:
			err = badRequest(idx("messages", i, ".role"), "role "+strconv.Quote(m.Role)+" is not supported by gemini; use tool messages")
		}
		if err != nil {
			return dst, err
		}
	}
	w.close()
	dst = append(w.dst, ']')

	if len(r.Tools) > 0 {
		var err error
		if dst, err = appendTools(dst, r); err != nil {
			return dst, err
		}
	}

	// generationConfig, only with what the client set.
	n := 0
	field := func(k string) {
		if n == 0 {
			dst = append(dst, `,"generationConfig":{`...)
		} else {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
	}
	if r.Temperature.Set {
		field("temperature")
		dst = strconv.AppendFloat(dst, r.Temperature.V, 'g', -1, 64)
	}
	if r.TopP.Set {
		field("topP")
		dst = strconv.AppendFloat(dst, r.TopP.V, 'g', -1, 64)
	}
	if n := call.MaxTokens(); n > 0 {
		field("maxOutputTokens")
		dst = wire.AppendInt(dst, n)
	}
	if len(r.Stop) > 0 {
		field("stopSequences")
		dst = append(dst, '[')
		for i, s := range r.Stop {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonscan.AppendQuote(dst, s)
		}
		dst = append(dst, ']')
	}
	if r.Seed.Set {
		field("seed")
		dst = strconv.AppendInt(dst, r.Seed.V, 10)
	}
	if b := thinkingBudget(r.ReasoningEffort); b > 0 && !call.NoReasoning {
		field("thinkingConfig")
		dst = append(dst, `{"thinkingBudget":`...)
		dst = wire.AppendInt(dst, b)
		dst = append(dst, '}')
	}
	if jsonMode && !jsonInstruction {
		field("responseMimeType")
		dst = append(dst, `"application/json"`...)
		if schema != nil {
			field("responseSchema")
			dst = appendSchema(dst, schema)
		}
	}
	if n > 0 {
		dst = append(dst, '}')
	}
	return append(dst, '}'), nil
}

func sysSep(dst []byte, nsys int) []byte {
	if nsys == 0 {
		return append(dst, `"systemInstruction":{"parts":[`...)
	}
	return append(dst, ',')
}

func appendSystem(dst []byte, i int, m *providers.Message, nsys int) ([]byte, int, error) {
	if len(m.Parts) == 0 {
		if m.Content == "" {
			return dst, nsys, nil
		}
		dst = sysSep(dst, nsys)
		dst = append(dst, `{"text":`...)
		dst = jsonscan.AppendQuote(dst, m.Content)
		return append(dst, '}'), nsys + 1, nil
	}
	for j := range m.Parts {
		p := &m.Parts[j]
		if p.Type != "text" {
			return dst, nsys, badRequest(idx("messages", i, idx(".content", j, ".type")), "system messages may only hold text parts")
		}
		if p.Text == "" {
			continue
		}
		dst = sysSep(dst, nsys)
		nsys++
		dst = append(dst, `{"text":`...)
		dst = jsonscan.AppendQuote(dst, p.Text)
		dst = append(dst, '}')
	}
	return dst, nsys, nil
}

func (w *turnWriter) text(role, s string) {
	if s == "" {
		return
	}
	w.part(role, false)
	w.dst = append(w.dst, `{"text":`...)
	w.dst = jsonscan.AppendQuote(w.dst, s)
	w.dst = append(w.dst, '}')
}

func (w *turnWriter) user(i int, m *providers.Message) error {
	if len(m.Parts) == 0 {
		w.text("user", m.Content)
		return nil
	}
	for j := range m.Parts {
		p := &m.Parts[j]
		param := idx("messages", i, idx(".content", j, ""))
		switch p.Type {
		case "text":
			w.text("user", p.Text)
		case "image_url":
			if err := w.media(param+".image_url.url", p.ImageURL); err != nil {
				return err
			}
		case "file":
			fd := jsonscan.Get(jsonscan.Get(p.Raw, "file"), "file_data")
			if jsonscan.KindOf(fd) != jsonscan.String {
				return badRequest(param+".file.file_data", "gemini needs the file inline as a base64 data URL; file ids are not supported")
			}
			if err := w.media(param+".file.file_data", wire.Str(fd)); err != nil {
				return err
			}
		default:
			return badRequest(param+".type", "content part type "+strconv.Quote(p.Type)+" is not supported by gemini")
		}
	}
	return nil
}

// media appends a data URL as inlineData and an http(s) URL as fileData,
// with the MIME type guessed from the URL's extension.
func (w *turnWriter) media(param, u string) error {
	switch {
	case strings.HasPrefix(u, "data:"):
		mt, data, ok := splitDataURL(u)
		if !ok {
			return badRequest(param, "a data URL must be base64 encoded with a media type")
		}
		w.part("user", false)
		w.dst = append(w.dst, `{"inlineData":{"mimeType":`...)
		w.dst = jsonscan.AppendQuote(w.dst, mt)
		w.dst = append(w.dst, `,"data":`...)
		w.dst = jsonscan.AppendQuote(w.dst, data)
		w.dst = append(w.dst, "}}"...)
	case strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://"):
		w.part("user", false)
		w.dst = append(w.dst, `{"fileData":{"mimeType":`...)
		w.dst = jsonscan.AppendQuote(w.dst, mimeFromURL(u))
		w.dst = append(w.dst, `,"fileUri":`...)
		w.dst = jsonscan.AppendQuote(w.dst, u)
		w.dst = append(w.dst, "}}"...)
	default:
		return badRequest(param, "must be a data: URL or an http(s) URL")
	}
	return nil
}

func splitDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mediaType, found = strings.CutSuffix(meta, ";base64")
	if !found || mediaType == "" {
		return "", "", false
	}
	return mediaType, data, true
}

func mimeFromURL(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	switch strings.ToLower(path.Ext(u)) {
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".heic":
		return "image/heic"
	case ".heif":
		return "image/heif"
	case ".pdf":
		return "application/pdf"
	}
	return "image/jpeg"
}

func (w *turnWriter) model(i int, m *providers.Message, skipSig bool) error {
	if len(m.Parts) == 0 {
		w.text("model", m.Content)
	} else {
		for j := range m.Parts {
			p := &m.Parts[j]
			switch p.Type {
			case "text":
				w.text("model", p.Text)
			case "refusal":
				if t := jsonscan.Get(p.Raw, "refusal"); jsonscan.KindOf(t) == jsonscan.String {
					w.text("model", wire.Str(t))
				}
			default:
				return badRequest(idx("messages", i, idx(".content", j, ".type")), "assistant content part type "+strconv.Quote(p.Type)+" is not supported by gemini")
			}
		}
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		args := wire.TrimSpace([]byte(tc.Arguments))
		if len(args) == 0 {
			args = emptyObject
		} else if jsonscan.Validate(args) != nil || jsonscan.KindOf(args) != jsonscan.Object {
			return badRequest(idx("messages", i, idx(".tool_calls", j, ".function.arguments")),
				"is not a JSON object: message "+strconv.Itoa(i)+" has tool call "+strconv.Quote(tc.ID)+" with unparsable arguments")
		}
		w.part("model", false)
		w.dst = append(w.dst, `{"functionCall":{"name":`...)
		w.dst = jsonscan.AppendQuote(w.dst, tc.Name)
		w.dst = append(w.dst, `,"args":`...)
		w.dst = append(w.dst, args...)
		w.dst = append(w.dst, '}')
		if _, sig, ok := strings.Cut(tc.ID, signatureSep); ok && sig != "" {
			w.dst = append(w.dst, `,"thoughtSignature":`...)
			w.dst = jsonscan.AppendQuote(w.dst, sig)
		} else if skipSig && j == 0 {
			// Only the first call of a turn carries a signature.
			w.dst = append(w.dst, `,"thoughtSignature":"`+SkipSignature+`"`...)
		}
		w.dst = append(w.dst, '}')
	}
	return nil
}

var emptyObject = []byte("{}")

// functionResponse appends a tool message as a functionResponse part, the
// function's name recovered from the assistant call with the same id.
func (w *turnWriter) functionResponse(r *providers.Request, i int, m *providers.Message) error {
	name := ""
	for j := i - 1; j >= 0 && name == ""; j-- {
		if r.Messages[j].Role != "assistant" {
			continue
		}
		for _, tc := range r.Messages[j].ToolCalls {
			if tc.ID == m.ToolCallID {
				name = tc.Name
				break
			}
		}
	}
	if name == "" {
		return badRequest(idx("messages", i, ".tool_call_id"), "no earlier assistant tool call has id "+strconv.Quote(m.ToolCallID)+"; gemini needs the function's name")
	}
	text := m.Content
	if len(m.Parts) > 0 {
		for j := range m.Parts {
			if m.Parts[j].Type != "text" {
				return badRequest(idx("messages", i, idx(".content", j, ".type")), "tool results may only hold text parts for gemini")
			}
		}
		text = m.Text()
	}
	w.part("user", true)
	w.dst = append(w.dst, `{"functionResponse":{"name":`...)
	w.dst = jsonscan.AppendQuote(w.dst, name)
	w.dst = append(w.dst, `,"response":`...)
	// A JSON object result is the response itself; anything else is the
	// "output" member, Gemini's documented key for a function's output.
	if t := wire.TrimSpace([]byte(text)); jsonscan.KindOf(t) == jsonscan.Object && jsonscan.Validate(t) == nil {
		w.dst = append(w.dst, t...)
	} else {
		w.dst = append(w.dst, `{"output":`...)
		w.dst = jsonscan.AppendQuote(w.dst, text)
		w.dst = append(w.dst, '}')
	}
	w.dst = append(w.dst, "}}"...)
	return nil
}

func appendTools(dst []byte, r *providers.Request) ([]byte, error) {
	// An allowed_tools tool_choice offers its tools alone
	// (providers/allowedtools.go).
	required, allowed, restrict := providers.AllowedTools(r.ToolChoice)
	dst = append(dst, `,"tools":[{"functionDeclarations":[`...)
	var scratch []byte
	n := 0
	for i := range r.Tools {
		t := &r.Tools[i]
		if t.Type != "function" {
			return dst, badRequest(idx("tools", i, ".type"), "tool type "+strconv.Quote(t.Type)+" is not supported by gemini; only function tools are")
		}
		if restrict && !providers.ToolAllowed(allowed, t.Name) {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"name":`...)
		dst = jsonscan.AppendQuote(dst, t.Name)
		if t.Description != "" {
			dst = append(dst, `,"description":`...)
			dst = jsonscan.AppendQuote(dst, t.Description)
		}
		if t.Parameters != nil {
			scratch = appendSchema(scratch[:0], t.Parameters)
			if hasProperties(scratch) {
				dst = append(dst, `,"parameters":`...)
				dst = append(dst, scratch...)
			}
		}
		dst = append(dst, '}')
	}
	dst = append(dst, "]}]"...)

	tc := r.ToolChoice
	if tc == nil {
		return dst, nil
	}
	mode, name := "", ""
	switch jsonscan.KindOf(tc) {
	case jsonscan.String:
		switch string(tc) {
		case `"auto"`:
			mode = "AUTO"
		case `"none"`:
			mode = "NONE"
		case `"required"`:
			mode = "ANY"
		}
	case jsonscan.Object:
		switch {
		case restrict && required:
			mode = "ANY"
		case restrict:
			mode = "AUTO"
		default:
			if fn := jsonscan.Get(jsonscan.Get(tc, "function"), "name"); string(jsonscan.Get(tc, "type")) == `"function"` && jsonscan.KindOf(fn) == jsonscan.String {
				mode, name = "ANY", wire.Str(fn)
			}
		}
	}
	if mode == "" {
		return dst, badRequest("tool_choice", "must be auto, none, required, a named function or allowed_tools")
	}
	dst = append(dst, `,"toolConfig":{"functionCallingConfig":{"mode":"`...)
	dst = append(dst, mode...)
	dst = append(dst, '"')
	if name != "" {
		dst = append(dst, `,"allowedFunctionNames":[`...)
		dst = jsonscan.AppendQuote(dst, name)
		dst = append(dst, ']')
	}
	return append(dst, "}}"...), nil
}

// thinkingBudget maps an OpenAI reasoning_effort to a Gemini thinking budget
// in tokens (https://ai.google.dev/gemini-api/docs/thinking): 0 leaves the
// model's default (dynamic thinking). "minimal" and "none" are left to the
// default too, as Gemini 2.5 Pro cannot turn thinking off.
func thinkingBudget(effort string) int {
	switch effort {
	case "low":
		return 1024
	case "medium":
		return 8192
	case "high":
		return 24576 // the largest budget 2.5 Flash accepts
	}
	return 0
}
