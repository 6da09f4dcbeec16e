package gemini

import (
	"bytes"
	"errors"
	"github.com/aigateway/gateway/internal/wire"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// Fixtures follow the public API documentation:
// https://ai.google.dev/api/generate-content (request body,
// GenerateContentResponse, FinishReason, UsageMetadata, streaming with
// alt=sse), https://ai.google.dev/gemini-api/docs/function-calling
// (function declarations, functionCall / functionResponse parts, parallel
// calls, thought signatures) and https://ai.google.dev/api/caching#Schema.

func decode(t testing.TB, body []byte) *providers.Request {
	t.Helper()
	r := providers.AcquireRequest()
	if err := r.Decode(body); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r
}

func testCall(r *providers.Request) *providers.Call {
	model := strings.TrimPrefix(r.Model, "gemini/")
	if model == "" {
		model = "gemini-2.0-flash"
	}
	return &providers.Call{Req: r, Model: model, ID: "chatcmpl-test", Created: 1741569952}
}

// TestRequestGolden: OpenAI request in → Gemini request out.
func TestRequestGolden(t *testing.T) {
	t.Parallel()
	for name, path := range inputs(t, "request", ".in.json") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := decode(t, in)
			defer providers.ReleaseRequest(r)
			out, err := appendRequest(nil, testCall(r))
			if err != nil {
				t.Fatalf("translate: %v", err)
			}
			golden(t, strings.TrimSuffix(path, ".in.json")+".golden.json", indent(t, out))
		})
	}
}

func TestRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, param string
	}{
		{"unparsable arguments", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{not json"}}]}]}`, "messages[1].tool_calls[0].function.arguments"},
		{"unknown tool call id", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c2","content":"x"}]}`, "messages[2].tool_call_id"},
		{"tool result image", `{"messages":[{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[1].content[0].type"},
		{"n greater than one", `{"n":3,"messages":[{"role":"user","content":"hi"}]}`, "n"},
		{"audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}]}]}`, "messages[0].content[0].type"},
		{"bad image url", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"file id", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].file.file_data"},
		{"function role", `{"messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{"custom tool", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type"},
		{"bad tool choice", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"custom","custom":{"name":"f"}}}`, "tool_choice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := decode(t, []byte(tt.body))
			defer providers.ReleaseRequest(r)
			_, err := appendRequest(nil, testCall(r))
			var ue *providers.UpstreamError
			if !errors.As(err, &ue) || ue.Status != 400 || ue.Param != tt.param {
				t.Fatalf("got %#v, want a 400 naming %s", err, tt.param)
			}
		})
	}
}

func TestModelName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"gemini-2.0-flash", "gemini-2.0-flash", true},
		{"models/gemini-2.5-pro", "gemini-2.5-pro", true},
		{"../v1/files", "", false},
		{"gemini?key=x", "", false},
		{"", "", false},
	} {
		got, err := modelName(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("modelName(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// TestResponseGolden: Gemini response in → OpenAI chat.completion out.
func TestResponseGolden(t *testing.T) {
	t.Parallel()
	for name, path := range inputs(t, "response", ".json") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c := providers.Completion{ID: "chatcmpl-test", Created: 1741569952, Model: "gemini-2.0-flash"}
			var b respBuf
			if err := parseResponse(in, &c, &b); err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(path, ".json")+".golden.json", indent(t, c.AppendJSON(nil)))
		})
	}
}

func translateStream(t testing.TB, in []byte, includeUsage bool) ([]byte, providers.Usage) {
	t.Helper()
	var tr Translator
	tr.Reset(bytes.NewReader(in), "gemini", "chatcmpl-test", 1741569952, "gemini-2.0-flash", includeUsage)
	var out []byte
	for range 100000 {
		b, err := tr.Next()
		if err == io.EOF {
			return out, tr.Usage()
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, b...)
	}
	t.Fatal("stream did not end")
	return nil, providers.Usage{}
}

