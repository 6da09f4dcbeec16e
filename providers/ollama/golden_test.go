package ollama

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden is the providers' shared golden-file check.
func golden(t *testing.T, path string, got []byte) { providertest.Golden(t, path, got, *update) }

// indent pretty-prints compact JSON for readable golden files; the key
// order and string escapes are kept.
func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("output is not valid JSON: %v\n%s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func decode(t testing.TB, body []byte) *providers.Request {
	t.Helper()
	r := providers.AcquireRequest()
	t.Cleanup(func() { providers.ReleaseRequest(r) })
	if err := r.Decode(body); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r
}

func testCall(r *providers.Request) *providers.Call {
	return &providers.Call{Req: r, Model: "llama3.2", ID: "chatcmpl-test1", Created: 1751919739}
}

// TestRequestGolden: OpenAI request in → Ollama /api/chat body out.
func TestRequestGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		numCtx int // the configured default num_ctx
	}{
		{name: "basic"},
		{name: "developer_parts", numCtx: 8192},
		{name: "image"},
		{name: "tools"},
		{name: "tool_roundtrip"},
		{name: "tool_choice_none"},
		{name: "json_object"},
		{name: "json_schema"},
		{name: "ollama_extensions", numCtx: 4096}, // the body's num_ctx wins
		{name: "escapes"},
		{name: "legacy_function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", "request", tt.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			r := decode(t, in)
			got, err := appendRequest(nil, testCall(r), tt.numCtx)
			if err != nil {
				t.Fatalf("appendRequest: %v", err)
			}
			if bytes.ContainsAny(got, "\n\r") {
				t.Errorf("body is not compact: %s", got)
			}
			golden(t, filepath.Join("testdata", "request", tt.name+".golden"), indent(t, got))
		})
	}
}

// TestRequestErrors: requests Ollama cannot express are 400s naming the field.
func TestRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, param, msg string
	}{
		{
			name:  "http image",
			body:  `{"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`,
			param: "messages[0].content[1].image_url.url", msg: "cannot fetch image URLs",
		},
		{
			name:  "data url without base64",
			body:  `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/svg+xml,%3Csvg%3E"}}]}]}`,
			param: "messages[0].content[0].image_url.url", msg: "base64",
		},
		{
			name:  "data url bad alphabet",
			body:  `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,ab-_"}}]}]}`,
			param: "messages[0].content[0].image_url.url", msg: "standard base64",
		},
		{
			name:  "data url empty",
			body:  `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,"}}]}]}`,
			param: "messages[0].content[0].image_url.url", msg: "no image data",
		},
		{
			name:  "relative image url",
			body:  `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"cat.png"}}]}]}`,
			param: "messages[0].content[0].image_url.url", msg: "data: URL",
		},
		{
			name:  "audio part",
			body:  `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}`,
			param: "messages[0].content[0].type", msg: "input_audio",
		},
		{
			name:  "arguments not JSON",
			body:  `{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]}`,
			param: "messages[1].tool_calls[0].function.arguments", msg: "JSON object",
		},
		{
			name:  "arguments an array",
			body:  `{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`,
			param: "messages[1].tool_calls[0].function.arguments", msg: "JSON object",
		},
		{
			name:  "custom tool call",
			body:  `{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"custom","function":{"name":"f","arguments":"{}"}}]}]}`,
			param: "messages[1].tool_calls[0].type", msg: "function",
		},
		{
			name:  "custom tool",
			body:  `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"grammar"}}]}`,
			param: "tools[0].type", msg: "function",
		},
		{
			name:  "n above one",
			body:  `{"messages":[{"role":"user","content":"x"}],"n":2}`,
			param: "n", msg: "single choice",
		},
		{
			name:  "num_ctx not a number",
			body:  `{"messages":[{"role":"user","content":"x"}],"num_ctx":"big"}`,
			param: "num_ctx", msg: "positive integer",
		},
		{
			name:  "num_ctx zero",
			body:  `{"messages":[{"role":"user","content":"x"}],"num_ctx":0}`,
			param: "num_ctx", msg: "positive integer",
		},
		{
			name:  "options not an object",
			body:  `{"messages":[{"role":"user","content":"x"}],"options":[1]}`,
			param: "options", msg: "object",
		},
		{
			name:  "keep_alive object",
			body:  `{"messages":[{"role":"user","content":"x"}],"keep_alive":{}}`,
			param: "keep_alive", msg: "duration",
		},
		{
			name:  "think number",
			body:  `{"messages":[{"role":"user","content":"x"}],"think":1}`,
			param: "think", msg: "boolean",
		},
		{
			name:  "penalty string",
			body:  `{"messages":[{"role":"user","content":"x"}],"presence_penalty":"high"}`,
			param: "presence_penalty", msg: "number",
		},
		{
			name:  "json_schema without schema",
			body:  `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"x"}}}`,
			param: "response_format.json_schema.schema", msg: "required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := decode(t, []byte(tt.body))
			_, err := appendRequest(nil, testCall(r), 0)
			var re *providers.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *providers.RequestError", err, err)
			}
			if re.Param != tt.param || !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("got %q: %q, want %q containing %q", re.Param, re.Msg, tt.param, tt.msg)
			}
		})
	}
}

