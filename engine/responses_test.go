package engine

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

// TestResponsesSDKEveryProvider runs the official openai-go Responses
// client against the gateway for each provider's fake (and the mock),
// streaming and not: a function call, its output sent back through
// previous_response_id, the final answer, then GET, input_items and DELETE.
func TestResponsesSDKEveryProvider(t *testing.T) {
	t.Parallel()
	const args = `{"city":"Paris","days":3}`
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{ToolCall: "get_weather", ToolArgs: args, ArgChunks: 3, Reply: "It is sunny."})
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{ToolCall: "get_weather", ToolArgs: args, ArgChunks: 3, Reply: "It is sunny."})
	ge, _ := providertest.StartGemini(&providertest.Gemini{ToolCall: "get_weather", ToolArgs: args, Reply: "It is sunny."})
	ol, _ := providertest.StartOllama(&providertest.Ollama{ToolCall: "get_weather", ToolArgs: args, Reply: "It is sunny."})
	for _, s := range []*providertest.Server{oa, an, ge, ol} {
		t.Cleanup(func() { _ = s.Close() })
	}
	g := startGateway(t, "", map[string]string{
		"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1",
		"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": an.URL,
		"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": ge.URL,
		"LOCAL_LLM_BASE_URL": ol.URL,
	})
	c := g.client()
	tool := responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
		Name:       "get_weather",
		Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}, "days": map[string]any{"type": "integer"}}},
	}}
	cases := []struct {
		model, wantArgs, reply string
	}{
		{"openai/gpt-4o", args, "It is sunny."},
		{"anthropic/claude-sonnet-4-0", args, "It is sunny."},
		{"gemini/gemini-2.0-flash", args, "It is sunny."},
		{"ollama/qwen2.5-coder", args, "It is sunny."},
		{"mock/tool", "{}", `The tool returned: {"forecast":"sunny"}`},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			name := tc.model
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				first := respond(t, c, responses.ResponseNewParams{
					Model:        tc.model,
					Instructions: openai.String("You are a weather bot."),
					Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris for 3 days?")},
					Tools:        []responses.ToolUnionParam{tool},
				}, stream)
				if first.Status != responses.ResponseStatusCompleted || !strings.HasPrefix(first.ID, "resp_") {
					t.Fatalf("first turn: status %q id %q", first.Status, first.ID)
				}
				var call responses.ResponseFunctionToolCall
				for _, it := range first.Output {
					if it.Type == "function_call" {
						call = it.AsFunctionCall()
					}
				}
				if call.Name != "get_weather" || call.CallID == "" || !sameJSON(call.Arguments, tc.wantArgs) {
					t.Fatalf("function call %+v in %s", call, first.RawJSON())
				}
				if first.Usage.TotalTokens == 0 && !strings.HasPrefix(tc.model, "mock/") {
					t.Fatalf("no usage: %s", first.RawJSON())
				}
				second := respond(t, c, responses.ResponseNewParams{
					Model:              tc.model,
					PreviousResponseID: openai.String(first.ID),
					Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
						{OfFunctionCallOutput: &responses.ResponseInputItemFunctionCallOutputParam{
							CallID: openai.String(call.CallID),
							Output: responses.ResponseInputItemFunctionCallOutputOutputUnionParam{OfString: openai.String(`{"forecast":"sunny"}`)},
						}},
					}},
					Tools: []responses.ToolUnionParam{tool},
				}, stream)
				if got := second.OutputText(); got != tc.reply {
					t.Fatalf("final answer %q, want %q: %s", got, tc.reply, second.RawJSON())
				}
				if second.PreviousResponseID != first.ID {
					t.Fatalf("previous_response_id %q", second.PreviousResponseID)
				}
				got, err := c.Responses.Get(context.Background(), second.ID, responses.ResponseGetParams{})
				if err != nil || got.ID != second.ID || got.OutputText() != tc.reply {
					t.Fatalf("get: %v %+v", err, got)
				}
				page, err := c.Responses.InputItems.List(context.Background(), second.ID, responses.InputItemListParams{Order: responses.InputItemListParamsOrderAsc})
				if err != nil {
					t.Fatal(err)
				}
				var types []string
				for _, it := range page.Data {
					types = append(types, it.Type)
				}
				// The first turn may hold text before its call (Ollama
				// streams the reply's words, then the call).
				joined := strings.Join(types, ",")
				if joined != "message,function_call,function_call_output" && joined != "message,message,function_call,function_call_output" {
					t.Fatalf("input items %v", types)
				}
				if err := c.Responses.Delete(context.Background(), second.ID); err != nil {
					t.Fatal(err)
				}
				_, err = c.Responses.Get(context.Background(), second.ID, responses.ResponseGetParams{})
				if ae, ok := errors.AsType[*openai.Error](err); !ok || ae.StatusCode != http.StatusNotFound {
					t.Fatalf("get after delete: %v", err)
				}
			})
		}
	}
	// The upstreams saw the tool result tied to the call they made.
	if b := string(oa.Last().Body); !strings.Contains(b, `"role":"tool"`) || !strings.Contains(b, `"tool_call_id":"call_abc123"`) || strings.Contains(b, "weather bot") {
		// (instructions are not carried over from a previous response)
		t.Fatalf("openai second turn: %s", b)
	}
	if b := string(an.Last().Body); !strings.Contains(b, `"tool_result"`) || !strings.Contains(b, `"tool_use_id":"toolu_01A09q90qw90lq917835lq9"`) {
		t.Fatalf("anthropic second turn: %s", b)
	}
}

// respond creates a response, streaming or not; a stream must follow the
// Responses event sequence, and its response.completed event carries the
// response.
func respond(t *testing.T, c openai.Client, p responses.ResponseNewParams, stream bool) *responses.Response {
	t.Helper()
	if !stream {
		r, err := c.Responses.New(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	s := c.Responses.NewStreaming(context.Background(), p)
	var types []string
	var final *responses.Response
	var text strings.Builder
	seq := int64(0)
	for s.Next() {
		ev := s.Current()
		if ev.SequenceNumber != seq {
			t.Fatalf("event %d has sequence_number %d", seq, ev.SequenceNumber)
		}
		seq++
		types = append(types, ev.Type)
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.completed":
			r := ev.Response
			final = &r
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if len(types) < 4 || types[0] != "response.created" || types[1] != "response.in_progress" || types[len(types)-1] != "response.completed" || final == nil {
		t.Fatalf("event sequence %v", types)
	}
	if final.OutputText() != text.String() {
		t.Fatalf("deltas %q, final text %q", text.String(), final.OutputText())
	}
	return final
}
