package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
)

// TestChatValidationEveryProvider: members the chat completions reference
// (https://platform.openai.com/docs/api-reference/chat/create) constrains
// are checked by the gateway, before any upstream is called, on every chat
// route and for every provider, since a translating upstream would
// silently drop what OpenAI refuses. Each answer is OpenAI's: 400,
// invalid_request_error, the parameter, and OpenAI's code where it has one
// (observed answers: response_format.type → invalid_value,
// response_format.json_schema(.name) → missing_required_parameter;
// stream_options without stream → "The 'stream_options' parameter is only
// allowed when 'stream' is enabled.", code null, which the gateway's
// envelope spells invalid_request, as it does range errors, which OpenAI
// codes integer_above_max_value and the like: the SDK checks pin the
// gateway's code). Valid
// bodies with the same members, in other orders and with unknown members
// and escapes, still pass.
func TestChatValidationEveryProvider(t *testing.T) {
	t.Parallel()
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "ok"})
	ge, _ := providertest.StartGemini(&providertest.Gemini{Reply: "ok"})
	ol, _ := providertest.StartOllama(&providertest.Ollama{Reply: "ok"})
	fakes := []*providertest.Server{oa, an, ge, ol}
	g := startGateway(t, "", fakeProvidersEnv(t, oa, an, ge, ol))
	models := []string{"openai/gpt-4o", "anthropic/claude-sonnet-4-0", "gemini/gemini-2.0-flash", "ollama/qwen2.5-coder", "mock/echo"}
	msg := `"messages":[{"role":"user","content":"hi"}]`
	bad := []struct {
		name, members, param, code, mention string
	}{
		{"response_format type", `"response_format":{"type":"bogus"}`, "response_format.type", "invalid_value", "bogus"},
		{"response_format type escaped", `"response_format":{"type":"b\u006fgus"}`, "response_format.type", "invalid_value", "bogus"},
		{"json_schema missing", `"response_format":{"type":"json_schema"}`, "response_format.json_schema", "missing_required_parameter", ""},
		{"json_schema name missing", `"response_format":{"json_schema":{"schema":{"type":"object"}},"type":"json_schema"}`, "response_format.json_schema.name", "missing_required_parameter", ""},
		{"json_schema name not a string", `"response_format":{"type":"json_schema","json_schema":{"name":7}}`, "response_format.json_schema.name", "", ""},
		{"stream_options without stream", `"stream_options":{"include_usage":true}`, "stream_options", "invalid_request", "only allowed when 'stream' is enabled"},
		{"stream_options with stream false", `"stream_options":{"include_usage":true},"stream":false`, "stream_options", "invalid_request", "stream"},
		{"n zero", `"n":0`, "n", "invalid_request", ""},
		{"n 129", `"n":129`, "n", "invalid_request", ""},
		{"temperature high", `"temperature":2.5`, "temperature", "invalid_request", ""},
		{"temperature negative", `"temperature":-0.1`, "temperature", "invalid_request", ""},
		{"top_p high", `"top_p":1.01`, "top_p", "invalid_request", ""},
		{"logprobs not a boolean", `"logprobs":"yes"`, "logprobs", "", ""},
		{"top_logprobs high", `"logprobs":true,"top_logprobs":21`, "top_logprobs", "invalid_request", ""},
		{"top_logprobs negative", `"top_logprobs":-1,"logprobs":true`, "top_logprobs", "invalid_request", ""},
		{"top_logprobs without logprobs", `"top_logprobs":2`, "top_logprobs", "", "logprobs"},
		{"top_logprobs with logprobs false", `"top_logprobs":2,"logprobs":false`, "top_logprobs", "", "logprobs"},
		{"max_tokens zero", `"max_tokens":0`, "max_tokens", "invalid_request", ""},
	}
	for _, model := range models {
		for _, path := range []string{"/v1/chat/completions", "/chat/completions"} {
			for _, tc := range bad {
				status, _, body := g.post(t, path, `{"model":"`+model+`",`+msg+`,`+tc.members+`}`, nil)
				var env struct {
					Error struct {
						Message, Type string
						Param, Code   *string
					} `json:"error"`
				}
				if status != 400 || json.Unmarshal([]byte(body), &env) != nil || env.Error.Type != "invalid_request_error" ||
					env.Error.Param == nil || *env.Error.Param != tc.param || !strings.Contains(env.Error.Message, tc.mention) ||
					(tc.code != "" && (env.Error.Code == nil || *env.Error.Code != tc.code)) {
					t.Errorf("%s %s %s: %d %s", model, path, tc.name, status, body)
				}
			}
		}
	}
	for _, s := range fakes {
		if n := len(s.Requests()); n != 0 {
			t.Fatalf("an upstream was called %d times for refused requests: %+v", n, s.Requests())
		}
	}
	good := []string{
		`"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object"},"x_unknown":1,"name":"out"}}`,
		`"response_format":{"type":"js\u006fn_object"}`,
		`"response_format":{"type":"text"}`,
		`"stream_options":null`,
		`"stream_options":{"include_usage":true},"stream":true`,
		`"stream":true,"stream_options":{}`,
		`"logprobs":true,"top_logprobs":0`,
		`"top_logprobs":20,"logprobs":true`,
		`"top_logprobs":null`,
		`"logprobs":false`,
		`"n":1,"temperature":2,"top_p":0,"x_future_member":{"n":500}`,
	}
	for _, model := range models {
		for _, members := range good {
			status, _, body := g.post(t, "/v1/chat/completions", `{`+members+`,"model":"`+model+`",`+msg+`}`, nil)
			if status != 200 {
				// A provider may refuse what it cannot honour (logprobs
				// on a translating provider), but never as a validation
				// error of the members above.
				if strings.Contains(body, `"param":"response_format`) || strings.Contains(body, `"param":"stream_options"`) ||
					strings.Contains(body, `"param":"n"`) || strings.Contains(body, `"param":"temperature"`) || strings.Contains(body, `"param":"top_p"`) ||
					(strings.Contains(body, `"param":"top_logprobs"`) && model == "openai/gpt-4o") || model == "openai/gpt-4o" || model == "mock/echo" {
					t.Errorf("%s: %s: %d %s", model, members, status, body)
				}
			}
		}
	}
}