// TestProviderNumCtx: the per-model window beats the provider default.
func TestProviderNumCtx(t *testing.T) {
	t.Parallel()
	p, err := New(Config{BaseURL: "http://127.0.0.1:11434", NumCtx: 2048, ModelNumCtx: map[string]int{"qwen2.5-coder": 32768}})
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, []byte(`{"messages":[{"role":"user","content":"x"}]}`))
	tests := []struct{ model, want string }{
		{"qwen2.5-coder", `"num_ctx":32768`},
		{"llama3.2", `"num_ctx":2048`},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			got, err := p.AppendRequest(nil, &providers.Call{Req: r, Model: tt.model})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(got, []byte(tt.want)) {
				t.Errorf("body %s lacks %s", got, tt.want)
			}
		})
	}
}

// TestResponseGolden: Ollama non-streaming answer in → OpenAI
// chat.completion out.
func TestResponseGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		wantUsage providers.Usage
		wantModel string
	}{
		{name: "text", wantUsage: providers.Usage{PromptTokens: 26, CompletionTokens: 298, Set: true}, wantModel: "llama3.2"},
		{name: "tool_call", wantUsage: providers.Usage{PromptTokens: 122, CompletionTokens: 33, Set: true}, wantModel: "llama3.2"},
		{name: "tool_calls_with_ids", wantUsage: providers.Usage{PromptTokens: 200, CompletionTokens: 40, CachedTokens: 150, Set: true}, wantModel: "qwen3:8b"},
		{name: "thinking", wantUsage: providers.Usage{PromptTokens: 12, CompletionTokens: 50, Set: true}, wantModel: "deepseek-r1:8b"},
		{name: "length", wantUsage: providers.Usage{PromptTokens: 26, CompletionTokens: 8, Set: true}, wantModel: "llama3.2"},
		{name: "structured", wantUsage: providers.Usage{PromptTokens: 34, CompletionTokens: 12, Set: true}, wantModel: "llama3.1"},
		{name: "load", wantModel: "llama3.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", "response", tt.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			call := &providers.Call{Model: "requested-model", ID: "chatcmpl-test1", Created: 1751919739}
			got, usage, model, err := AppendCompletion(nil, in, call)
			if err != nil {
				t.Fatalf("AppendCompletion: %v", err)
			}
			if usage != tt.wantUsage {
				t.Errorf("usage = %+v, want %+v", usage, tt.wantUsage)
			}
			if model != tt.wantModel {
				t.Errorf("model = %q, want %q", model, tt.wantModel)
			}
			golden(t, filepath.Join("testdata", "response", tt.name+".golden"), indent(t, got))
		})
	}
}

func TestResponseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		upstream   bool // an *UpstreamError rather than ErrBadResponse
	}{
		{name: "error body", body: `{"error":"model runner has unexpectedly stopped"}`, upstream: true},
		{name: "not json", body: `<html>bad gateway</html>`},
		{name: "array", body: `[1,2]`},
		{name: "empty", body: ``},
		{name: "truncated", body: `{"model":"x","message":{"content":"hi"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, _, err := AppendCompletion(nil, []byte(tt.body), &providers.Call{Model: "m"})
			var ue *providers.UpstreamError
			if tt.upstream {
				if !errors.As(err, &ue) || ue.Status != 502 || !strings.Contains(ue.Message, "unexpectedly stopped") {
					t.Errorf("err = %v, want a 502 UpstreamError with Ollama's message", err)
				}
				return
			}
			if !errors.Is(err, ErrBadResponse) {
				t.Errorf("err = %v, want ErrBadResponse", err)
			}
		})
	}
}

// drain reads a whole stream and returns what the client receives.
func drain(t testing.TB, s providers.Stream) []byte {
	t.Helper()
	var out []byte
	for i := 0; ; i++ {
		b, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(b) == 0 {
			t.Fatal("Next returned no bytes")
		}
		if i > 100000 {
			t.Fatal("stream does not end")
		}
		out = append(out, b...)
	}
}

// TestStreamGolden: Ollama NDJSON stream in → OpenAI SSE stream out.
func TestStreamGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input  string
		includeUsage bool
		wantUsage    providers.Usage
	}{
		{name: "text", input: "text", wantUsage: providers.Usage{PromptTokens: 26, CompletionTokens: 282, Set: true}},
		{name: "text.usage", input: "text", includeUsage: true, wantUsage: providers.Usage{PromptTokens: 26, CompletionTokens: 282, Set: true}},
		{name: "thinking", input: "thinking", wantUsage: providers.Usage{PromptTokens: 10, CompletionTokens: 5, Set: true}},
		{name: "tool_call", input: "tool_call", includeUsage: true, wantUsage: providers.Usage{PromptTokens: 180, CompletionTokens: 35, Set: true}},
		{name: "parallel_tools", input: "parallel_tools", includeUsage: true, wantUsage: providers.Usage{PromptTokens: 300, CompletionTokens: 60, CachedTokens: 256, Set: true}},
		{name: "length", input: "length", wantUsage: providers.Usage{PromptTokens: 5, CompletionTokens: 2, Set: true}},
		{name: "crlf_escapes", input: "crlf_escapes", wantUsage: providers.Usage{PromptTokens: 1, CompletionTokens: 2, Set: true}},
		{name: "error_line", input: "error_line", includeUsage: true},
		{name: "error_first", input: "error_first"},
		{name: "malformed", input: "malformed"},
		{name: "truncated", input: "truncated", includeUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", "stream", tt.input+".ndjson"))
			if err != nil {
				t.Fatal(err)
			}
			r := decode(t, []byte(`{"model":"llama3.2","messages":[{"role":"user","content":"x"}],"stream":true}`))
			r.IncludeUsage = tt.includeUsage
			var s Stream
			s.Reset(bytes.NewReader(in), testCall(r), "ollama")
			got := drain(t, &s)
			checkSSE(t, got)
			if u := s.Usage(); u != tt.wantUsage {
				t.Errorf("usage = %+v, want %+v", u, tt.wantUsage)
			}
			golden(t, filepath.Join("testdata", "stream", tt.name+".golden"), got)
		})
	}
}

// checkSSE asserts that b is a sequence of "data: …\n\n" events whose data
// is valid JSON, ending with exactly one [DONE].
func checkSSE(t testing.TB, b []byte) {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
		t.Fatalf("stream does not end with [DONE]:\n%s", b)
	}
	events := bytes.Split(bytes.TrimSuffix(b, []byte("\n\n")), []byte("\n\n"))
	for i, ev := range events {
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok {
			t.Fatalf("event %d is not a data event: %q", i, ev)
		}
		if string(data) == "[DONE]" {
			if i != len(events)-1 {
				t.Fatalf("[DONE] before the end (event %d of %d)", i, len(events))
			}
			continue
		}
		if err := jsonscan.Validate(data); err != nil || jsonscan.KindOf(data) != jsonscan.Object {
			t.Fatalf("event %d is not a JSON object (%v): %s", i, err, data)
		}
	}
}

// TestRequestCapMaxTokens: Call.CapMaxTokens (set by the engine when it
// chose the model) caps options.num_predict; a smaller request keeps its
// own value.
func TestRequestCapMaxTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		capAt      int
		want       string
	}{
		{"capped", `{"max_tokens":32000,"messages":[{"role":"user","content":"hi"}]}`, 8192, `"num_predict":8192`},
		{"below the cap", `{"max_completion_tokens":100,"messages":[{"role":"user","content":"hi"}]}`, 8192, `"num_predict":100`},
		{"no cap", `{"max_tokens":32000,"messages":[{"role":"user","content":"hi"}]}`, 0, `"num_predict":32000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := decode(t, []byte(tc.body))
			call := testCall(r)
			call.CapMaxTokens = tc.capAt
			out, err := appendRequest(nil, call, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte(tc.want)) {
				t.Fatalf("no %s in %s", tc.want, out)
			}
		})
	}
}
