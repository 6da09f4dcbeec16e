package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aigateway/gateway/bench/payload"

	"github.com/aigateway/gateway/internal/jsonscan"
)

const codingRequest = `{
  "model": "gpt-4o",
  "stream": true,
  "stream_options": {"include_usage": true},
  "temperature": 0.2,
  "top_p": 0.9,
  "max_completion_tokens": 1024,
  "stop": ["\n\nUser:"],
  "seed": 7,
  "user": "u-1",
  "parallel_tool_calls": false,
  "response_format": {"type": "json_object"},
  "tool_choice": {"type": "function", "function": {"name": "read_file"}},
  "tools": [{"type": "function", "function": {"name": "read_file", "description": "Read a file", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}, "strict": true}}],
  "messages": [
    {"role": "system", "content": "You are a coding assistant.\nBe terse."},
    {"role": "user", "content": [{"type": "text", "text": "Fix \"main.go\"\u0021"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"main.go\"}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "package main"},
    {"role": "user", "content": "thanks", "name": "dev"}
  ],
  "logit_bias": {"50256": -100}
}`

func TestDecodeFull(t *testing.T) {
	t.Parallel()
	r := AcquireRequest()
	defer ReleaseRequest(r)
	if err := r.Decode([]byte(codingRequest)); err != nil {
		t.Fatal(err)
	}
	if r.Model != "gpt-4o" || !r.Stream || !r.IncludeUsage || r.Temperature != (Float{0.2, true}) || r.TopP != (Float{0.9, true}) ||
		r.MaxTokens != 1024 || len(r.Stop) != 1 || r.Stop[0] != "\n\nUser:" || r.Seed != (Int{7, true}) || r.User != "u-1" || r.ParallelTools != False {
		t.Fatalf("scalars: %+v", r)
	}
	if !r.WantsJSON() || !r.HasImages() || string(jsonscan.Get(r.ToolChoice, "type")) != `"function"` {
		t.Fatal("response_format / images / tool_choice")
	}
	if len(r.Tools) != 1 || r.Tools[0].Name != "read_file" || r.Tools[0].Strict != True || !strings.Contains(string(r.Tools[0].Parameters), `"required"`) {
		t.Fatalf("tools: %+v", r.Tools)
	}
	if len(r.Messages) != 5 {
		t.Fatalf("messages: %d", len(r.Messages))
	}
	m := r.Messages
	if m[0].Role != "system" || m[0].Content != "You are a coding assistant.\nBe terse." {
		t.Fatalf("system: %+v", m[0])
	}
	if len(m[1].Parts) != 2 || m[1].Parts[0].Text != `Fix "main.go"!` || m[1].Parts[1].ImageURL != "data:image/png;base64,AAAA" || m[1].Parts[1].Detail != "low" {
		t.Fatalf("parts: %+v", m[1].Parts)
	}
	if m[1].Text() != `Fix "main.go"!` {
		t.Fatalf("text: %q", m[1].Text())
	}
	if len(m[2].ToolCalls) != 1 || m[2].ToolCalls[0].Arguments != `{"path":"main.go"}` || m[2].ToolCalls[0].ID != "call_1" {
		t.Fatalf("tool calls: %+v", m[2].ToolCalls)
	}
	if m[3].ToolCallID != "call_1" || m[3].Content != "package main" || m[4].Name != "dev" {
		t.Fatalf("tool result / name: %+v %+v", m[3], m[4])
	}
	// Spans point at the right bytes.
	if got := string(r.Body[m[4].ContentSpan.Start:m[4].ContentSpan.End]); got != `"thanks"` {
		t.Fatalf("content span = %s", got)
	}
	if got := string(r.Body[m[3].Span.Start:m[3].Span.End]); !strings.HasPrefix(got, `{"role": "tool"`) || !strings.HasSuffix(got, `}`) {
		t.Fatalf("message span = %s", got)
	}
	f, ok := r.Field("logit_bias")
	if !ok || string(r.Body[f.Start:f.End]) != `"logit_bias": {"50256": -100}` || string(r.Body[f.ValStart:f.End]) != `{"50256": -100}` {
		t.Fatalf("unknown field span: %+v", f)
	}
	if len(r.Fields) != 15 {
		t.Fatalf("fields: %d", len(r.Fields))
	}
}

