package anthropic

import (
	"strconv"
	"strings"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// reqInfo is what the response translation must know about how the request
// was translated.
type reqInfo struct {
	// jsonTool is set when response_format was mapped onto the forced
	// JSONToolName tool: its input is the answer's content.
	jsonTool bool
}

// reqWriter appends the Messages API body. Turns are opened lazily so that
// consecutive messages mapping to the same role merge into one turn and no
// turn is ever left empty.
type reqWriter struct {
	dst    []byte
	role   string // role of the open turn, "" when none
	blocks int    // blocks written in the open turn
}

func (w *reqWriter) block(role string) {
	if w.role != role {
		w.closeTurn()
		if w.dst[len(w.dst)-1] != '[' {
			w.dst = append(w.dst, ',')
		}
		w.dst = append(w.dst, `{"role":"`...)
		w.dst = append(w.dst, role...)
		w.dst = append(w.dst, `","content":[`...)
		w.role, w.blocks = role, 0
	}
	if w.blocks > 0 {
		w.dst = append(w.dst, ',')
	}
	w.blocks++
}

func (w *reqWriter) closeTurn() {
	if w.role != "" {
		w.dst = append(w.dst, "]}"...)
		w.role = ""
	}
}

func badRequest(param, msg string) error {
	return &providers.UpstreamError{Status: 400, Type: "invalid_request_error", Code: "unsupported_for_provider",
		Param: param, Message: msg, Err: &providers.RequestError{Param: param, Msg: msg}}
}

func idx(prefix string, i int, suffix string) string {
	return prefix + "[" + strconv.Itoa(i) + "]" + suffix
}

// appendRequest appends the Messages API request body for call
// (https://docs.anthropic.com/en/api/messages). The mapping is documented
// in the package comment.
func appendRequest(dst []byte, call *providers.Call) ([]byte, reqInfo, error) {
	r := call.Req
	var info reqInfo
	if r.N > 1 {
		return dst, info, badRequest("n", "anthropic returns one choice per request; n must be 1")
	}
	w := reqWriter{dst: dst}
	w.dst = append(w.dst, `{"model":`...)
	w.dst = jsonscan.AppendQuote(w.dst, call.Model)
	w.dst = append(w.dst, `,"max_tokens":`...)
	maxTokens := call.MaxTokens()
	if maxTokens <= 0 {
		maxTokens = call.MaxOutputTokens
	}
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	w.dst = wire.AppendInt(w.dst, maxTokens)

	// response_format: a forced tool when the client has no tools of its
	// own, else an instruction appended to the system prompt.
	var jsonSchema []byte
	wantsJSON := r.WantsJSON()
	if wantsJSON {
		jsonSchema = []byte(`{"type":"object"}`)
		if js := jsonscan.Get(r.ResponseFormat, "json_schema"); jsonscan.KindOf(js) == jsonscan.Object {
			if s := jsonscan.Get(js, "schema"); jsonscan.KindOf(s) == jsonscan.Object {
				jsonSchema = s
			}
		}
		info.jsonTool = len(r.Tools) == 0 && string(jsonscan.Get(jsonSchema, "type")) == `"object"`
	}

	// System and developer messages, in order, as system content blocks.
	nsys := 0
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.Role != "system" && m.Role != "developer" {
			continue
		}
		var err error
		if w.dst, nsys, err = appendSystem(w.dst, i, m, nsys); err != nil {
			return dst, info, err
		}
	}
	if wantsJSON && !info.jsonTool {
		w.dst = sysSep(w.dst, nsys)
		nsys++
		w.dst = append(w.dst, `{"type":"text","text":`...)
		instr := "Respond only with a single valid JSON object, with no other text."
		if jsonscan.Get(r.ResponseFormat, "json_schema") != nil {
			instr = "Respond only with a single valid JSON value, with no other text, that conforms to this JSON Schema: " + string(jsonSchema)
		}
		w.dst = jsonscan.AppendQuote(w.dst, instr)
		w.dst = append(w.dst, '}')
	}
	if nsys > 0 {
		w.dst = append(w.dst, ']')
	}

	w.dst = append(w.dst, `,"messages":[`...)
	for i := range r.Messages {
		m := &r.Messages[i]
		var err error
		switch m.Role {
		case "system", "developer":
			continue
		case "user":
			err = w.userContent(i, m, "user")
		case "assistant":
			err = w.assistant(i, m)
		case "tool":
			err = w.toolResult(i, m)
		default:
			err = badRequest(idx("messages", i, ".role"), "role "+strconv.Quote(m.Role)+" is not supported by anthropic; use tool messages")
		}
		if err != nil {
			return dst, info, err
		}
	}
	w.closeTurn()
	w.dst = append(w.dst, ']')

	if info.jsonTool {
		w.dst = append(w.dst, `,"tools":[{"name":"`+JSONToolName+`","description":`...)
		desc := "Reply by calling this tool with the answer as its input."
		if js := jsonscan.Get(r.ResponseFormat, "json_schema"); js != nil {
			if d := jsonscan.Get(js, "description"); jsonscan.KindOf(d) == jsonscan.String {
				desc = wire.Str(d)
			}
		}
		w.dst = jsonscan.AppendQuote(w.dst, desc)
		w.dst = append(w.dst, `,"input_schema":`...)
		w.dst = append(w.dst, jsonSchema...)
		w.dst = append(w.dst, `}],"tool_choice":{"type":"tool","name":"`+JSONToolName+`"}`...)
	} else if len(r.Tools) > 0 {
		var err error
		if w.dst, err = appendTools(w.dst, r); err != nil {
			return dst, info, err
		}
	}

	if r.Temperature.Set {
		// OpenAI accepts 0–2, Anthropic 0–1: above 1 is clamped.
		w.dst = append(w.dst, `,"temperature":`...)
		w.dst = strconv.AppendFloat(w.dst, min(r.Temperature.V, 1), 'g', -1, 64)
	}
	if r.TopP.Set {
		w.dst = append(w.dst, `,"top_p":`...)
		w.dst = strconv.AppendFloat(w.dst, r.TopP.V, 'g', -1, 64)
	}
	if len(r.Stop) > 0 {
		w.dst = append(w.dst, `,"stop_sequences":[`...)
		for i, s := range r.Stop {
			if i > 0 {
				w.dst = append(w.dst, ',')
			}
			w.dst = jsonscan.AppendQuote(w.dst, s)
		}
		w.dst = append(w.dst, ']')
	}
	if r.User != "" {
		w.dst = append(w.dst, `,"metadata":{"user_id":`...)
		w.dst = jsonscan.AppendQuote(w.dst, r.User)
		w.dst = append(w.dst, '}')
	}
	if r.Stream {
		w.dst = append(w.dst, `,"stream":true`...)
	}
	w.dst = append(w.dst, '}')
	return w.dst, info, nil
}

