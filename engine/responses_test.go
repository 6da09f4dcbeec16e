package engine

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/internal/jsonscan"
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
	g := startGateway(t, "", fakeProvidersEnv(t, oa, an, ge, ol))
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
	// The upstreams saw the tool result tied to the call they made. OpenAI
	// is passed through (responsesnative.go): it keeps the conversation
	// and gets previous_response_id as the client sent it (its last
	// request is the DELETE of the response it stored).
	var l providertest.Recorded
	for _, r := range oa.Requests() {
		if r.Method == "POST" {
			l = r
		}
	}
	if !strings.HasSuffix(l.Path, "/responses") || !strings.Contains(string(l.Body), `"previous_response_id":"resp_fake`) ||
		!strings.Contains(string(l.Body), `"type":"function_call_output"`) || strings.Contains(string(l.Body), "weather bot") {
		t.Fatalf("openai second turn: %s %s", l.Path, l.Body)
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

// TestResponsesHTTP: errors in the OpenAI envelope with the right status,
// members in any order, store: false, project scoping and the ledger row.
func TestResponsesHTTP(t *testing.T) {
	t.Parallel()
	toml := `
[[keys]]
key = "key-a"
project = "a"
[[keys]]
key = "key-b"
project = "b"
`
	g := startGateway(t, toml, map[string]string{"GATEWAY_API_KEY": ""})
	a := map[string]string{"Authorization": "Bearer key-a"}
	b := map[string]string{"Authorization": "Bearer key-b"}
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"bad json", `{"model":`, 400, "invalid_request"},
		{"hosted tool", `{"model":"mock/echo","input":"x","tools":[{"type":"web_search_preview"}]}`, 400, "invalid_request"},
		{"unknown model", `{"model":"nope/x","input":"x"}`, 404, "model_not_found"},
		{"unknown previous", `{"model":"mock/echo","input":"x","previous_response_id":"resp_missing"}`, 404, "previous_response_not_found"},
	} {
		status, _, body := g.post(t, "/v1/responses", tc.body, a)
		if status != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) || !strings.Contains(body, `{"error":{`) {
			t.Errorf("%s: %d %s", tc.name, status, body)
		}
	}
	if status, _, _ := g.post(t, "/v1/responses", `{"model":"mock/echo","input":"x"}`, map[string]string{"Authorization": "Bearer wrong"}); status != 401 {
		t.Errorf("bad key: %d", status)
	}
	// Members in another order than the SDK's.
	status, _, body := g.post(t, "/v1/responses", `{"store":true,"input":[{"content":"hello there","role":"user"}],"instructions":"Echo.","model":"mock/echo"}`, a)
	if status != 200 || !strings.Contains(body, `"text":"hello there"`) {
		t.Fatalf("reordered: %d %s", status, body)
	}
	id := string(jsonGet(t, body, "id"))
	if status, got := g.get(t, "/v1/responses/"+id, a); status != 200 || got != body {
		t.Fatalf("get: %d %s", status, got)
	}
	// Another project can neither read, list, chain on nor delete it.
	if status, _ := g.get(t, "/v1/responses/"+id, b); status != 404 {
		t.Fatalf("project b read a's response: %d", status)
	}
	if status, _ := g.get(t, "/v1/responses/"+id+"/input_items", b); status != 404 {
		t.Fatalf("project b listed a's input items: %d", status)
	}
	if status, _, _ := g.post(t, "/v1/responses", `{"model":"mock/echo","input":"x","previous_response_id":"`+id+`"}`, b); status != 404 {
		t.Fatalf("project b chained on a's response: %d", status)
	}
	req, _ := http.NewRequest("DELETE", g.url+"/v1/responses/"+id, nil)
	req.Header.Set("Authorization", "Bearer key-b")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 404 {
		t.Fatalf("project b deleted a's response: %v %v", err, resp)
	}
	// store: false is not kept.
	status, _, body = g.post(t, "/v1/responses", `{"model":"mock/echo","input":"not kept","store":false}`, a)
	if status != 200 || !strings.Contains(body, `"store":false`) {
		t.Fatalf("store false: %d %s", status, body)
	}
	if status, _ := g.get(t, "/v1/responses/"+string(jsonGet(t, body, "id")), a); status != 404 {
		t.Fatalf("a store:false response was stored: %d", status)
	}
	// input_items: bad limit is a 400.
	if status, got := g.get(t, "/v1/responses/"+id+"/input_items?limit=0", a); status != 400 || !strings.Contains(got, `"param":"limit"`) {
		t.Fatalf("limit 0: %d %s", status, got)
	}
	// Every POST left a ledger row with endpoint "responses".
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.ten.led.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	groups, err := g.srv.ten.st.UsageSummary(ctx, store.UsageQuery{GroupBy: store.GroupEndpoint})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, gr := range groups {
		if gr.Key == store.EndpointResponses {
			n = gr.Requests
		}
	}
	if n < 3 {
		t.Fatalf("ledger rows for responses: %d (%+v)", n, groups)
	}
}

func jsonGet(t *testing.T, body, key string) []byte {
	t.Helper()
	v := jsonscan.Get([]byte(body), key)
	if jsonscan.KindOf(v) != jsonscan.String {
		t.Fatalf("no %s in %s", key, body)
	}
	return v[1 : len(v)-1]
}
