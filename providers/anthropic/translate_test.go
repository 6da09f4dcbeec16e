package anthropic

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// Fixtures follow the public API documentation:
// https://docs.anthropic.com/en/api/messages (request and response objects),
// https://docs.anthropic.com/en/docs/build-with-claude/streaming (event
// sequences, including the tool use and extended thinking examples) and
// https://docs.anthropic.com/en/docs/build-with-claude/tool-use.

func decode(t testing.TB, body []byte) *providers.Request {
	t.Helper()
	r := providers.AcquireRequest()
	if err := r.Decode(body); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r
}

func testCall(r *providers.Request) *providers.Call {
	return &providers.Call{Req: r, Model: "claude-sonnet-4-20250514", ID: "chatcmpl-test", Created: 1741569952, MaxOutputTokens: 8192}
}

// TestRequestGolden: OpenAI request in → Anthropic request out.
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
			out, _, err := appendRequest(nil, testCall(r))
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
		{"array arguments", `{"messages":[{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{"n greater than one", `{"n":2,"messages":[{"role":"user","content":"hi"}]}`, "n"},
		{"audio part", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA","format":"wav"}}]}]}`, "messages[0].content[0].type"},
		{"bad image url", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"data url without base64", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}`, "messages[0].content[0].image_url.url"},
		{"file id", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}`, "messages[0].content[0].file.file_data"},
		{"function role", `{"messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{"custom tool", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type"},
		{"bad tool choice", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`, "tool_choice"},
		{"system image", `{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "messages[0].content[0].type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := decode(t, []byte(tt.body))
			defer providers.ReleaseRequest(r)
			_, _, err := appendRequest(nil, testCall(r))
			var ue *providers.UpstreamError
			if !errors.As(err, &ue) || ue.Status != 400 || ue.Param != tt.param {
				t.Fatalf("got %#v, want a 400 naming %s", err, tt.param)
			}
			var re *providers.RequestError
			if !errors.As(err, &re) {
				t.Errorf("error does not unwrap to a RequestError")
			}
		})
	}
}

func TestMaxTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		catalog int
		want    string
	}{
		{"from request", `{"max_tokens":77,"messages":[{"role":"user","content":"x"}]}`, 8192, `"max_tokens":77,`},
		{"max_completion_tokens wins", `{"max_tokens":77,"max_completion_tokens":99,"messages":[{"role":"user","content":"x"}]}`, 8192, `"max_tokens":99,`},
		{"from catalog", `{"messages":[{"role":"user","content":"x"}]}`, 8192, `"max_tokens":8192,`},
		{"default", `{"messages":[{"role":"user","content":"x"}]}`, 0, `"max_tokens":4096,`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := decode(t, []byte(tt.body))
			defer providers.ReleaseRequest(r)
			c := testCall(r)
			c.MaxOutputTokens = tt.catalog
			out, _, err := appendRequest(nil, c)
			if err != nil || !bytes.Contains(out, []byte(tt.want)) {
				t.Fatalf("got %s, %v; want %s", out, err, tt.want)
			}
		})
	}
}

// TestResponseGolden: Anthropic response in → OpenAI chat.completion out.
func TestResponseGolden(t *testing.T) {
	t.Parallel()
	for name, path := range inputs(t, "response", ".json") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c := providers.Completion{ID: "chatcmpl-test", Created: 1741569952, Model: "claude-sonnet-4-0"}
			var b respBuf
			if err := parseMessage(in, &c, reqInfo{jsonTool: strings.HasPrefix(name, "json_tool")}, &b); err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(path, ".json")+".golden.json", indent(t, c.AppendJSON(nil)))
		})
	}
}

// translateStream runs the stream translator over an upstream SSE body and
// returns everything it emitted.
func translateStream(t testing.TB, in []byte, info reqInfo, includeUsage bool) ([]byte, providers.Usage) {
	t.Helper()
	var tr Translator
	tr.Reset(bytes.NewReader(in), "anthropic", "chatcmpl-test", 1741569952, "claude-sonnet-4-0", includeUsage)
	tr.info = info
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

// TestStreamGolden: Anthropic SSE stream in → OpenAI chunk stream out.
func TestStreamGolden(t *testing.T) {
	t.Parallel()
	for name, path := range inputs(t, "stream", ".sse") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := translateStream(t, in, reqInfo{jsonTool: strings.HasPrefix(name, "json_tool")}, !strings.HasPrefix(name, "nousage"))
			validSSE(t, out)
			if !bytes.HasSuffix(out, []byte("data: [DONE]\n\n")) {
				t.Errorf("stream does not end with [DONE]")
			}
			golden(t, strings.TrimSuffix(path, ".sse")+".golden.sse", out)
		})
	}
}

func TestStreamUsage(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile("testdata/stream/tool_use.sse")
	if err != nil {
		t.Fatal(err)
	}
	_, u := translateStream(t, in, reqInfo{}, false)
	want := providers.Usage{PromptTokens: 472 + 10 + 300, CompletionTokens: 89, CachedTokens: 300, CacheWriteTokens: 10, Set: true}
	if u != want {
		t.Errorf("usage = %+v, want %+v", u, want)
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int
		wantCode   string
	}{
		{"bad request", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`, 400, "invalid_request_error"},
		{"our key refused", 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-api03-abcdef"}}`, 502, "upstream_auth_failed"},
		{"forbidden", 403, `{"type":"error","error":{"type":"permission_error","message":"no"}}`, 502, "upstream_auth_failed"},
		{"not found", 404, `{"type":"error","error":{"type":"not_found_error","message":"model: claude-x"}}`, 404, "not_found_error"},
		{"too large", 413, `{"type":"error","error":{"type":"request_too_large","message":"big"}}`, 413, "request_too_large"},
		{"rate limited", 429, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, 429, "rate_limit_exceeded"},
		{"api error", 500, `{"type":"error","error":{"type":"api_error","message":"oops"}}`, 502, "api_error"},
		{"overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, 503, "upstream_overloaded"},
		{"gateway timeout", 504, `upstream timed out`, 504, "upstream_timeout"},
		{"not json", 502, `<html>bad gateway</html>`, 502, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := ParseError("anthropic", tt.status, []byte(tt.body), []byte("3"))
			if e.Status != tt.wantStatus || e.Code != tt.wantCode {
				t.Errorf("got %d %q, want %d %q", e.Status, e.Code, tt.wantStatus, tt.wantCode)
			}
			if strings.Contains(e.Message, "abcdef") {
				t.Errorf("message leaks a key: %s", e.Message)
			}
			if e.RetryAfter.Seconds() != 3 {
				t.Errorf("RetryAfter = %v", e.RetryAfter)
			}
		})
	}
}