func TestDecodeReuse(t *testing.T) {
	t.Parallel()
	r := AcquireRequest()
	defer ReleaseRequest(r)
	if err := r.Decode([]byte(codingRequest)); err != nil {
		t.Fatal(err)
	}
	r.Reset()
	if err := r.Decode([]byte(`{"model":"m","messages":[{"role":"user","content":"only"}]}`)); err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 1 || len(r.Messages[0].Parts) != 0 || r.Messages[0].Content != "only" || len(r.Tools) != 0 || r.Stream || len(r.Fields) != 2 {
		t.Fatalf("state leaked across Reset: %+v", r)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, param string }{
		{"truncated", `{"messages":[`, ""},
		{"trailing garbage", `{"messages":[]} x`, ""},
		{"number model", `{"model":1,"messages":[{"role":"user","content":"x"}]}`, "model"},
		{"part without type", `{"messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type"},
		{"image without url", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, "messages[0].content[0].image_url.url"},
		{"content number", `{"messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{"user without content", `{"messages":[{"role":"user"}]}`, "messages[0].content"},
		{"tool call without name", `{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].function.name"},
		{"stop number", `{"messages":[{"role":"user","content":"x"}],"stop":3}`, "stop"},
		{"n too big", `{"messages":[{"role":"user","content":"x"}],"n":1000}`, "n"},
		{"top_p high", `{"messages":[{"role":"user","content":"x"}],"top_p":1.5}`, "top_p"},
		{"seed float", `{"messages":[{"role":"user","content":"x"}],"seed":1.5}`, "seed"},
		{"response_format no type", `{"messages":[{"role":"user","content":"x"}],"response_format":{}}`, "response_format.type"},
		{"response_format unknown type", `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}`, "response_format.type"},
		{"json_schema without json_schema", `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}`, "response_format.json_schema"},
		{"json_schema without name", `{"response_format":{"json_schema":{"schema":{}},"type":"json_schema"},"messages":[{"role":"user","content":"x"}]}`, "response_format.json_schema.name"},
		{"stream_options without stream", `{"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, "stream_options"},
		{"stream_options before stream false", `{"stream_options":{},"messages":[{"role":"user","content":"x"}],"stream":false}`, "stream_options"},
		{"logprobs string", `{"messages":[{"role":"user","content":"x"}],"logprobs":"yes"}`, "logprobs"},
		{"top_logprobs 21", `{"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":21}`, "top_logprobs"},
		{"top_logprobs alone", `{"top_logprobs":1,"messages":[{"role":"user","content":"x"}]}`, "top_logprobs"},
		{"allowed_tools without its object", `{"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"allowed_tools"}}`, "tool_choice.allowed_tools"},
		{"allowed_tools empty", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[ ]}}}`, "tool_choice.allowed_tools.tools"},
		{"allowed_tools bad mode", `{"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"any","tools":[]}}}`, "tool_choice.allowed_tools.mode"},
		{"allowed_tools unknown tool", `{"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"b"}}]}},"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}}]}`, "tool_choice.allowed_tools.tools[0].function.name"},
		{"deep nesting", `{"messages":[{"role":"user","content":"x"}],"x":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := AcquireRequest()
			defer ReleaseRequest(r)
			err := r.Decode([]byte(tc.body))
			re, ok := err.(*RequestError)
			if !ok {
				t.Fatalf("err = %v (%T)", err, err)
			}
			if re.Param != tc.param {
				t.Fatalf("param = %q, want %q (%v)", re.Param, tc.param, err)
			}
		})
	}
}

// TestDecodeAgreesWithEncodingJSON cross-checks the scanner's string
// unescaping against the standard library on tricky escapes.
func TestDecodeAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`"\ud83d\ude00 emoji"`, `"\u00e9\t\\\"/"`, `"\ud800 lone surrogate"`, `"plain"`} {
		body := `{"messages":[{"role":"user","content":` + s + `}]}`
		r := AcquireRequest()
		if err := r.Decode([]byte(body)); err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatal(err)
		}
		if r.Messages[0].Content != want {
			t.Errorf("%s: got %q want %q", s, r.Messages[0].Content, want)
		}
		ReleaseRequest(r)
	}
}

func TestDecodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	body := []byte(codingRequest)
	r := AcquireRequest()
	defer ReleaseRequest(r)
	_ = r.Decode(body)
	n := testing.AllocsPerRun(200, func() {
		r.Reset()
		if err := r.Decode(body); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("Decode allocates %.1f times per request in steady state", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, size := range []struct {
		name string
		body []byte
	}{
		{"coding-1KiB", []byte(codingRequest)},
		{"chat-64KiB", bigRequest(64 << 10)},
		// The benchmark harness's 100 KiB prompt: one string of Go source
		// with an escape every ten bytes or so.
		{"coding-100KiB", payload.Chat("mock/lorem", false, 100<<10)},
		// The same source as one text content part (the array form IDE
		// clients send): validated by the walk, then decoded by Unquote.
		{"coding-100KiB-parts", partsRequest(payload.Code(100 << 10))},
	} {
		b.Run(size.name, func(b *testing.B) {
			r := AcquireRequest()
			defer ReleaseRequest(r)
			b.ReportAllocs()
			b.SetBytes(int64(len(size.body)))
			cpu0 := cpuTime()
			for b.Loop() {
				r.Reset()
				if err := r.Decode(size.body); err != nil {
					b.Fatal(err)
				}
			}
			// The process's CPU time: on a shared machine ns/op also
			// measures the time spent waiting for a CPU.
			b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N), "cpu-us/op")
		})
	}
}

// partsRequest is a chat request whose user message is text as one
// content part.
func partsRequest(text string) []byte {
	b, _ := json.Marshal(map[string]any{
		"model":    "mock/lorem",
		"messages": []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": text}}}},
	})
	return b
}

func bigRequest(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"model":"gpt-4o","messages":[{"role":"system","content":"You are helpful."}`)
	line := `func main() { fmt.Println(\"hello, world\") }\n`
	for sb.Len() < n {
		sb.WriteString(`,{"role":"user","content":"`)
		for i := 0; i < 20; i++ {
			sb.WriteString(line)
		}
		sb.WriteString(`"},{"role":"assistant","content":"ok"}`)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(codingRequest))
	f.Add([]byte(`{"messages":[{"role":"user","content":"x"}]}`))
	f.Add([]byte(`{"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"a","arguments":"{"}}]}]}`))
	f.Add([]byte(`{"model":"cheap","mod\u0065l":"pricey","messages":[{"role":"user","content":"x","cont\u0065nt":"y"}]}`))
	f.Add([]byte(`{"stream":true,"stream_options":{"include_usage":true,"Include_Usage":false},"messages":[{"role":"user","content":"x"}],"logit\u005fbias":{}}`))
	if seeds, err := os.ReadDir("testdata"); err == nil {
		for _, e := range seeds {
			if b, err := os.ReadFile("testdata/" + e.Name()); err == nil && strings.HasSuffix(e.Name(), ".json") {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := AcquireRequest()
		defer ReleaseRequest(r)
		err := r.Decode(body)
		if err != nil {
			return
		}
		// A body the decoder accepts is valid JSON to the standard library.
		if !json.Valid(body) {
			t.Fatalf("decoder accepted invalid JSON: %q", body)
		}
		for _, m := range r.Messages {
			_ = m.Text()
			if m.Span.End > len(r.Body) || m.ContentSpan.End > len(r.Body) {
				t.Fatal("span out of range")
			}
		}
		for _, f := range r.Fields {
			if f.Start < 0 || f.Start > f.ValStart || f.End > len(r.Body) || r.Body[f.Start] != '"' {
				t.Fatalf("bad field span %+v in %q", f, body)
			}
		}
		// No object the gateway reads holds two members that the standard
		// library decodes to names equal, ignoring case, to one it reads.
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := checkNamesOnce(dec, kTop); err != nil {
			t.Fatalf("decoder accepted %q: %v", body, err)
		}
	})
}

// Kinds of objects the decoder reads, for checkNamesOnce.
type objKind int

const (
	kNone objKind = iota
	kTop
	kMsg
	kPart
	kImageURL
	kCall
	kCallFn
	kTool
	kToolFn
	kStreamOptions
	kResponseFormat
	kJSONSchema
)

func (k objKind) names() []string {
	switch k {
	case kTop:
		return namesOf(topNames)
	case kMsg:
		return namesOf(messageNames)
	case kPart:
		return namesOf(partNames)
	case kImageURL:
		return namesOf(imageURLNames)
	case kCall:
		return namesOf(toolCallNames)
	case kCallFn:
		return namesOf(callFunctionNames)
	case kTool:
		return namesOf(toolNames)
	case kToolFn:
		return namesOf(toolFunctionNames)
	case kStreamOptions:
		return namesOf(streamOptionsNames)
	case kResponseFormat:
		return namesOf(responseFormatNames)
	case kJSONSchema:
		return namesOf(jsonSchemaMembers.Names)
	}
	return nil
}

// child is the kind of the objects in member key's value.
func (k objKind) child(key string) objKind {
	return childKinds[k][key]
}

var childKinds = map[objKind]map[string]objKind{
	kTop:            {"messages": kMsg, "tools": kTool, "stream_options": kStreamOptions, "response_format": kResponseFormat},
	kResponseFormat: {"json_schema": kJSONSchema},
	kMsg:            {"content": kPart, "tool_calls": kCall},
	kCall:           {"function": kCallFn},
	kTool:           {"function": kToolFn},
	kPart:           {"image_url": kImageURL},
}

func namesOf(n *jsonscan.Names) []string {
	out := make([]string, n.Len())
	for i := range out {
		out[i] = n.Name(i)
	}
	return out
}

// checkNamesOnce walks the next value of dec, an object or array of kind k,
// and fails when an object of a kind the decoder reads has two members
// whose decoded names equal, ignoring case as Go's encoding/json does, one
// name it reads there.
func checkNamesOnce(dec *json.Decoder, k objKind) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('['):
		for dec.More() {
			if err := checkNamesOnce(dec, k); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key := kt.(string)
			for _, n := range k.names() {
				if strings.EqualFold(key, n) {
					if seen[n] {
						return fmt.Errorf("two members named %q", n)
					}
					seen[n] = true
				}
			}
			if err := checkNamesOnce(dec, k.child(key)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}

// TestFuzzDecodeOracle shows that FuzzDecode's name check can fail.
func TestFuzzDecodeOracle(t *testing.T) {
	t.Parallel()
	for body, bad := range map[string]bool{
		codingRequest:               false,
		`{"model":"a","Model":"b"}`: true,
		`{"messages":[{"role":"user","content":[{"type":"x","t\u0079pe":"y"}]}]}`: true,
		`{"tools":[{"function":{"name":"a","NAME":"b"}}]}`:                        true,
		`{"metadata":{"a":1,"a":2},"x":1,"x":2}`:                                  false,
	} {
		dec := json.NewDecoder(strings.NewReader(body))
		if err := checkNamesOnce(dec, kTop); (err != nil) != bad {
			t.Errorf("%s: err = %v, want failure %v", body, err, bad)
		}
	}
}