func sysSep(dst []byte, nsys int) []byte {
	if nsys == 0 {
		return append(dst, `,"system":[`...)
	}
	return append(dst, ',')
}

func appendSystem(dst []byte, i int, m *providers.Message, nsys int) ([]byte, int, error) {
	if len(m.Parts) == 0 {
		if m.Content == "" {
			return dst, nsys, nil
		}
		dst = sysSep(dst, nsys)
		dst = append(dst, `{"type":"text","text":`...)
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
		dst = appendTextBlock(dst, p.Text, p.Raw)
	}
	return dst, nsys, nil
}

// appendTextBlock appends a text block, keeping a cache_control marker that
// the client (or the prompt-cache policy) put on the OpenAI part.
func appendTextBlock(dst []byte, text string, raw []byte) []byte {
	dst = append(dst, `{"type":"text","text":`...)
	dst = jsonscan.AppendQuote(dst, text)
	if raw != nil {
		if cc := jsonscan.Get(raw, "cache_control"); jsonscan.KindOf(cc) == jsonscan.Object {
			dst = append(dst, `,"cache_control":`...)
			dst = append(dst, cc...)
		}
	}
	return append(dst, '}')
}

// userContent writes a user (or tool-result inner) message's content.
func (w *reqWriter) userContent(i int, m *providers.Message, role string) error {
	if len(m.Parts) == 0 {
		if m.Content != "" {
			w.block(role)
			w.dst = appendTextBlock(w.dst, m.Content, nil)
		}
		return nil
	}
	for j := range m.Parts {
		p := &m.Parts[j]
		param := idx("messages", i, idx(".content", j, ""))
		switch p.Type {
		case "text":
			if p.Text == "" {
				continue
			}
			w.block(role)
			w.dst = appendTextBlock(w.dst, p.Text, p.Raw)
		case "image_url":
			var err error
			w.block(role)
			if w.dst, err = appendImage(w.dst, param, p.ImageURL, p.Raw); err != nil {
				return err
			}
		case "file":
			var err error
			w.block(role)
			if w.dst, err = appendDocument(w.dst, param, p.Raw); err != nil {
				return err
			}
		default:
			return badRequest(param+".type", "content part type "+strconv.Quote(p.Type)+" is not supported by anthropic")
		}
	}
	return nil
}

