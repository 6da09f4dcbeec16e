package providertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// Anthropic is a fake Messages API upstream. Its answers follow
// https://docs.anthropic.com/en/api/messages (the response object) and
// https://docs.anthropic.com/en/docs/build-with-claude/streaming (named SSE
// events: message_start, content_block_start, ping, content_block_delta,
// content_block_stop, message_delta, message_stop; error events), and its
// errors https://docs.anthropic.com/en/api/errors.
//
// It plays both halves of a tool-use turn: when ToolCall is set and the last
// user turn holds no tool_result block, it calls the tool; otherwise it
// answers with Reply.
type Anthropic struct {
	// Reply is the assistant's text; streams send it one word per delta.
	Reply string
	// Thinking, when set, is a thinking block (with a signature) before the
	// answer.
	Thinking string
	// ToolCall, when set, makes the first turn a tool_use of this tool with
	// ToolArgs as input (streamed in ArgChunks input_json_delta pieces),
	// after a text block holding ToolText when that is set.
	ToolCall  string
	ToolID    string // default "toolu_01A09q90qw90lq917835lq9"
	ToolArgs  string // a JSON object
	ToolText  string
	ArgChunks int
	// StopReason overrides the final stop_reason (e.g. "max_tokens").
	StopReason string
	// APIKey, when set, must arrive in x-api-key or the answer is a 401.
	APIKey string
	// Pace is the delay between stream events.
	Pace time.Duration
	// Delay is waited before the response headers.
	Delay time.Duration
	// Status, when not 0 or 200, makes every answer an error with this
	// status and ErrorBody (default: Anthropic's error envelope).
	Status    int
	ErrorBody string
	// ErrorAfter, when > 0, sends an overloaded_error event after that many
	// text deltas and ends the stream.
	ErrorAfter int
	// StallAfter, when > 0, stops after that many text deltas and holds the
	// connection open until the client goes away.
	StallAfter int
	// InputTokens, CacheRead and CacheCreation are reported in usage.
	InputTokens, CacheRead, CacheCreation int
	// MaxTokens, when > 0, is the model's output limit: a max_tokens above
	// it is refused as the real API refuses it (400 invalid_request_error
	// "max_tokens: N > M, which is the maximum allowed number of output
	// tokens for MODEL").
	MaxTokens int

	srv *Server
	n   atomic.Int64
	// BatchHold keeps message batches in progress until they are
	// cancelled (anthropicbatches.go).
	BatchHold bool

	// batches holds the message batches created (anthropicbatches.go);
	// BatchCreates counts them, BatchCancels the cancels.
	batches      sync.Map
	BatchCreates atomic.Int64
	BatchCancels atomic.Int64
}

// StartAnthropic starts the fake on loopback.
func StartAnthropic(a *Anthropic) (*Server, error) {
	s, err := Start(a.handle)
	a.srv = s
	return s, err
}

// AnthropicErrorBody is the error envelope Anthropic sends for status.
func AnthropicErrorBody(status int) string {
	typ, msg := "api_error", "Internal server error"
	switch status {
	case 400:
		typ, msg = "invalid_request_error", "messages: at least one message is required"
	case 401:
		typ, msg = "authentication_error", "invalid x-api-key"
	case 403:
		typ, msg = "permission_error", "Your API key does not have permission to use the specified resource."
	case 404:
		typ, msg = "not_found_error", "model: claude-nonexistent"
	case 413:
		typ, msg = "request_too_large", "Request exceeds the maximum allowed number of bytes."
	case 429:
		typ, msg = "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
	case 529:
		typ, msg = "overloaded_error", "Overloaded"
	}
	return `{"type":"error","error":{"type":"` + typ + `","message":"` + msg + `"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}`
}

