package main

import (
	"bytes"

	"github.com/aigateway/gateway/abi"
)

// answer is what the judge reads of an upstream response.
type answer struct {
	text      []byte // the answer's text, parts joined by "\n"
	toolCalls bool   // the answer calls a tool
	truncated bool   // the upstream stopped at its token limit
	refusal   bool   // the upstream flagged a refusal or filtered the answer
	finish    string // the stop reason that set truncated or refusal
}

// parseResponse reads a complete, non-streaming response body in any of the
// wire formats the gateway speaks: OpenAI chat completions (what clients
// receive), Anthropic messages, Gemini generateContent and Ollama chat. A
// body that is not a JSON object is taken as the answer's text. Decoded
// strings go to *scratch, which is reused from call to call.
func parseResponse(body []byte, a *answer, scratch *[]byte) {
	*a = answer{}
	buf := (*scratch)[:0]
	defer func() { *scratch = buf }()
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' || !abi.JSONValid(trimmed) {
		a.text = body
		return
	}
	appendText := func(v []byte) {
		if len(v) <= 2 || v[0] != '"' {
			return
		}
		mark := len(buf)
		if mark > 0 {
			buf = append(buf, '\n')
		}
		before := len(buf)
		s, grown, ok := abi.JSONUnquote(v, buf)
		switch {
		case !ok:
			buf = buf[:mark]
		case len(grown) > before: // unescaped into buf already
			buf = grown
		default: // s aliases body
			buf = append(buf, s...)
		}
	}
	abi.JSONObjectEach(trimmed, func(k, v []byte) bool {
		switch string(k) {
		case "choices": // OpenAI
			abi.JSONArrayEach(v, func(choice []byte) bool {
				abi.JSONObjectEach(choice, func(k, v []byte) bool {
					switch string(k) {
					case "message":
						readMessage(v, a, appendText)
					case "text": // legacy completions
						appendText(v)
					case "finish_reason":
						a.setFinish(v, "length", "content_filter")
					}
					return true
				})
				return false // the first choice is the answer
			})
		case "content": // Anthropic
			if len(v) > 0 && v[0] == '[' {
				readParts(v, a, appendText)
			}
		case "stop_reason": // Anthropic
			a.setFinish(v, "max_tokens", "refusal")
		case "candidates": // Gemini
			abi.JSONArrayEach(v, func(cand []byte) bool {
				abi.JSONObjectEach(cand, func(k, v []byte) bool {
					switch string(k) {
					case "content":
						if parts := abi.JSONGet(v, "parts"); parts != nil {
							readParts(parts, a, appendText)
						}
					case "finishReason":
						if !a.setFinish(v, "MAX_TOKENS", "SAFETY") {
							a.setFinish(v, "", "RECITATION")
						}
					}
					return true
				})
				return false
			})
		case "message": // Ollama
			readMessage(v, a, appendText)
		case "done_reason": // Ollama
			a.setFinish(v, "length", "")
		}
		return true
	})
	a.text = buf
}

// readMessage reads an OpenAI or Ollama message object.
func readMessage(v []byte, a *answer, appendText func([]byte)) {
	abi.JSONObjectEach(v, func(k, v []byte) bool {
		switch string(k) {
		case "content":
			switch {
			case len(v) > 0 && v[0] == '"':
				appendText(v)
			case len(v) > 0 && v[0] == '[':
				readParts(v, a, appendText)
			}
		case "tool_calls", "function_call":
			if string(v) != "null" && string(v) != "[]" {
				a.toolCalls = true
			}
		case "refusal":
			if len(v) > 2 && v[0] == '"' {
				a.refusal = true
				a.finish = "refusal"
			}
		}
		return true
	})
}

// readParts reads an array of content parts: {"type":"text","text":…}
// (OpenAI, Anthropic), {"text":…} (Gemini), tool use parts.
func readParts(v []byte, a *answer, appendText func([]byte)) {
	abi.JSONArrayEach(v, func(part []byte) bool {
		abi.JSONObjectEach(part, func(k, v []byte) bool {
			switch string(k) {
			case "text":
				appendText(v)
			case "type":
				if string(v) == `"tool_use"` || string(v) == `"function_call"` {
					a.toolCalls = true
				}
			case "functionCall": // Gemini
				a.toolCalls = true
			}
			return true
		})
		return true
	})
}

// setFinish records a stop reason v (a JSON string) and reports whether it
// is one of the two given: truncation or refusal.
func (a *answer) setFinish(v []byte, truncated, refusal string) bool {
	if len(v) < 2 || v[0] != '"' {
		return false
	}
	switch s := v[1 : len(v)-1]; {
	case truncated != "" && string(s) == truncated:
		a.truncated, a.finish = true, truncated
	case refusal != "" && string(s) == refusal:
		a.refusal, a.finish = true, refusal
	default:
		return false
	}
	return true
}
