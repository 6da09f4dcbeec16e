package anthropic

import (
	"errors"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// ErrBadResponse is returned when the upstream's answer is not the Messages
// API's response object.
var ErrBadResponse = errors.New("malformed anthropic response")

// FinishReason maps an Anthropic stop_reason to an OpenAI finish_reason.
// pause_turn (a server tool paused a long turn) ends the turn for an OpenAI
// client, so it is a stop.
func FinishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop"
}

// parseUsage reads an Anthropic usage object into u, overwriting only the
// counts it holds (message_delta repeats some of message_start's).
func parseUsage(v []byte, u *usageCounts) {
	if jsonscan.KindOf(v) != jsonscan.Object {
		return
	}
	_ = jsonscan.ObjectEach(v, func(k, val []byte) error {
		if string(k) == "cache_creation" {
			// The write split by TTL (https://docs.anthropic.com/en/api/messages,
			// usage.cache_creation): 1-hour writes cost 2× input, not 1.25×.
			if h := jsonscan.Get(val, "ephemeral_1h_input_tokens"); jsonscan.KindOf(h) == jsonscan.Number {
				u.cacheWrite1h = wire.Num(h)
			}
			return nil
		}
		if jsonscan.KindOf(val) != jsonscan.Number {
			return nil
		}
		switch string(k) {
		case "input_tokens":
			u.input = wire.Num(val)
		case "output_tokens":
			u.output = wire.Num(val)
		case "cache_creation_input_tokens":
			u.cacheWrite = wire.Num(val)
		case "cache_read_input_tokens":
			u.cacheRead = wire.Num(val)
		}
		u.set = true
		return nil
	})
}

// usageCounts are Anthropic's token counts. Anthropic's input_tokens exclude
// the cached prefix, so the OpenAI prompt_tokens is the sum of all three.
type usageCounts struct {
	input, output, cacheWrite, cacheRead int
	cacheWrite1h                         int // part of cacheWrite with the 1-hour TTL
	set                                  bool
}

func (u usageCounts) openAI() providers.Usage {
	return providers.Usage{
		PromptTokens:     u.input + u.cacheWrite + u.cacheRead,
		CompletionTokens: u.output,
		CachedTokens:     u.cacheRead,
		CacheWriteTokens: u.cacheWrite,
		CacheWrite1h:     min(u.cacheWrite1h, u.cacheWrite),
		Set:              u.set,
	}
}

// respBuf holds the storage a translated non-streaming answer aliases.
type respBuf struct {
	scratch []byte
	content []byte
	reason  []byte
	calls   []providers.ToolCall
	out     []byte
}

// parseMessage translates a Messages API response object
// (https://docs.anthropic.com/en/api/messages, "Response") into c. Text
// blocks are joined in order; tool_use blocks become tool calls with their
// ids kept and their input object as the arguments string; thinking blocks
// become reasoning_content, redacted_thinking blocks are dropped; server
// tool blocks are dropped. c's id and model point into body or b: c is
// rendered before either is reused.
func parseMessage(body []byte, c *providers.Completion, info reqInfo, b *respBuf) error {
	if jsonscan.Validate(body) != nil || jsonscan.KindOf(jsonscan.Get(body, "content")) != jsonscan.Array {
		return ErrBadResponse
	}
	b.content, b.reason, b.calls, b.scratch = b.content[:0], b.reason[:0], b.calls[:0], b.scratch[:0]
	var u usageCounts
	stop := ""
	jsonAnswer := false
	err := jsonscan.ObjectEach(body, func(k, v []byte) error {
		switch string(k) {
		case "id":
			if s := wire.Unq(v, &b.scratch); s != nil {
				c.ID = unsafeconv.String(s)
			}
		case "model":
			if s := wire.Unq(v, &b.scratch); len(s) > 0 {
				c.Model = unsafeconv.String(s)
			}
		case "stop_reason":
			stop = unsafeconv.String(wire.Unq(v, &b.scratch))
		case "usage":
			parseUsage(v, &u)
		case "content":
			return jsonscan.ArrayEach(v, func(_ int, blk []byte) error {
				if jsonscan.KindOf(blk) != jsonscan.Object {
					return ErrBadResponse
				}
				switch string(jsonscan.Get(blk, "type")) {
				case `"text"`:
					b.content = append(b.content, wire.Unq(jsonscan.Get(blk, "text"), &b.scratch)...)
				case `"thinking"`:
					b.reason = append(b.reason, wire.Unq(jsonscan.Get(blk, "thinking"), &b.scratch)...)
				case `"tool_use"`:
					name := wire.Unq(jsonscan.Get(blk, "name"), &b.scratch)
					input := jsonscan.Get(blk, "input")
					if jsonscan.KindOf(input) != jsonscan.Object {
						input = emptyObject
					}
					if info.jsonTool && string(name) == JSONToolName {
						b.content = append(b.content, input...)
						jsonAnswer = true
						return nil
					}
					b.calls = append(b.calls, providers.ToolCall{
						ID:        string(wire.Unq(jsonscan.Get(blk, "id"), &b.scratch)),
						Type:      "function",
						Name:      string(name),
						Arguments: string(input),
					})
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return ErrBadResponse
	}
	c.Content, c.Reasoning, c.ToolCalls = b.content, b.reason, b.calls
	c.Finish = FinishReason(stop)
	if jsonAnswer && len(b.calls) == 0 && stop == "tool_use" {
		c.Finish = "stop"
	}
	c.Usage = u.openAI()
	return nil
}
