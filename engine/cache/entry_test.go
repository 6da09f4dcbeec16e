package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

var update = flag.Bool("update", false, "rewrite golden files")

// openAIStream is a stream as OpenAI sends it (and the openai relay passes
// it on): usage:null on every chunk, a system_fingerprint, a tool call whose
// arguments arrive in fragments, and the include_usage chunk.
const openAIStream = `data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Let me "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"check \"that\" — ünïcode."},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_Q1","type":"function","function":{"name":"read_file","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"pa"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"th\":\"main.go\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_Q2","type":"function","function":{"name":"list_dir","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}

data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":120,"completion_tokens":31,"total_tokens":151,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}

data: [DONE]

`

func wantOpenAIEntry() *Entry {
	return &Entry{
		Model: "gpt-4o-2024-08-06", Created: 1741570283,
		Content: []byte(`Let me check "that" — ünïcode.`),
		ToolCalls: []providers.ToolCall{
			{ID: "call_Q1", Type: "function", Name: "read_file", Arguments: `{"path":"main.go"}`},
			{ID: "call_Q2", Type: "function", Name: "list_dir", Arguments: `{}`},
		},
		Finish: "tool_calls",
		Usage:  providers.Usage{PromptTokens: 120, CompletionTokens: 31, CachedTokens: 64, Set: true},
	}
}

// sameAnswer compares the answer fields of two entries.
func sameAnswer(t *testing.T, got, want *Entry) {
	t.Helper()
	g, w := answerOf(got), answerOf(want)
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.MarshalIndent(g, "", " ")
		wj, _ := json.MarshalIndent(w, "", " ")
		t.Fatalf("entry:\n%s\nwant:\n%s", gj, wj)
	}
}

type answer struct {
	Model                       string
	Created                     int64
	Content, Reasoning, Refusal string
	ToolCalls                   []providers.ToolCall
	Finish                      string
	Usage                       providers.Usage
}

func answerOf(e *Entry) answer {
	a := answer{Model: e.Model, Created: e.Created, Content: string(e.Content), Reasoning: string(e.Reasoning),
		Refusal: string(e.Refusal), Finish: e.Finish, Usage: e.Usage}
	if len(e.ToolCalls) > 0 {
		a.ToolCalls = e.ToolCalls
	}
	if a.Usage == (providers.Usage{Set: true}) {
		a.Usage.Set = false // a rendered answer always carries a usage object
	}
	return a
}

func assemble(t testing.TB, stream string) (*Entry, error) {
	var a Assembler
	a.Write([]byte(stream))
	return a.Entry("fallback-model")
}

func TestAssemblerOpenAIStream(t *testing.T) {
	t.Parallel()
	e, err := assemble(t, openAIStream)
	if err != nil {
		t.Fatal(err)
	}
	sameAnswer(t, e, wantOpenAIEntry())
}

// TestAssemblerSplitAnywhere feeds the stream split at every byte offset.
func TestAssemblerSplitAnywhere(t *testing.T) {
	t.Parallel()
	want := wantOpenAIEntry()
	var a Assembler
	for i := 0; i <= len(openAIStream); i += 7 {
		a.Reset()
		a.Write([]byte(openAIStream[:i]))
		a.Write([]byte(openAIStream[i:]))
		e, err := a.Entry("")
		if err != nil {
			t.Fatalf("split at %d: %v", i, err)
		}
		sameAnswer(t, e, want)
	}
	// And byte by byte, with CRLF line ends.
	a.Reset()
	crlf := strings.ReplaceAll(openAIStream, "\n", "\r\n")
	for i := 0; i < len(crlf); i++ {
		a.Write([]byte{crlf[i]})
	}
	e, err := a.Entry("")
	if err != nil {
		t.Fatal(err)
	}
	sameAnswer(t, e, want)
}

