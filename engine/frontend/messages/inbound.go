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
//     models require and every OpenAI model accepts; the engine caps it at
//     the answering model's limit); temperature, top_p pass; stop_sequences
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
// A malformed body is a *providers.RequestError naming the field (an
// optional member of the wrong JSON type included: checkKinds); so is a
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
	if err := checkKinds(tools, toolChoice, temperature, topP, stop, thinking, metadata, stream); err != nil {
		return dst, err
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
	// Anthropic refuses a message with empty content unless it is the
	// last one and the assistant's (a prefill of nothing): the first such
	// message, and the last message's index and role, decide it after
	// the loop.
	empty, last, lastAssistant := -1, -1, false
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
		last, lastAssistant = i, string(role) == `"assistant"`
		if string(role) != `"system"` && empty < 0 && emptyContent(content) {
			empty = i
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
	if empty >= 0 && (empty != last || !lastAssistant) {
		// Anthropic's own 400 for it, word for word.
		return dst[:start], inErr(idx("messages", empty, ""), "all messages must have non-empty content except for the optional final assistant message")
	}
	dst = append(dst, ']')
	if jsonscan.KindOf(maxTokens) == jsonscan.Number {
		dst = append(dst, `,"max_completion_tokens":`...)
		dst = append(dst, maxTokens...)
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

// checkKinds refuses optional members of the wrong JSON type, as Anthropic
// does (400): ignored, they would silently drop what the client asked for
// (its tools, its stop sequences). null counts as absent. tool_choice may
// also be a string (auto, any, none), a form some clients send.
func checkKinds(tools, toolChoice, temperature, topP, stop, thinking, metadata, stream []byte) error {
	switch {
	case !kindIs(tools, jsonscan.Array, jsonscan.Array):
		return inErr("tools", "must be an array of tools")
	case !kindIs(toolChoice, jsonscan.Object, jsonscan.String):
		return inErr("tool_choice", "must be an object")
	case !kindIs(temperature, jsonscan.Number, jsonscan.Number):
		return inErr("temperature", "must be a number")
	case !kindIs(topP, jsonscan.Number, jsonscan.Number):
		return inErr("top_p", "must be a number")
	case !kindIs(stop, jsonscan.Array, jsonscan.Array):
		return inErr("stop_sequences", "must be an array of strings")
	case !kindIs(thinking, jsonscan.Object, jsonscan.Object):
		return inErr("thinking", "must be an object")
	case !kindIs(metadata, jsonscan.Object, jsonscan.Object):
		return inErr("metadata", "must be an object")
	case !kindIs(stream, jsonscan.True, jsonscan.False):
		return inErr("stream", "must be a boolean")
	}
	if jsonscan.KindOf(stop) != jsonscan.Array {
		return nil
	}
	return jsonscan.ArrayEach(stop, func(i int, v []byte) error {
		if jsonscan.KindOf(v) != jsonscan.String {
			return inErr(idx("stop_sequences", i, ""), "must be a string")
		}
		return nil
	})
}

// kindIs reports whether v is absent, null, or of kind a or b.
// emptyContent reports whether a message's content is "" or [].
func emptyContent(content []byte) bool {
	switch jsonscan.KindOf(content) {
	case jsonscan.String:
		return len(content) == 2
	case jsonscan.Array:
		return len(wire.TrimSpace(content[1:len(content)-1])) == 0
	}
	return false
}

func kindIs(v []byte, a, b jsonscan.Kind) bool {
	k := jsonscan.KindOf(v)
	return v == nil || k == jsonscan.Null || k == a || k == b
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
