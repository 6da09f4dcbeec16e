package messages

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// ErrBadCompletion is returned when an OpenAI chat.completion cannot be
// expressed as an Anthropic message (it is malformed, or a tool call's
// arguments are not a JSON object).
var ErrBadCompletion = errors.New("chat completion cannot be translated to an anthropic message")

func inErr(param, msg string) error { return &providers.RequestError{Param: param, Msg: msg} }

// idx is a parameter path with an index: idx("messages", 2, ".role").
func idx(prefix string, i int, suffix string) string {
	return prefix + "[" + strconv.Itoa(i) + "]" + suffix
}

var emptyObject = []byte("{}")

// Target is what RequestToOpenAI needs to know of the model that will
// answer.
type Target struct {
	// MaxOutputTokens caps max_tokens: Anthropic requires the member and
	// Claude Code sizes it for Claude (32,000), above what many other
	// models accept. 0 leaves the client's value.
	MaxOutputTokens int
	// NoFiles says the upstream takes no file parts (Ollama): a base64
	// document becomes a text note saying it was left out, rather than a
	// 400 that would fail every later turn of a conversation holding it.
	NoFiles bool
}

// RequestToOpenAI appends to dst the OpenAI chat completion request
// equivalent to an Anthropic Messages request body
// (https://docs.anthropic.com/en/api/messages), so that the engine can
// decode it into the canonical Request and send it to any provider. String
// values are copied as the client escaped them. What Claude Code sends, and
// why each piece maps as it does, is in testdata/claudecode/README.md.
//
//   - system (a string or text blocks) becomes a leading system message;
//     Claude Code's "x-anthropic-billing-header:" block, which only
//     Anthropic reads, is dropped;
//   - a role "system" message inside messages (mid-conversation system
//     instructions) becomes a system message at the same position, its
//     text blocks as text parts;
//   - user turns: tool_result blocks become tool messages, in order, ahead
//     of the turn's other blocks (OpenAI needs them right after the
//     assistant's calls); is_error results are prefixed "Error: "; images
//     and documents inside tool results move to the user message that
//     follows (OpenAI tool messages hold text only); a tool_reference
//     block (a tool search result) becomes the text "Tool NAME is now
//     available."; text, image (base64 → data URL, url → URL) and document
//     blocks (base64 PDF → a file part, or with Target.NoFiles a note that
//     it was left out; plain-text source → text) become content parts;
//   - assistant turns: text blocks become the content, tool_use blocks
//     tool_calls with the input serialised as the arguments string;
//     thinking, redacted_thinking and server-tool blocks are dropped (their
//     signatures mean something to Anthropic only);
//   - tools become function tools (input_schema → parameters); a tool with
//     defer_loading: true is sent only once a tool_reference block in the
//     conversation names it, as Anthropic loads it only then; Anthropic
//     server tools (web search, bash, …) are a 400, as only an Anthropic
//     upstream can run them; tool_choice auto/any/tool/none becomes
//     auto/required/named/none, disable_parallel_tool_use becomes
//     parallel_tool_calls: false;
//   - max_tokens becomes max_completion_tokens (which OpenAI's reasoning
//     models require and every OpenAI model accepts), capped at
//     Target.MaxOutputTokens; temperature, top_p pass; stop_sequences
//     becomes stop; metadata.user_id becomes user; stream adds
//     stream_options with include_usage;
//   - thinking and output_config.effort become reasoning_effort:
//     the effort (low, medium, high; max and xhigh as high) when thinking is
//     enabled or adaptive, else one derived from budget_tokens (below 4,096
//     low, below 16,384 medium, else high); thinking disabled sends none.
//     The engine keeps it only for models that reason;
//   - output_config.format (and the beta's output_format) of type
//     json_schema becomes response_format json_schema;
//   - every other member (top_k, service_tier, context_management,
//     container, mcp_servers, …) and cache_control markers have no meaning
//     on the target and are dropped; IgnoredMembers lists them for a log.
//
// A malformed body is a *providers.RequestError naming the field; so is a
// body that CheckNames refuses.
func RequestToOpenAI(dst, body []byte, t Target) ([]byte, error) {
	if err := jsonscan.Validate(body); err != nil {
		return dst, inErr("", "request body is not valid JSON: "+err.Error())
	}
	body = wire.TrimSpace(body)
	if jsonscan.KindOf(body) != jsonscan.Object {
		return dst, inErr("", "request body must be a JSON object")
	}
	if err := CheckNames(body); err != nil {
		return dst, err
	}
	var model, messages, system, maxTokens, temperature, topP, stop, stream, tools, toolChoice, metadata, thinking, outputConfig, outputFormat []byte
	_ = jsonscan.ObjectEach(body, func(k, v []byte) error {
		switch string(k) {
		case "model":
			model = v
		case "messages":
			messages = v
		case "system":
			system = v
		case "max_tokens":
			maxTokens = v
		case "temperature":
			temperature = v
		case "top_p":
			topP = v
		case "stop_sequences":
			stop = v
		case "stream":
			stream = v
		case "tools":
			tools = v
		case "tool_choice":
			toolChoice = v
		case "metadata":
			metadata = v
		case "thinking":
			thinking = v
		case "output_config":
			outputConfig = v
		case "output_format":
			outputFormat = v
		}
		return nil
	})
	if jsonscan.KindOf(messages) != jsonscan.Array {
		return dst, inErr("messages", "is required and must be an array")
	}
	start := len(dst)
	dst = append(dst, '{')
	if jsonscan.KindOf(model) == jsonscan.String {
		dst = append(dst, `"model":`...)
		dst = append(dst, model...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"messages":[`...)
	n := 0
	sep := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	switch jsonscan.KindOf(system) {
	case jsonscan.String:
		if len(system) > 2 {
			sep()
			dst = append(dst, `{"role":"system","content":`...)
			dst = append(dst, system...)
			dst = append(dst, '}')
		}
	case jsonscan.Array:
		var err error
		mark := len(dst)
		sep()
		if dst, err = appendSystemIn(dst, "system", system); err != nil {
			return dst[:start], err
		}
		if len(dst) == mark+1 || len(dst) == mark { // nothing but the billing block
			dst = dst[:mark]
			n--
		}
	case jsonscan.Invalid, jsonscan.Null:
	default:
		return dst[:start], inErr("system", "must be a string or an array of text blocks")
	}
	var pending []byte // image and document parts moved out of tool results
	var refs [][]byte  // tool names that tool_reference blocks load
	err := jsonscan.ArrayEach(messages, func(i int, m []byte) error {
		if jsonscan.KindOf(m) != jsonscan.Object {
			return inErr(idx("messages", i, ""), "expected an object")
		}
		role, content := jsonscan.Get(m, "role"), jsonscan.Get(m, "content")
		switch string(role) {
		case `"user"`, `"assistant"`, `"system"`:
		default:
			return inErr(idx("messages", i, ".role"), "must be user, assistant or system")
		}
		if jsonscan.KindOf(content) == jsonscan.String {
			if string(role) == `"system"` && len(content) == 2 {
				return nil
			}
			sep()
			dst = append(dst, `{"role":`...)
			dst = append(dst, role...)
			dst = append(dst, `,"content":`...)
			dst = append(dst, content...)
			dst = append(dst, '}')
			return nil
		}
		if jsonscan.KindOf(content) != jsonscan.Array {
			return inErr(idx("messages", i, ".content"), "must be a string or an array of content blocks")
		}
		var err error
		switch string(role) {
		case `"assistant"`:
			sep()
			dst, err = appendAssistantIn(dst, i, content)
		case `"system"`:
			mark := len(dst)
			sep()
			dst, err = appendSystemIn(dst, idx("messages", i, ".content"), content)
			if err == nil && (len(dst) == mark+1 || len(dst) == mark) {
				dst = dst[:mark]
				n--
			}
		default:
			dst, err = appendUserIn(dst, &n, i, content, &pending, &refs, t.NoFiles)
		}
		return err
	})
	if err != nil {
		return dst[:start], err
	}
	dst = append(dst, ']')
	if jsonscan.KindOf(maxTokens) == jsonscan.Number {
		dst = append(dst, `,"max_completion_tokens":`...)
		if v, err := jsonscan.ParseInt(maxTokens); err == nil && t.MaxOutputTokens > 0 && v > int64(t.MaxOutputTokens) {
			dst = wire.AppendInt(dst, t.MaxOutputTokens)
		} else {
			dst = append(dst, maxTokens...)
		}
	}
	if jsonscan.KindOf(temperature) == jsonscan.Number {
		dst = append(dst, `,"temperature":`...)
		dst = append(dst, temperature...)
	}
	if jsonscan.KindOf(topP) == jsonscan.Number {
		dst = append(dst, `,"top_p":`...)
		dst = append(dst, topP...)
	}
	if jsonscan.KindOf(stop) == jsonscan.Array && len(wire.TrimSpace(stop[1:len(stop)-1])) > 0 {
		dst = append(dst, `,"stop":`...)
		dst = append(dst, stop...)
	}
	if jsonscan.KindOf(tools) == jsonscan.Array && len(wire.TrimSpace(tools[1:len(tools)-1])) > 0 {
		if dst, err = appendToolsIn(dst, tools, toolChoice, refs); err != nil {
			return dst[:start], err
		}
	}
	if u := jsonscan.Get(metadata, "user_id"); jsonscan.KindOf(u) == jsonscan.String {
		dst = append(dst, `,"user":`...)
		dst = append(dst, u...)
	}
	if e := reasoningEffort(thinking, jsonscan.Get(outputConfig, "effort")); e != "" {
		dst = append(dst, `,"reasoning_effort":"`...)
		dst = append(dst, e...)
		dst = append(dst, '"')
	}
	format := jsonscan.Get(outputConfig, "format")
	if format == nil {
		format = outputFormat
	}
	if string(jsonscan.Get(format, "type")) == `"json_schema"` {
		if s := jsonscan.Get(format, "schema"); jsonscan.KindOf(s) == jsonscan.Object {
			dst = append(dst, `,"response_format":{"type":"json_schema","json_schema":{"name":"output","schema":`...)
			dst = append(dst, s...)
			dst = append(dst, "}}"...)
		}
	}
	if string(stream) == "true" {
		dst = append(dst, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(dst, '}'), nil
}

// translated are the top-level members RequestToOpenAI reads.
func translated(key string) bool {
	switch key {
	case "model", "messages", "system", "max_tokens", "temperature", "top_p", "stop_sequences",
		"stream", "tools", "tool_choice", "metadata", "thinking", "output_config", "output_format":
		return true
	}
	return false
}

// IgnoredMembers appends to dst the names of body's top-level members that
// RequestToOpenAI drops for want of an equivalent (context_management,
// top_k, service_tier, …), so that the caller can log them. body is
// trusted to be a JSON object (RequestToOpenAI accepted it).
func IgnoredMembers(dst []string, body []byte) []string {
	_ = jsonscan.ObjectEach(wire.TrimSpace(body), func(k, _ []byte) error {
		if !translated(string(k)) {
			dst = append(dst, string(k))
		}
		return nil
	})
	return dst
}

// reasoningEffort maps Anthropic's thinking configuration and effort
// (output_config.effort) to an OpenAI reasoning_effort, "" for none.
func reasoningEffort(thinking, effort []byte) string {
	typ := string(jsonscan.Get(thinking, "type"))
	if typ == `"disabled"` || (typ == "" && effort == nil) {
		return ""
	}
	switch string(effort) {
	case `"low"`:
		return "low"
	case `"medium"`:
		return "medium"
	case `"high"`, `"max"`, `"xhigh"`:
		return "high"
	}
	if typ != `"enabled"` {
		return ""
	}
	b, err := jsonscan.ParseInt(jsonscan.Get(thinking, "budget_tokens"))
	switch {
	case err != nil:
		return ""
	case b < 4096:
		return "low"
	case b < 16384:
		return "medium"
	}
	return "high"
}

// billingPrefix starts the system block Claude Code adds for Anthropic's
// attribution ("x-anthropic-billing-header: cc_version=…;"): no other
// provider reads it.
const billingPrefix = `"x-anthropic-billing-header:`

// appendSystemIn writes a system message from text blocks; it writes
// nothing after the role when every block is empty or the billing block.
func appendSystemIn(dst []byte, param string, blocks []byte) ([]byte, error) {
	k := 0
	err := jsonscan.ArrayEach(blocks, func(i int, b []byte) error {
		t := jsonscan.Get(b, "text")
		if string(jsonscan.Get(b, "type")) != `"text"` || jsonscan.KindOf(t) != jsonscan.String {
			return inErr(idx(param, i, ""), "system blocks must be text blocks")
		}
		if len(t) == 2 || bytes.HasPrefix(t, []byte(billingPrefix)) {
			return nil
		}
		if k == 0 {
			dst = append(dst, `{"role":"system","content":[`...)
		} else {
			dst = append(dst, ',')
		}
		k++
		dst = append(dst, `{"type":"text","text":`...)
		dst = append(dst, t...)
		dst = append(dst, '}')
		return nil
	})
	if k > 0 {
		dst = append(dst, "]}"...)
	}
	return dst, err
}

// appendUserIn writes a user turn given as blocks: its tool results as tool
// messages, then one user message with the other blocks. Tool names that
// tool_reference blocks load are added to refs.
func appendUserIn(dst []byte, n *int, i int, content []byte, pending *[]byte, refs *[][]byte, noFiles bool) ([]byte, error) {
	sep := func() {
		if *n > 0 {
			dst = append(dst, ',')
		}
		*n++
	}
	err := jsonscan.ArrayEach(content, func(j int, b []byte) error {
		if string(jsonscan.Get(b, "type")) != `"tool_result"` {
			return nil
		}
		param := idx("messages", i, idx(".content", j, ""))
		id := jsonscan.Get(b, "tool_use_id")
		if jsonscan.KindOf(id) != jsonscan.String {
			return inErr(param+".tool_use_id", "is required")
		}
		isErr := string(jsonscan.Get(b, "is_error")) == "true"
		sep()
		dst = append(dst, `{"role":"tool","tool_call_id":`...)
		dst = append(dst, id...)
		dst = append(dst, `,"content":`...)
		rc := jsonscan.Get(b, "content")
		switch jsonscan.KindOf(rc) {
		case jsonscan.String:
			if isErr {
				dst = jsonscan.AppendQuote(dst, "Error: "+wire.Str(rc))
			} else {
				dst = append(dst, rc...)
			}
		case jsonscan.Array:
			dst = append(dst, '[')
			k := 0
			if isErr {
				dst = append(dst, `{"type":"text","text":"Error:"}`...)
				k++
			}
			err := jsonscan.ArrayEach(rc, func(x int, rb []byte) error {
				switch string(jsonscan.Get(rb, "type")) {
				case `"text"`:
					t := jsonscan.Get(rb, "text")
					if jsonscan.KindOf(t) != jsonscan.String {
						return inErr(param+idx(".content", x, ".text"), "is required")
					}
					if k > 0 {
						dst = append(dst, ',')
					}
					k++
					dst = append(dst, `{"type":"text","text":`...)
					dst = append(dst, t...)
					dst = append(dst, '}')
					return nil
				case `"tool_reference"`:
					// A tool search result: the named deferred tool is
					// sent from now on (appendToolsIn); the model is told.
					name := jsonscan.Get(rb, "tool_name")
					if jsonscan.KindOf(name) != jsonscan.String {
						return inErr(param+idx(".content", x, ".tool_name"), "is required")
					}
					*refs = append(*refs, name)
					if k > 0 {
						dst = append(dst, ',')
					}
					k++
					dst = append(dst, `{"type":"text","text":"Tool `...)
					dst = append(dst, name[1:len(name)-1]...)
					dst = append(dst, ` is now available."}`...)
					return nil
				case `"image"`, `"document"`:
					// OpenAI tool messages hold text only: the image or
					// document goes to the user message that follows.
					var err error
					if len(*pending) > 0 {
						*pending = append(*pending, ',')
					}
					if string(jsonscan.Get(rb, "type")) == `"image"` {
						*pending, err = appendImageIn(*pending, param+idx(".content", x, ""), rb)
					} else {
						*pending, err = appendDocumentIn(*pending, param+idx(".content", x, ""), rb, noFiles)
					}
					return err
				}
				return inErr(param+idx(".content", x, ".type"), "tool results may hold text, image, document and tool_reference blocks")
			})
			if err != nil {
				return err
			}
			if k == 0 {
				dst = append(dst, `{"type":"text","text":""}`...)
			}
			dst = append(dst, ']')
		default:
			if isErr {
				dst = append(dst, `"Error"`...)
			} else {
				dst = append(dst, `""`...)
			}
		}
		dst = append(dst, '}')
		return nil
	})
	if err != nil {
		return dst, err
	}
	k := 0
	open := func() {
		if k == 0 {
			sep()
			dst = append(dst, `{"role":"user","content":[`...)
		} else {
			dst = append(dst, ',')
		}
		k++
	}
	if len(*pending) > 0 {
		open()
		dst = append(dst, *pending...)
		*pending = (*pending)[:0]
	}
	err = jsonscan.ArrayEach(content, func(j int, b []byte) error {
		param := idx("messages", i, idx(".content", j, ""))
		switch string(jsonscan.Get(b, "type")) {
		case `"tool_result"`:
			return nil
		case `"text"`:
			t := jsonscan.Get(b, "text")
			if jsonscan.KindOf(t) != jsonscan.String {
				return inErr(param+".text", "is required")
			}
			open()
			dst = append(dst, `{"type":"text","text":`...)
			dst = append(dst, t...)
			dst = append(dst, '}')
		case `"image"`:
			open()
			var err error
			dst, err = appendImageIn(dst, param, b)
			return err
		case `"document"`:
			open()
			var err error
			dst, err = appendDocumentIn(dst, param, b, noFiles)
			return err
		default:
			return inErr(param+".type", "content block type "+string(jsonscan.Get(b, "type"))+" can only be sent to an anthropic upstream")
		}
		return nil
	})
	if k > 0 {
		dst = append(dst, "]}"...)
	}
	return dst, err
}

// appendDocumentIn writes a document block as a content part: a base64
// source (a PDF) as a file part (with noFiles, a note that it was left
// out), a plain-text source as text.
func appendDocumentIn(dst []byte, param string, b []byte, noFiles bool) ([]byte, error) {
	src := jsonscan.Get(b, "source")
	switch string(jsonscan.Get(src, "type")) {
	case `"base64"`:
		mt, data := jsonscan.Get(src, "media_type"), jsonscan.Get(src, "data")
		if jsonscan.KindOf(mt) != jsonscan.String || jsonscan.KindOf(data) != jsonscan.String {
			return dst, inErr(param+".source", "base64 sources need media_type and data")
		}
		if noFiles {
			dst = append(dst, `{"type":"text","text":"[A `...)
			dst = append(dst, mt[1:len(mt)-1]...)
			dst = append(dst, ` document was left out: this model cannot read files.]"}`...)
			return dst, nil
		}
		dst = append(dst, `{"type":"file","file":{"filename":"document.pdf","file_data":`...)
		dst = jsonscan.AppendQuote(dst, "data:"+wire.Str(mt)+";base64,"+wire.Str(data))
		return append(dst, "}}"...), nil
	case `"text"`:
		data := jsonscan.Get(src, "data")
		if jsonscan.KindOf(data) != jsonscan.String {
			return dst, inErr(param+".source.data", "is required")
		}
		dst = append(dst, `{"type":"text","text":`...)
		dst = append(dst, data...)
		return append(dst, '}'), nil
	}
	return dst, inErr(param+".source.type", "only base64 and text document sources can be sent to this provider")
}

func appendImageIn(dst []byte, param string, b []byte) ([]byte, error) {
	src := jsonscan.Get(b, "source")
	switch string(jsonscan.Get(src, "type")) {
	case `"base64"`:
		mt, data := jsonscan.Get(src, "media_type"), jsonscan.Get(src, "data")
		if jsonscan.KindOf(mt) != jsonscan.String || jsonscan.KindOf(data) != jsonscan.String {
			return dst, inErr(param+".source", "base64 sources need media_type and data")
		}
		dst = append(dst, `{"type":"image_url","image_url":{"url":`...)
		dst = jsonscan.AppendQuote(dst, "data:"+wire.Str(mt)+";base64,"+wire.Str(data))
		return append(dst, "}}"...), nil
	case `"url"`:
		u := jsonscan.Get(src, "url")
		if jsonscan.KindOf(u) != jsonscan.String {
			return dst, inErr(param+".source.url", "is required")
		}
		dst = append(dst, `{"type":"image_url","image_url":{"url":`...)
		dst = append(dst, u...)
		return append(dst, "}}"...), nil
	}
	return dst, inErr(param+".source.type", "image sources must be base64 or url")
}

func appendAssistantIn(dst []byte, i int, content []byte) ([]byte, error) {
	dst = append(dst, `{"role":"assistant","content":`...)
	var texts [][]byte
	_ = jsonscan.ArrayEach(content, func(_ int, b []byte) error {
		if string(jsonscan.Get(b, "type")) == `"text"` {
			if t := jsonscan.Get(b, "text"); jsonscan.KindOf(t) == jsonscan.String {
				texts = append(texts, t)
			}
		}
		return nil
	})
	switch len(texts) {
	case 0:
		dst = append(dst, "null"...)
	case 1:
		dst = append(dst, texts[0]...)
	default:
		dst = append(dst, '[')
		for k, t := range texts {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"type":"text","text":`...)
			dst = append(dst, t...)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	k := 0
	err := jsonscan.ArrayEach(content, func(j int, b []byte) error {
		if string(jsonscan.Get(b, "type")) != `"tool_use"` {
			return nil
		}
		param := idx("messages", i, idx(".content", j, ""))
		id, name, input := jsonscan.Get(b, "id"), jsonscan.Get(b, "name"), jsonscan.Get(b, "input")
		if jsonscan.KindOf(id) != jsonscan.String || jsonscan.KindOf(name) != jsonscan.String {
			return inErr(param, "tool_use blocks need an id and a name")
		}
		if jsonscan.KindOf(input) != jsonscan.Object {
			input = emptyObject
		}
		if k == 0 {
			dst = append(dst, `,"tool_calls":[`...)
		} else {
			dst = append(dst, ',')
		}
		k++
		dst = append(dst, `{"id":`...)
		dst = append(dst, id...)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = append(dst, name...)
		dst = append(dst, `,"arguments":`...)
		dst = jsonscan.AppendQuoteBytes(dst, input)
		dst = append(dst, "}}"...)
		return nil
	})
	if k > 0 {
		dst = append(dst, ']')
	}
	if len(texts) == 0 && k == 0 {
		// Only thinking or server-tool blocks: an empty answer.
		dst = append(dst[:len(dst)-len("null")], `""`...)
	}
	return append(dst, '}'), err
}

// appendToolsIn writes the tools and tool_choice. A deferred tool
// (defer_loading: true) is written only when refs names it.
func appendToolsIn(dst, tools, choice []byte, refs [][]byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `,"tools":[`...)
	k := 0
	err := jsonscan.ArrayEach(tools, func(i int, t []byte) error {
		if typ := jsonscan.Get(t, "type"); typ != nil && string(typ) != `"custom"` {
			return inErr(idx("tools", i, ".type"), "server tool "+string(typ)+" can only be used with an anthropic upstream")
		}
		name := jsonscan.Get(t, "name")
		if jsonscan.KindOf(name) != jsonscan.String {
			return inErr(idx("tools", i, ".name"), "is required")
		}
		if string(jsonscan.Get(t, "defer_loading")) == "true" && !named(refs, name) {
			return nil
		}
		if k > 0 {
			dst = append(dst, ',')
		}
		k++
		dst = append(dst, `{"type":"function","function":{"name":`...)
		dst = append(dst, name...)
		if d := jsonscan.Get(t, "description"); jsonscan.KindOf(d) == jsonscan.String {
			dst = append(dst, `,"description":`...)
			dst = append(dst, d...)
		}
		if s := jsonscan.Get(t, "input_schema"); jsonscan.KindOf(s) == jsonscan.Object {
			dst = append(dst, `,"parameters":`...)
			dst = append(dst, s...)
		}
		dst = append(dst, "}}"...)
		return nil
	})
	if err != nil {
		return dst, err
	}
	if k == 0 {
		// Only deferred tools: the model has none to call yet.
		return dst[:start], nil
	}
	dst = append(dst, ']')
	if jsonscan.KindOf(choice) != jsonscan.Object {
		return dst, nil
	}
	switch string(jsonscan.Get(choice, "type")) {
	case `"auto"`:
		dst = append(dst, `,"tool_choice":"auto"`...)
	case `"any"`:
		dst = append(dst, `,"tool_choice":"required"`...)
	case `"none"`:
		dst = append(dst, `,"tool_choice":"none"`...)
	case `"tool"`:
		name := jsonscan.Get(choice, "name")
		if jsonscan.KindOf(name) != jsonscan.String {
			return dst, inErr("tool_choice.name", "is required")
		}
		dst = append(dst, `,"tool_choice":{"type":"function","function":{"name":`...)
		dst = append(dst, name...)
		dst = append(dst, "}}"...)
	default:
		return dst, inErr("tool_choice.type", "must be auto, any, tool or none")
	}
	if string(jsonscan.Get(choice, "disable_parallel_tool_use")) == "true" {
		dst = append(dst, `,"parallel_tool_calls":false`...)
	}
	return dst, nil
}

// named reports whether names holds name (both JSON strings as sent).
func named(names [][]byte, name []byte) bool {
	for _, n := range names {
		if bytes.Equal(n, name) {
			return true
		}
	}
	return false
}

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