// TestStreamGolden: Gemini SSE stream in → OpenAI chunk stream out.
func TestStreamGolden(t *testing.T) {
	t.Parallel()
	for name, path := range inputs(t, "stream", ".sse") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := translateStream(t, in, !strings.HasPrefix(name, "nousage"))
			validSSE(t, out)
			if !bytes.HasSuffix(out, []byte("data: [DONE]\n\n")) {
				t.Errorf("stream does not end with [DONE]")
			}
			golden(t, strings.TrimSuffix(path, ".sse")+".golden.sse", out)
		})
	}
}

// TestStreamMatchesResponse: the same answer streamed and not gives the
// same tool ids, names and arguments.
func TestStreamMatchesResponse(t *testing.T) {
	t.Parallel()
	resp := `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a": 1}},"thoughtSignature":"c2ln"},{"functionCall":{"name":"f","args":{"a":2}}}],"role":"model"},"finishReason":"STOP"}],"responseId":"r1"}`
	var c providers.Completion
	var b respBuf
	if err := parseResponse([]byte(resp), &c, &b); err != nil {
		t.Fatal(err)
	}
	out, _ := translateStream(t, []byte("data: "+resp+"\r\n\r\n"), false)
	got := accumulateBytes(t, out)
	if len(got.Calls) != 2 || len(c.ToolCalls) != 2 {
		t.Fatalf("calls: %+v vs %+v", got.Calls, c.ToolCalls)
	}
	for i := range c.ToolCalls {
		if got.Calls[i].ID != c.ToolCalls[i].ID || got.Calls[i].Fn.Args != c.ToolCalls[i].Arguments || got.Calls[i].Fn.Name != "f" {
			t.Errorf("call %d: stream %+v, response %+v", i, got.Calls[i], c.ToolCalls[i])
		}
	}
	if c.ToolCalls[0].ID == c.ToolCalls[1].ID || !strings.HasSuffix(c.ToolCalls[0].ID, "__thought__c2ln") {
		t.Errorf("ids: %q %q", c.ToolCalls[0].ID, c.ToolCalls[1].ID)
	}
	if got.Finish != "tool_calls" {
		t.Errorf("finish = %q", got.Finish)
	}
}

func TestStreamUsage(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile("testdata/stream/function_calls.sse")
	if err != nil {
		t.Fatal(err)
	}
	_, u := translateStream(t, in, false)
	want := providers.Usage{PromptTokens: 50, CompletionTokens: 50, ReasoningTokens: 30, Set: true}
	if u != want {
		t.Errorf("usage = %+v, want %+v", u, want)
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	keyInvalid := `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int
		wantCode   string
	}{
		{"bad request", 400, `{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}`, 400, "invalid_argument"},
		{"key invalid", 400, keyInvalid, 502, "upstream_auth_failed"},
		{"array framing", 400, "[" + keyInvalid + "]", 502, "upstream_auth_failed"},
		{"forbidden", 403, `{"error":{"code":403,"message":"denied AIzaSyA-secretsecret","status":"PERMISSION_DENIED"}}`, 502, "upstream_auth_failed"},
		{"not found", 404, `{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}`, 404, "model_not_found"},
		{"quota", 429, `{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}`, 429, "rate_limit_exceeded"},
		{"internal", 500, `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`, 502, "internal"},
		{"overloaded", 503, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`, 503, "upstream_overloaded"},
		{"deadline", 504, `{"error":{"code":504,"message":"Deadline expired","status":"DEADLINE_EXCEEDED"}}`, 504, "upstream_timeout"},
		{"not json", 502, `<html>`, 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := ParseError("gemini", tt.status, []byte(tt.body), []byte("3"))
			if e.Status != tt.wantStatus || e.Code != tt.wantCode {
				t.Errorf("got %d %q, want %d %q", e.Status, e.Code, tt.wantStatus, tt.wantCode)
			}
			if strings.Contains(e.Message, "secret") {
				t.Errorf("message leaks a key: %s", e.Message)
			}
		})
	}
}