func (a *Anthropic) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	fail := func(status int, body string) {
		ctx.SetStatusCode(status)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(body)
	}
	if strings.HasPrefix(path, "/v1/messages/batches") {
		a.messageBatches(ctx, path)
		return
	}
	if path != "/v1/messages" && path != "/v1/messages/count_tokens" {
		fail(404, `{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}`)
		return
	}
	if len(ctx.Request.Header.Peek("anthropic-version")) == 0 {
		fail(400, `{"type":"error","error":{"type":"invalid_request_error","message":"anthropic-version: header is required"}}`)
		return
	}
	if a.APIKey != "" && string(ctx.Request.Header.Peek("x-api-key")) != a.APIKey {
		fail(401, AnthropicErrorBody(401))
		return
	}
	if a.Delay > 0 {
		time.Sleep(a.Delay)
	}
	if a.Status != 0 && a.Status != 200 {
		body := a.ErrorBody
		if body == "" {
			body = AnthropicErrorBody(a.Status)
		}
		if a.Status == 429 {
			ctx.Response.Header.Set("retry-after", "7")
		}
		fail(a.Status, body)
		return
	}
	body := ctx.PostBody()
	if jsonscan.Validate(body) != nil || jsonscan.KindOf(jsonscan.Get(body, "messages")) != jsonscan.Array {
		fail(400, AnthropicErrorBody(400))
		return
	}
	if path == "/v1/messages/count_tokens" {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"input_tokens":` + strconv.Itoa(max(a.InputTokens, len(body)/4)) + `}`)
		return
	}
	if jsonscan.KindOf(jsonscan.Get(body, "max_tokens")) != jsonscan.Number {
		fail(400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`)
		return
	}
	model := "claude-sonnet-4-20250514"
	if v := jsonscan.Get(body, "model"); jsonscan.KindOf(v) == jsonscan.String {
		model = string(v[1 : len(v)-1])
	}
	if n, err := jsonscan.ParseInt(jsonscan.Get(body, "max_tokens")); err == nil && a.MaxTokens > 0 && n > int64(a.MaxTokens) {
		fail(400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: `+strconv.FormatInt(n, 10)+` > `+
			strconv.Itoa(a.MaxTokens)+`, which is the maximum allowed number of output tokens for `+model+`"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fz"}`)
		return
	}
	stream := string(jsonscan.Get(body, "stream")) == "true"
	id := "msg_01XFDUDYJgAACzvnptvVoYE" + strconv.FormatInt(a.n.Add(1), 10)
	toolTurn := a.ToolCall != "" && !lastTurnHasToolResult(jsonscan.Get(body, "messages"))
	toolID := a.ToolID
	if toolID == "" {
		toolID = "toolu_01A09q90qw90lq917835lq9"
	}
	stop := "end_turn"
	if toolTurn {
		stop = "tool_use"
	}
	if a.StopReason != "" {
		stop = a.StopReason
	}
	words := strings.SplitAfter(a.Reply, " ")
	output := len(words)
	if toolTurn {
		output = 20
	}
	usage := func(out int) string {
		return `{"input_tokens":` + strconv.Itoa(a.InputTokens) + `,"cache_creation_input_tokens":` + strconv.Itoa(a.CacheCreation) +
			`,"cache_read_input_tokens":` + strconv.Itoa(a.CacheRead) + `,"output_tokens":` + strconv.Itoa(out) + `,"service_tier":"standard"}`
	}
	const signature = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
	if !stream {
		var content []string
		if a.Thinking != "" {
			content = append(content, `{"type":"thinking","thinking":`+quote(a.Thinking)+`,"signature":"`+signature+`"}`)
		}
		if toolTurn {
			if a.ToolText != "" {
				content = append(content, `{"type":"text","text":`+quote(a.ToolText)+`}`)
			}
			content = append(content, `{"type":"tool_use","id":"`+toolID+`","name":`+quote(a.ToolCall)+`,"input":`+a.ToolArgs+`}`)
		} else {
			content = append(content, `{"type":"text","text":`+quote(a.Reply)+`}`)
		}
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"id":"` + id + `","type":"message","role":"assistant","model":"` + model + `","content":[` + strings.Join(content, ",") +
			`],"stop_reason":"` + stop + `","stop_sequence":null,"usage":` + usage(output) + `}`)
		return
	}
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	srv := a.srv
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		if srv != nil {
			srv.Active.Add(1)
			defer srv.Active.Add(-1)
		}
		ok := true
		send := func(event, data string) bool {
			if !ok {
				return false
			}
			if a.Pace > 0 {
				time.Sleep(a.Pace)
			}
			if _, err := w.WriteString("event: " + event + "\ndata: " + data + "\n\n"); err != nil {
				ok = false
			} else if w.Flush() != nil {
				ok = false
			}
			if !ok && srv != nil {
				srv.Closed.Add(1)
			}
			return ok
		}
		send("message_start", `{"type":"message_start","message":{"id":"`+id+`","type":"message","role":"assistant","model":"`+model+
			`","content":[],"stop_reason":null,"stop_sequence":null,"usage":`+usage(1)+`}}`)
		index := 0
		if a.Thinking != "" {
			send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`)
			send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":`+quote(a.Thinking)+`}}`)
			send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"`+signature+`"}}`)
			send("content_block_stop", `{"type":"content_block_stop","index":0}`)
			index++
		}
		text := a.Reply
		if toolTurn {
			text = a.ToolText
		}
		if text != "" {
			is := strconv.Itoa(index)
			send("content_block_start", `{"type":"content_block_start","index":`+is+`,"content_block":{"type":"text","text":""}}`)
			send("ping", `{"type": "ping"}`)
			for i, word := range strings.SplitAfter(text, " ") {
				if a.ErrorAfter > 0 && i >= a.ErrorAfter {
					send("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
					return
				}
				if a.StallAfter > 0 && i >= a.StallAfter {
					for range 600 {
						time.Sleep(50 * time.Millisecond)
						if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
							if srv != nil {
								srv.Closed.Add(1)
							}
							return
						}
					}
					return
				}
				send("content_block_delta", `{"type":"content_block_delta","index":`+is+`,"delta":{"type":"text_delta","text":`+quote(word)+`}}`)
			}
			send("content_block_stop", `{"type":"content_block_stop","index":`+is+`}`)
			index++
		}
		if toolTurn {
			is := strconv.Itoa(index)
			send("content_block_start", `{"type":"content_block_start","index":`+is+`,"content_block":{"type":"tool_use","id":"`+toolID+`","name":`+quote(a.ToolCall)+`,"input":{}}}`)
			send("content_block_delta", `{"type":"content_block_delta","index":`+is+`,"delta":{"type":"input_json_delta","partial_json":""}}`)
			for _, part := range splitN(a.ToolArgs, max(a.ArgChunks, 1)) {
				send("content_block_delta", `{"type":"content_block_delta","index":`+is+`,"delta":{"type":"input_json_delta","partial_json":`+quote(part)+`}}`)
			}
			send("content_block_stop", `{"type":"content_block_stop","index":`+is+`}`)
		}
		send("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`","stop_sequence":null},"usage":{"output_tokens":`+strconv.Itoa(output)+`}}`)
		send("message_stop", `{"type":"message_stop"}`)
	})
}

