package cost

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ToAnthropic translates a Chat Completions request into the Messages
// request that a client without the gateway would send to Anthropic's native
// API for the same conversation: system messages become system blocks, tool
// calls tool_use blocks, tool messages tool_result blocks in a user turn,
// consecutive same-role messages one turn; max_tokens and temperature carry
// over; no cache_control (an OpenAI-format client has none to give, and
// Anthropic's OpenAI-compatible endpoint does not cache:
// https://docs.anthropic.com/en/api/openai-sdk); never streaming (usage is
// the same either way). With breakpoints, it marks the blocks Claude Code
// marks (the last system block and the last block of each of the last two
// user turns): what a client on Anthropic's native API that manages its own
// caching sends.
func ToAnthropic(body []byte, model string, breakpoints bool) ([]byte, error) {
	var r oaRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	type turn struct {
		role   string
		blocks []map[string]any
	}
	var turns []*turn
	add := func(role string, b map[string]any) {
		if n := len(turns); n > 0 && turns[n-1].role == role {
			turns[n-1].blocks = append(turns[n-1].blocks, b)
			return
		}
		turns = append(turns, &turn{role: role, blocks: []map[string]any{b}})
	}
	var system []map[string]any
	for i, m := range r.Messages {
		texts, _, err := oaContent(m.Content)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		text := strings.Join(texts, "\n")
		switch m.Role {
		case "system", "developer":
			system = append(system, map[string]any{"type": "text", "text": text})
		case "user":
			if text != "" {
				add("user", map[string]any{"type": "text", "text": text})
			}
		case "assistant":
			if text != "" {
				add("assistant", map[string]any{"type": "text", "text": text})
			}
			for _, tc := range m.ToolCalls {
				args := tc.Function.Arguments
				if strings.TrimSpace(args) == "" {
					args = "{}"
				}
				add("assistant", map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Function.Name, "input": json.RawMessage(args)})
			}
		case "tool", "function":
			add("user", map[string]any{"type": "tool_result", "tool_use_id": m.ToolCallID, "content": text})
		}
	}
	if breakpoints {
		marked := 0
		for i := len(turns) - 1; i >= 0 && marked < 2; i-- {
			if turns[i].role == "user" {
				turns[i].blocks[len(turns[i].blocks)-1]["cache_control"] = ephemeral
				marked++
			}
		}
		if n := len(system); n > 0 {
			system[n-1]["cache_control"] = ephemeral
		}
	}
	out := map[string]any{"model": model}
	mt := 4096
	if r.MaxCompletionTokens != nil {
		mt = *r.MaxCompletionTokens
	} else if r.MaxTokens != nil {
		mt = *r.MaxTokens
	}
	out["max_tokens"] = mt
	if r.Temperature != nil {
		out["temperature"] = min(*r.Temperature, 1)
	}
	if len(system) > 0 {
		out["system"] = system
	}
	if len(r.Tools) > 0 {
		var ts []map[string]any
		for _, t := range r.Tools {
			ts = append(ts, map[string]any{"name": t.Function.Name, "description": t.Function.Description, "input_schema": t.Function.Parameters})
		}
		out["tools"] = ts
	}
	var ms []map[string]any
	for _, t := range turns {
		ms = append(ms, map[string]any{"role": t.role, "content": t.blocks})
	}
	out["messages"] = ms
	return marshal(out), nil
}