func TestSchemaReduction(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"drops unsupported", `{"$schema":"x","type":"object","additionalProperties":false,"properties":{"a":{"type":"string","format":"uri","minLength":1}},"required":["a"]}`,
			`{"type":"object","properties":{"a":{"type":"string","minLength":1}},"required":["a"]}`},
		{"nullable type array", `{"type":["null","integer"]}`, `{"type":"integer","nullable":true}`},
		{"oneOf with null", `{"oneOf":[{"type":"string"},{"type":"null"}]}`, `{"anyOf":[{"type":"string"}],"nullable":true}`},
		{"recursive ref", `{"$ref":"#"}`, `{"type":"object"}`},
		{"non-string enum", `{"type":"integer","enum":[1,2]}`, `{"type":"integer"}`},
		{"tuple items", `{"type":"array","items":[{"type":"string"},{"type":"number"}]}`, `{"type":"array","items":{"type":"string"}}`},
		{"not an object", `true`, `{"type":"object"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(appendSchema(nil, []byte(tt.in))); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSchemaBlowupBounded(t *testing.T) {
	t.Parallel()
	// Each definition refers to the next twice: naive inlining would write
	// 2^40 schemas.
	var b strings.Builder
	b.WriteString(`{"$ref":"#/$defs/d0","$defs":{`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		n := "d" + itoa(i+1)
		b.WriteString(`"d` + itoa(i) + `":{"type":"object","properties":{"x":{"$ref":"#/$defs/` + n + `"},"y":{"$ref":"#/$defs/` + n + `"}}}`)
	}
	b.WriteString(`,"d40":{"type":"string"}}}`)
	out := appendSchema(nil, []byte(b.String()))
	if len(out) > 1<<20 || !jsonValid(out) {
		t.Errorf("output of %d bytes", len(out))
	}
}

func itoa(i int) string { return string(wire.AppendInt(nil, i)) }

// TestThinkingBudget: reasoning_effort becomes a thinking budget, unless
// the model does not reason.
func TestThinkingBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, effort string
		noReasoning  bool
		want         string // "" when no thinkingConfig is sent
	}{
		{"low", "low", false, `"thinkingConfig":{"thinkingBudget":1024}`},
		{"medium", "medium", false, `"thinkingConfig":{"thinkingBudget":8192}`},
		{"high", "high", false, `"thinkingConfig":{"thinkingBudget":24576}`},
		{"minimal keeps the default", "minimal", false, ""},
		{"model does not reason", "high", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := decode(t, []byte(`{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"`+tc.effort+`"}`))
			defer providers.ReleaseRequest(r)
			call := testCall(r)
			call.NoReasoning = tc.noReasoning
			out, err := appendRequest(nil, call)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(out), "thinkingConfig"); got != (tc.want != "") || (tc.want != "" && !strings.Contains(string(out), tc.want)) {
				t.Fatalf("got %s", out)
			}
		})
	}
}

// TestRequestCapMaxTokens: Call.CapMaxTokens (set by the engine when it
// chose the model) caps generationConfig.maxOutputTokens; a smaller
// request keeps its own value.
func TestRequestCapMaxTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		body     string
		capAt    int
		want     string
		notFound bool
	}{
		{name: "capped", body: `{"max_tokens":32000,"messages":[{"role":"user","content":"hi"}]}`, capAt: 8192, want: `"maxOutputTokens":8192`},
		{name: "max_completion_tokens capped", body: `{"max_completion_tokens":32000,"messages":[{"role":"user","content":"hi"}]}`, capAt: 8192, want: `"maxOutputTokens":8192`},
		{name: "below the cap", body: `{"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, capAt: 8192, want: `"maxOutputTokens":100`},
		{name: "no cap", body: `{"max_tokens":32000,"messages":[{"role":"user","content":"hi"}]}`, want: `"maxOutputTokens":32000`},
		{name: "absent stays absent", body: `{"messages":[{"role":"user","content":"hi"}]}`, capAt: 8192, want: `maxOutputTokens`, notFound: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := decode(t, []byte(tc.body))
			defer providers.ReleaseRequest(r)
			call := testCall(r)
			call.CapMaxTokens = tc.capAt
			out, err := appendRequest(nil, call)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(out, []byte(tc.want)) == tc.notFound {
				t.Fatalf("%s in %s: want found=%v", tc.want, out, !tc.notFound)
			}
		})
	}
}