func TestAssemblerRefuses(t *testing.T) {
	t.Parallel()
	lines := strings.SplitAfter(openAIStream, "\n\n")
	noDone := strings.Join(lines[:len(lines)-2], "")
	noFinish := strings.Join(append(append([]string{}, lines[:7]...), lines[8:]...), "")
	errEvent := strings.Join(lines[:3], "") + string(providers.AppendErrorEvent(nil, "upstream_error", "upstream_error", "upstream openai stream failed: reset"))
	tests := []struct {
		name   string
		stream string
		want   error
	}{
		{name: "no [DONE]", stream: noDone, want: ErrIncomplete},
		{name: "no finish_reason", stream: noFinish, want: ErrIncomplete},
		{name: "in-stream error event", stream: errEvent, want: ErrUpstreamFailed},
		{name: "empty", stream: "", want: ErrIncomplete},
		{name: "two choices", stream: strings.Replace(openAIStream, `"choices":[{"index":0,"delta":{"content":"Let me "}`, `"choices":[{"index":1,"delta":{"content":"Let me "}`, 1), want: ErrNotCacheable},
		{name: "logprobs", stream: strings.Replace(openAIStream, `"delta":{"content":"Let me "},"logprobs":null`, `"delta":{"content":"Let me "},"logprobs":{"content":[]}`, 1), want: ErrNotCacheable},
		{name: "not JSON", stream: "data: {oops\n\n" + openAIStream, want: ErrNotCacheable},
		{name: "data after [DONE]", stream: openAIStream + lines[1], want: ErrNotCacheable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := assemble(t, tt.stream)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAssemblerUsageFromStream(t *testing.T) {
	t.Parallel()
	lines := strings.SplitAfter(openAIStream, "\n\n")
	noUsage := strings.Join(append(append([]string{}, lines[:8]...), lines[9:]...), "")
	var a Assembler
	a.Write([]byte(noUsage))
	a.SetUsage(providers.Usage{PromptTokens: 1, CompletionTokens: 2, Set: true})
	e, err := a.Entry("")
	if err != nil {
		t.Fatal(err)
	}
	if e.Usage.PromptTokens != 1 || e.Usage.CompletionTokens != 2 {
		t.Fatalf("usage %+v", e.Usage)
	}
}

const openAICompletion = `{
  "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
  "object": "chat.completion",
  "created": 1741570283,
  "model": "gpt-4o-2024-08-06",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Let me check \"that\" \u2014 \u00fcn\u00efcode.",
        "refusal": null,
        "tool_calls": [
          {"id": "call_Q1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"main.go\"}"}},
          {"id": "call_Q2", "type": "function", "function": {"name": "list_dir", "arguments": "{}"}}
        ],
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "tool_calls"
    }
  ],
  "usage": {"prompt_tokens": 120, "completion_tokens": 31, "total_tokens": 151,
    "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
  "service_tier": "default",
  "system_fingerprint": "fp_1"
}`

func TestParseCompletion(t *testing.T) {
	t.Parallel()
	e, err := ParseCompletion([]byte(openAICompletion), "")
	if err != nil {
		t.Fatal(err)
	}
	sameAnswer(t, e, wantOpenAIEntry())

	for _, tt := range []struct {
		name, body string
		want       error
	}{
		{"error body", `{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}`, ErrUpstreamFailed},
		{"two choices", `{"choices":[{"index":0,"message":{"content":"a"},"finish_reason":"stop"},{"index":1,"message":{"content":"b"},"finish_reason":"stop"}]}`, ErrNotCacheable},
		{"audio", `{"choices":[{"index":0,"message":{"content":null,"audio":{"id":"a"}},"finish_reason":"stop"}]}`, ErrNotCacheable},
		{"no finish", `{"choices":[{"index":0,"message":{"content":"a"}}]}`, ErrIncomplete},
		{"not JSON", `{"choices":`, ErrNotCacheable},
	} {
		if _, err := ParseCompletion([]byte(tt.body), ""); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// entries are the shapes the golden files cover.
func goldenEntries() map[string]*Entry {
	long := strings.Repeat("The gateway answers from its cache without calling the upstream. ", 6) + "日本語のテキストも正しく分割されます。"
	return map[string]*Entry{
		"text":      {Model: "gpt-4o", Created: 1700000000, Content: []byte(long), Finish: "stop", Usage: providers.Usage{PromptTokens: 12, CompletionTokens: 80, Set: true}},
		"tools":     wantOpenAIEntry(),
		"reasoning": {Model: "deepseek-reasoner", Created: 1700000001, Reasoning: []byte("First, 2+2. Then check the carry: none."), Content: []byte("4"), Finish: "stop", Usage: providers.Usage{PromptTokens: 5, CompletionTokens: 20, ReasoningTokens: 15, Set: true}},
		"refusal":   {Model: "gpt-4o", Created: 1700000002, Refusal: []byte("I can't help with that."), Finish: "stop"},
		"length":    {Model: "mock-model", Created: 1700000003, Content: []byte("Truncated answ"), Finish: "length", Usage: providers.Usage{PromptTokens: 3, CompletionTokens: 4, Set: true}},
	}
}

// rebuild encodes e's answer the way the builder does, so that test entries
// carry a real body.
func rebuild(t testing.TB, e *Entry) *Entry {
	t.Helper()
	var b builder
	b.created, b.model, b.finish, b.content, b.reasoning, b.refusal, b.usage = e.Created, []byte(e.Model), []byte(e.Finish), e.Content, e.Reasoning, e.Refusal, e.Usage
	for i, tc := range e.ToolCalls {
		b.tools = append(b.tools, toolAcc{index: i, id: []byte(tc.ID), typ: []byte(tc.Type), name: []byte(tc.Name), args: []byte(tc.Arguments)})
	}
	out, err := b.entry("")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func drain(t testing.TB, s providers.Stream) []byte {
	t.Helper()
	var out []byte
	for {
		b, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "replay", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file (run with -update after checking):\n%s", path, got)
	}
}

// TestReplayGolden renders every golden entry as a stream (with and without
// the usage chunk) and as a chat.completion, checks them against the golden
// files, and checks that assembling the stream and parsing the body give the
// entry back: a stream hit and a non-stream hit come from the same entry.
func TestReplayGolden(t *testing.T) {
	for name, e := range goldenEntries() {
		t.Run(name, func(t *testing.T) {
			e := rebuild(t, e)
			for _, usage := range []bool{false, true} {
				r := AcquireReplay(e, "chatcmpl-hit", usage)
				sse := drain(t, r)
				ReleaseReplay(r)
				suffix := ".sse"
				if usage {
					suffix = ".usage.sse"
				}
				golden(t, name+suffix, sse)
				checkSSE(t, sse, usage)
				var a Assembler
				a.Write(sse)
				a.SetUsage(e.Usage)
				back, err := a.Entry("")
				if err != nil {
					t.Fatal(err)
				}
				sameAnswer(t, back, e)
			}
			body := e.AppendCompletion(nil, "chatcmpl-hit")
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				t.Fatalf("completion is not JSON: %v\n%s", err, body)
			}
			golden(t, name+".json", append(pretty.Bytes(), '\n'))
			back, err := ParseCompletion(body, "")
			if err != nil {
				t.Fatal(err)
			}
			want := *e
			if want.Finish == "" {
				want.Finish = "stop"
			}
			sameAnswer(t, back, &want)
		})
	}
}

// checkSSE checks the framing a client relies on: every event is
// "data: <json>\n\n", the first carries the role, exactly one carries a
// finish_reason, the usage chunk is there only when asked, [DONE] ends it.
func checkSSE(t *testing.T, sse []byte, usage bool) {
	t.Helper()
	events := strings.Split(strings.TrimSuffix(string(sse), "\n\n"), "\n\n")
	if events[len(events)-1] != "data: [DONE]" {
		t.Fatalf("last event %q", events[len(events)-1])
	}
	finishes, usages := 0, 0
	for i, ev := range events[:len(events)-1] {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("event %d is not one data line: %q", i, ev)
		}
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta        map[string]any `json:"delta"`
				FinishReason *string        `json:"finish_reason"`
			} `json:"choices"`
			Usage *providers.Usage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, data)
		}
		if c.Object != "chat.completion.chunk" {
			t.Fatalf("event %d object %q", i, c.Object)
		}
		if i == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta["role"] != "assistant") {
			t.Fatalf("first event has no role: %s", data)
		}
		if len(c.Choices) == 1 && c.Choices[0].FinishReason != nil {
			finishes++
		}
		if c.Usage != nil {
			usages++
		}
	}
	if finishes != 1 {
		t.Fatalf("%d finish chunks", finishes)
	}
	if want := map[bool]int{false: 0, true: 1}[usage]; usages != want {
		t.Fatalf("%d usage chunks, want %d", usages, want)
	}
}