// splitDataURL splits "data:<media type>;base64,<data>".
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

func appendImage(dst []byte, param, u string, raw []byte) ([]byte, error) {
	switch {
	case strings.HasPrefix(u, "data:"):
		mt, data, ok := splitDataURL(u)
		if !ok {
			return dst, badRequest(param+".image_url.url", "a data URL must be base64 encoded with a media type")
		}
		dst = append(dst, `{"type":"image","source":{"type":"base64","media_type":`...)
		dst = jsonscan.AppendQuote(dst, mt)
		dst = append(dst, `,"data":`...)
		dst = jsonscan.AppendQuote(dst, data)
		dst = append(dst, `}`...)
	case strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://"):
		dst = append(dst, `{"type":"image","source":{"type":"url","url":`...)
		dst = jsonscan.AppendQuote(dst, u)
		dst = append(dst, `}`...)
	default:
		return dst, badRequest(param+".image_url.url", "must be a data: URL or an http(s) URL")
	}
	if cc := jsonscan.Get(raw, "cache_control"); jsonscan.KindOf(cc) == jsonscan.Object {
		dst = append(dst, `,"cache_control":`...)
		dst = append(dst, cc...)
	}
	return append(dst, '}'), nil
}

// appendDocument maps an OpenAI file part carrying inline data
// ({"type":"file","file":{"file_data":"data:application/pdf;base64,…"}}) to a
// document block. File ids refer to OpenAI's file store and cannot be sent.
func appendDocument(dst []byte, param string, raw []byte) ([]byte, error) {
	f := jsonscan.Get(raw, "file")
	fd := jsonscan.Get(f, "file_data")
	if jsonscan.KindOf(fd) != jsonscan.String {
		return dst, badRequest(param+".file.file_data", "anthropic needs the file inline as a base64 data URL; file ids are not supported")
	}
	mt, data, ok := splitDataURL(wire.Str(fd))
	if !ok {
		return dst, badRequest(param+".file.file_data", "must be a base64 data URL")
	}
	dst = append(dst, `{"type":"document","source":{"type":"base64","media_type":`...)
	dst = jsonscan.AppendQuote(dst, mt)
	dst = append(dst, `,"data":`...)
	dst = jsonscan.AppendQuote(dst, data)
	dst = append(dst, `}`...)
	if cc := jsonscan.Get(raw, "cache_control"); jsonscan.KindOf(cc) == jsonscan.Object {
		dst = append(dst, `,"cache_control":`...)
		dst = append(dst, cc...)
	}
	return append(dst, '}'), nil
}

func (w *reqWriter) assistant(i int, m *providers.Message) error {
	if len(m.Parts) == 0 {
		if m.Content != "" {
			w.block("assistant")
			w.dst = appendTextBlock(w.dst, m.Content, nil)
		}
	} else {
		for j := range m.Parts {
			p := &m.Parts[j]
			switch p.Type {
			case "text":
				if p.Text != "" {
					w.block("assistant")
					w.dst = appendTextBlock(w.dst, p.Text, p.Raw)
				}
			case "refusal":
				// A refusal part is the assistant's earlier answer.
				if t := jsonscan.Get(p.Raw, "refusal"); jsonscan.KindOf(t) == jsonscan.String && len(t) > 2 {
					w.block("assistant")
					w.dst = appendTextBlock(w.dst, wire.Str(t), nil)
				}
			default:
				return badRequest(idx("messages", i, idx(".content", j, ".type")), "assistant content part type "+strconv.Quote(p.Type)+" is not supported by anthropic")
			}
		}
	}
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		param := idx("messages", i, idx(".tool_calls", j, ".function.arguments"))
		args := wire.TrimSpace([]byte(tc.Arguments))
		if len(args) == 0 {
			args = emptyObject
		} else if jsonscan.Validate(args) != nil || jsonscan.KindOf(args) != jsonscan.Object {
			return badRequest(param, "is not a JSON object: message "+strconv.Itoa(i)+" has tool call "+strconv.Quote(tc.ID)+" with unparsable arguments")
		}
		w.block("assistant")
		w.dst = append(w.dst, `{"type":"tool_use","id":`...)
		w.dst = appendToolID(w.dst, tc.ID)
		w.dst = append(w.dst, `,"name":`...)
		w.dst = jsonscan.AppendQuote(w.dst, tc.Name)
		w.dst = append(w.dst, `,"input":`...)
		w.dst = append(w.dst, args...)
		w.dst = append(w.dst, '}')
	}
	return nil
}