// lastTurnHasToolResult reports whether the last message of an Anthropic
// messages array carries a tool_result block.
func lastTurnHasToolResult(msgs []byte) bool {
	var last []byte
	_ = jsonscan.ArrayEach(msgs, func(_ int, m []byte) error {
		last = m
		return nil
	})
	found := false
	if c := jsonscan.Get(last, "content"); jsonscan.KindOf(c) == jsonscan.Array {
		_ = jsonscan.ArrayEach(c, func(_ int, b []byte) error {
			found = found || string(jsonscan.Get(b, "type")) == `"tool_result"`
			return nil
		})
	}
	return found
}

// AnthropicBreakpoints lists the cache_control breakpoints of an Anthropic
// Messages body in prompt order (tools, system, messages) as paths:
// "cache_control" (the top-level member), "tools[2]", "system[0]",
// "messages[4].content[1]", "messages[3].content[0].content[0]". It uses
// encoding/json, independently of the gateway's scanner, and returns nil for
// a body that is not a JSON object.
func AnthropicBreakpoints(body []byte) []string {
	var b struct {
		CacheControl json.RawMessage   `json:"cache_control"`
		Tools        []json.RawMessage `json:"tools"`
		System       json.RawMessage   `json:"system"`
		Messages     []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &b) != nil {
		return nil
	}
	var out []string
	if isObject(b.CacheControl) {
		out = append(out, "cache_control")
	}
	for i, t := range b.Tools {
		if hasBreakpoint(t) {
			out = append(out, "tools["+strconv.Itoa(i)+"]")
		}
	}
	out = appendBlockBreakpoints(out, "system", b.System)
	for i, m := range b.Messages {
		out = appendBlockBreakpoints(out, "messages["+strconv.Itoa(i)+"].content", m.Content)
	}
	return out
}

func appendBlockBreakpoints(out []string, path string, content json.RawMessage) []string {
	var blocks []json.RawMessage
	if json.Unmarshal(content, &blocks) != nil {
		return out // a string (or absent): no block to mark
	}
	for i, blk := range blocks {
		p := path + "[" + strconv.Itoa(i) + "]"
		if hasBreakpoint(blk) {
			out = append(out, p)
		}
		var inner struct {
			Content json.RawMessage `json:"content"`
		}
		if json.Unmarshal(blk, &inner) == nil {
			out = appendBlockBreakpoints(out, p+".content", inner.Content)
		}
	}
	return out
}

func hasBreakpoint(obj json.RawMessage) bool {
	var o struct {
		CacheControl json.RawMessage `json:"cache_control"`
	}
	return json.Unmarshal(obj, &o) == nil && isObject(o.CacheControl)
}

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}