func TestStoredRoundTrip(t *testing.T) {
	t.Parallel()
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	for name, e := range goldenEntries() {
		e := rebuild(t, e)
		for _, compressAt := range []int{0, 1, 1 << 20} {
			b := appendStored(nil, e, &k, 1234567890, compressAt)
			got, err := decodeStored(b)
			if err != nil {
				t.Fatalf("%s/%d: %v", name, compressAt, err)
			}
			sameAnswer(t, got, e)
			if got.Project != "acme" || got.Provider != "openai" || got.UpstreamModel != "gpt-4o" || got.Expires != 1234567890 || got.sum != k.Sum {
				t.Fatalf("%s: header %+v", name, got)
			}
		}
	}
	// A long answer compresses.
	e := rebuild(t, &Entry{Model: "m", Content: bytes.Repeat([]byte("compressible text "), 500), Finish: "stop"})
	plain, packed := appendStored(nil, e, &k, 1, 0), appendStored(nil, e, &k, 1, 1024)
	if len(packed) >= len(plain)/2 || packed[2] != flagS2 {
		t.Fatalf("compressed %d bytes to %d", len(plain), len(packed))
	}
	for i := range packed {
		if _, err := decodeStored(packed[:i]); err == nil {
			t.Fatalf("truncated at %d decodes", i)
		}
	}
}