var emptyObject = []byte("{}")

// appendToolID quotes a tool call id, replacing the bytes Anthropic refuses
// (ids must match ^[a-zA-Z0-9_-]+$) so that a conversation begun on another
// provider can continue here; tool_use and tool_result ids map alike.
func appendToolID(dst []byte, id string) []byte {
	dst = append(dst, '"')
	if id == "" {
		dst = append(dst, "toolu_empty"...)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			dst = append(dst, c)
		} else {
			dst = append(dst, '_')
		}
	}
	return append(dst, '"')
}

func (w *reqWriter) toolResult(i int, m *providers.Message) error {
	w.block("user")
	w.dst = append(w.dst, `{"type":"tool_result","tool_use_id":`...)
	w.dst = appendToolID(w.dst, m.ToolCallID)
	if len(m.Parts) == 0 {
		if m.Content != "" {
			w.dst = append(w.dst, `,"content":`...)
			w.dst = jsonscan.AppendQuote(w.dst, m.Content)
		}
		w.dst = append(w.dst, '}')
		return nil
	}
	// Content parts become the result's own content blocks.
	inner := reqWriter{dst: append(w.dst, `,"content":[`...)}
	inner.role, inner.blocks = "user", 0
	if err := inner.userContent(i, m, "user"); err != nil {
		return err
	}
	w.dst = append(inner.dst, "]}"...)
	return nil
}

func appendTools(dst []byte, r *providers.Request) ([]byte, error) {
	// An allowed_tools tool_choice offers its tools alone
	// (providers/allowedtools.go).
	required, allowed, restrict := providers.AllowedTools(r.ToolChoice)
	dst = append(dst, `,"tools":[`...)
	n := 0
	for i := range r.Tools {
		t := &r.Tools[i]
		if t.Type != "function" {
			return dst, badRequest(idx("tools", i, ".type"), "tool type "+strconv.Quote(t.Type)+" is not supported by anthropic; only function tools are")
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
		dst = append(dst, `,"input_schema":`...)
		if t.Parameters != nil {
			dst = append(dst, t.Parameters...)
		} else {
			dst = append(dst, `{"type":"object","properties":{}}`...)
		}
		if cc := jsonscan.Get(t.Raw, "cache_control"); jsonscan.KindOf(cc) == jsonscan.Object {
			dst = append(dst, `,"cache_control":`...)
			dst = append(dst, cc...)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')

	choice, name := "auto", ""
	if tc := r.ToolChoice; tc != nil {
		switch jsonscan.KindOf(tc) {
		case jsonscan.String:
			switch string(tc) {
			case `"auto"`:
			case `"none"`:
				choice = "none"
			case `"required"`:
				choice = "any"
			default:
				return dst, badRequest("tool_choice", "must be auto, none, required or a named function")
			}
		case jsonscan.Object:
			if restrict {
				if required {
					choice = "any"
				}
				break
			}
			fn := jsonscan.Get(jsonscan.Get(tc, "function"), "name")
			if string(jsonscan.Get(tc, "type")) != `"function"` || jsonscan.KindOf(fn) != jsonscan.String {
				return dst, badRequest("tool_choice", "only {\"type\":\"function\",\"function\":{\"name\":…}} and allowed_tools objects are supported by anthropic")
			}
			choice, name = "tool", wire.Str(fn)
		}
	}
	if r.ToolChoice == nil && r.ParallelTools != providers.False {
		return dst, nil // Anthropic's default is auto with parallel use.
	}
	dst = append(dst, `,"tool_choice":{"type":"`...)
	dst = append(dst, choice...)
	dst = append(dst, '"')
	if name != "" {
		dst = append(dst, `,"name":`...)
		dst = jsonscan.AppendQuote(dst, name)
	}
	if r.ParallelTools == providers.False && choice != "none" {
		dst = append(dst, `,"disable_parallel_tool_use":true`...)
	}
	return append(dst, '}'), nil
}
