package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers/providertest"
)

// TestAllowedToolsEveryProvider: a Responses tool_choice of type
// allowed_tools (https://platform.openai.com/docs/api-reference/responses/create#responses-create-tool_choice)
// and chat's allowed_tools reach every provider: OpenAI gets it as sent (the
// Responses API passed through, chat's member verbatim), the others are
// offered the allowed tools alone, mode required as their "any tool"
// (Anthropic tool_choice any, Gemini mode ANY); the mock calls an allowed
// tool. The response echoes the tool_choice (OpenAI's fake does not: its
// answer is relayed as it is). A name that is not a tool, or a bad mode, is
// a 400.
func TestAllowedToolsEveryProvider(t *testing.T) {
	t.Parallel()
	const args = `{"city":"Paris"}`
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{ToolCall: "get_weather", ToolArgs: args, Reply: "ok"})
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{ToolCall: "get_weather", ToolArgs: args, Reply: "ok"})
	ge, _ := providertest.StartGemini(&providertest.Gemini{ToolCall: "get_weather", ToolArgs: args, Reply: "ok"})
	ol, _ := providertest.StartOllama(&providertest.Ollama{ToolCall: "get_weather", ToolArgs: args, Reply: "ok"})
	g := startGateway(t, "", fakeProvidersEnv(t, oa, an, ge, ol))
	tools := `"tools":[{"type":"function","name":"send_email","parameters":{"type":"object"}},{"type":"function","name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	choice := `"tool_choice":{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"get_weather"}]}`
	// names lists the tool names of an upstream request body.
	names := func(body []byte, arr, name string) string {
		var out []string
		_ = jsonscan.ArrayEach(jsonscan.Get(body, arr), func(_ int, t []byte) error {
			v := jsonscan.Get(t, name)
			if fn := jsonscan.Get(t, "function"); fn != nil {
				v = jsonscan.Get(fn, name)
			}
			out = append(out, strings.Trim(string(v), `"`))
			return nil
		})
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		model string
		up    *providertest.Server
		check func(body []byte) bool
	}{
		{"openai/gpt-4o", oa, func(b []byte) bool {
			return string(jsonscan.Get(jsonscan.Get(b, "tool_choice"), "type")) == `"allowed_tools"` && names(b, "tools", "name") == "send_email,get_weather"
		}},
		{"anthropic/claude-sonnet-4-0", an, func(b []byte) bool {
			return names(b, "tools", "name") == "get_weather" && string(jsonscan.Get(jsonscan.Get(b, "tool_choice"), "type")) == `"any"`
		}},
		{"gemini/gemini-2.0-flash", ge, func(b []byte) bool {
			var decl []byte
			_ = jsonscan.ArrayEach(jsonscan.Get(b, "tools"), func(_ int, t []byte) error {
				decl = jsonscan.Get(t, "functionDeclarations")
				return nil
			})
			mode := jsonscan.Get(jsonscan.Get(jsonscan.Get(b, "toolConfig"), "functionCallingConfig"), "mode")
			return names([]byte(`{"d":`+string(decl)+`}`), "d", "name") == "get_weather" && string(mode) == `"ANY"`
		}},
		{"ollama/qwen2.5-coder", ol, func(b []byte) bool { return names(b, "tools", "name") == "get_weather" }},
		{"mock/tool", nil, nil},
	} {
		status, _, body := g.post(t, "/v1/responses", `{"model":"`+tc.model+`","input":"Weather in Paris?",`+choice+`,`+tools+`}`, nil)
		var r struct {
			Status     string          `json:"status"`
			ToolChoice json.RawMessage `json:"tool_choice"`
			Output     []struct {
				Type, Name string
			} `json:"output"`
		}
		if status != 200 || json.Unmarshal([]byte(body), &r) != nil || r.Status != "completed" || len(r.Output) == 0 ||
			r.Output[len(r.Output)-1].Name != "get_weather" || (tc.up != oa && !strings.Contains(string(r.ToolChoice), "allowed_tools")) {
			t.Errorf("%s: %d %s", tc.model, status, body)
			continue
		}
		if tc.up != nil {
			var last []byte
			for _, q := range tc.up.Requests() {
				if q.Method == "POST" {
					last = q.Body
				}
			}
			if !tc.check(last) {
				t.Errorf("%s: upstream request %s", tc.model, last)
			}
		}
	}
	// Chat's own allowed_tools, which Anthropic refused before.
	status, _, body := g.post(t, "/v1/chat/completions", `{"model":"anthropic/claude-sonnet-4-0","messages":[{"role":"user","content":"hi"}],
		"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"get_weather"}}]}},
		"tools":[{"type":"function","function":{"name":"send_email"}},{"type":"function","function":{"name":"get_weather"}}]}`, nil)
	if b := an.Last().Body; status != 200 || names(b, "tools", "name") != "get_weather" || string(jsonscan.Get(jsonscan.Get(b, "tool_choice"), "type")) != `"auto"` {
		t.Errorf("chat allowed_tools on anthropic: %d %s; upstream %s", status, body, b)
	}
	for _, tc := range []struct{ path, body, param string }{
		{"/v1/responses", `{"model":"anthropic/claude-sonnet-4-0","input":"x",` + tools + `,"tool_choice":{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"nope"}]}}`, "tool_choice.tools[0].name"},
		{"/v1/responses", `{"model":"mock/tool","input":"x",` + tools + `,"tool_choice":{"type":"allowed_tools","mode":"sometimes","tools":[]}}`, "tool_choice.mode"},
		{"/v1/chat/completions", `{"model":"gemini/gemini-2.0-flash","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"b"}}]}}}`, "tool_choice.allowed_tools.tools[0].function.name"},
		{"/v1/chat/completions", `{"model":"ollama/qwen2.5-coder","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"any","tools":[]}}}`, "tool_choice.allowed_tools.mode"},
	} {
		status, _, body := g.post(t, tc.path, tc.body, nil)
		if status != 400 || !strings.Contains(body, `"param":"`+tc.param+`"`) {
			t.Errorf("%s: %d %s", tc.body, status, body)
		}
	}
}
