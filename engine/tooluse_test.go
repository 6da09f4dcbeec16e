package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/openai/openai-go/v3"
)

// TestToolUseRoundTripEveryProvider runs a multi-turn tool conversation
// (call → result → final answer) through the gateway and the OpenAI SDK
// against each provider's fake, streaming and not: tool ids, names and
// arguments must survive both directions of every translation.
func TestToolUseRoundTripEveryProvider(t *testing.T) {
	t.Parallel()
	const args = `{"city":"Paris","days":3}`
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{ToolCall: "get_weather", ToolArgs: args, ArgChunks: 3, Reply: "It is sunny."})
	ge, _ := providertest.StartGemini(&providertest.Gemini{ToolCall: "get_weather", ToolArgs: args, Reply: "It is sunny."})
	ol, _ := providertest.StartOllama(&providertest.Ollama{ToolCall: "get_weather", ToolArgs: args, Reply: "It is sunny."})
	g := startGateway(t, "", fakeProvidersEnv(t, nil, an, ge, ol))
	c := g.client()
	tool := openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name:       "get_weather",
		Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}, "days": map[string]any{"type": "integer"}}},
	})
	for _, model := range []string{"anthropic/claude-sonnet-4-0", "gemini/gemini-2.0-flash", "ollama/qwen2.5-coder"} {
		for _, stream := range []bool{false, true} {
			name := model
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				params := openai.ChatCompletionNewParams{
					Model:    model,
					Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris for 3 days?")},
					Tools:    []openai.ChatCompletionToolUnionParam{tool},
				}
				first := complete(t, c, params, stream)
				calls := first.Choices[0].Message.ToolCalls
				if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].ID == "" {
					t.Fatalf("first turn: %+v", first.Choices[0].Message)
				}
				if !sameJSON(calls[0].Function.Arguments, args) {
					t.Fatalf("arguments %q, want %s", calls[0].Function.Arguments, args)
				}
				if first.Choices[0].FinishReason != "tool_calls" {
					t.Fatalf("finish %q", first.Choices[0].FinishReason)
				}
				params.Messages = append(params.Messages, first.Choices[0].Message.ToParam(), openai.ToolMessage(`{"forecast":"sunny"}`, calls[0].ID))
				second := complete(t, c, params, stream)
				if got := second.Choices[0].Message.Content; got != "It is sunny." {
					t.Fatalf("final answer %q", got)
				}
			})
		}
	}
	// The upstreams saw the tool result tied to the call they made.
	if b := string(an.Last().Body); !strings.Contains(b, `"tool_result"`) || !strings.Contains(b, `"tool_use_id":"toolu_01A09q90qw90lq917835lq9"`) {
		t.Fatalf("anthropic second turn: %s", b)
	}
	if b := string(ge.Last().Body); !strings.Contains(b, `"functionResponse"`) || !strings.Contains(b, `"name":"get_weather"`) {
		t.Fatalf("gemini second turn: %s", b)
	}
	if b := string(ol.Last().Body); !strings.Contains(b, `"role":"tool"`) || !strings.Contains(b, `"tool_name":"get_weather"`) {
		t.Fatalf("ollama second turn: %s", b)
	}
}

func complete(t *testing.T, c openai.Client, p openai.ChatCompletionNewParams, stream bool) *openai.ChatCompletion {
	t.Helper()
	if !stream {
		r, err := c.Chat.Completions.New(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	s := c.Chat.Completions.NewStreaming(context.Background(), p)
	acc := openai.ChatCompletionAccumulator{}
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return &acc.ChatCompletion
}
