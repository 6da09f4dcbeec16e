package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	sdk "github.com/anthropics/anthropic-sdk-go/v2"
)

// Inbound fixtures: Anthropic requests from
// https://docs.anthropic.com/en/api/messages and the tool-use guide
// (https://docs.anthropic.com/en/docs/build-with-claude/tool-use), shaped
// like Claude Code's; OpenAI answers from
// https://platform.openai.com/docs/api-reference/chat/object and
// https://platform.openai.com/docs/api-reference/chat-streaming. Outputs are
// checked against the official Anthropic Go SDK's types and accumulator.

// TestInboundRequestGolden: Anthropic request in → OpenAI request out, which
// the canonical decoder must accept.
func TestInboundRequestGolden(t *testing.T) {
	t.Parallel()
	for name, path := range inputs(t, "inbound_request", ".in.json") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := RequestToOpenAI([]byte("prefix"), in, Target{})
			if err != nil {
				t.Fatal(err)
			}
			out = bytes.TrimPrefix(out, []byte("prefix"))
			r := providers.AcquireRequest()
			defer providers.ReleaseRequest(r)
			if err := r.Decode(out); err != nil {
				t.Fatalf("the canonical decoder refuses the translation: %v\n%s", err, out)
			}
			golden(t, strings.TrimSuffix(path, ".in.json")+".golden.json", indent(t, out))
		})
	}
}

func TestInboundRequestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, param string }{
		{"not json", `{"messages":`, ""},
		{"not an object", `[1]`, ""},
		{"no messages", `{"model":"x","max_tokens":1}`, "messages"},
		{"bad role", `{"messages":[{"role":"tool","content":"x"}]}`, "messages[0].role"},
		{"mid-conversation system image", `{"messages":[{"role":"user","content":"x"},{"role":"system","content":[{"type":"image","source":{"type":"url","url":"https://x"}}]}]}`, "messages[1].content[0]"},
		{"tool reference without name", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"tool_reference"}]}]}]}`, "messages[0].content[0].content[0].tool_name"},
		{"bad content", `{"messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{"server tool", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}`, "tools[0].type"},
		{"unknown block", `{"messages":[{"role":"user","content":[{"type":"container_upload","file_id":"f"}]}]}`, "messages[0].content[0].type"},
		{"tool result without id", `{"messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}`, "messages[0].content[0].tool_use_id"},
		{"bad tool choice", `{"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"sometimes"}}`, "tool_choice.type"},
		{"system image", `{"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]}`, "system[0]"},
		{"bad image source", `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "messages[0].content[0].source.type"},
		// Wrongly typed optional members: Anthropic answers 400, and
		// ignoring them would silently drop what the client asked for.
		{"tools not an array", `{"messages":[{"role":"user","content":"x"}],"tools":"x"}`, "tools"},
		{"tools an object", `{"messages":[{"role":"user","content":"x"}],"tools":{}}`, "tools"},
		{"temperature a string", `{"messages":[{"role":"user","content":"x"}],"temperature":"0.5"}`, "temperature"},
		{"top_p a bool", `{"messages":[{"role":"user","content":"x"}],"top_p":true}`, "top_p"},
		{"stop_sequences a string", `{"messages":[{"role":"user","content":"x"}],"stop_sequences":"END"}`, "stop_sequences"},
		{"stop_sequences of numbers", `{"messages":[{"role":"user","content":"x"}],"stop_sequences":[1]}`, "stop_sequences[0]"},
		{"thinking a string", `{"messages":[{"role":"user","content":"x"}],"thinking":"enabled"}`, "thinking"},
		{"metadata an array", `{"messages":[{"role":"user","content":"x"}],"metadata":[]}`, "metadata"},
		{"stream a string", `{"messages":[{"role":"user","content":"x"}],"stream":"true"}`, "stream"},
		{"tool_choice a number", `{"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":1}`, "tool_choice"},
		// Empty content: only the final assistant message may have it
		// (Anthropic's 400 otherwise, not a request missing a turn).
		{"empty user content array", `{"messages":[{"role":"user","content":[ ]}]}`, "messages[0]"},
		{"empty user content string", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"},{"role":"user","content":""}]}`, "messages[2]"},
		{"empty assistant mid-conversation", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[]},{"role":"user","content":"z"}]}`, "messages[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := RequestToOpenAI([]byte("keep"), []byte(tt.body), Target{})
			var re *providers.RequestError
			if !errors.As(err, &re) || re.Param != tt.param {
				t.Fatalf("got %v, want a RequestError naming %q", err, tt.param)
			}
			if string(out) != "keep" {
				t.Errorf("dst was not restored: %q", out)
			}
		})
	}
}

// TestInboundEmptyFinalAssistant: a final assistant message with empty
// content (a prefill of nothing) is accepted, as Anthropic accepts it.
func TestInboundEmptyFinalAssistant(t *testing.T) {
	for _, body := range []string{
		`{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[]}]}`,
		`{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":""}]}`,
	} {
		if _, err := RequestToOpenAI(nil, []byte(body), Target{}); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}

// TestInboundResponseGolden: OpenAI chat.completion in → Anthropic message
// out, which the SDK must decode.
func TestInboundResponseGolden(t *testing.T) {
	t.Parallel()
	for name, path := range inputs(t, "inbound_response", ".json") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := FromCompletion(nil, in)
			if err != nil {
				t.Fatal(err)
			}
			var m sdk.Message
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("SDK: %v", err)
			}
			if m.Type != "message" || m.Role != "assistant" || m.StopReason == "" {
				t.Errorf("SDK sees %+v", m)
			}
			golden(t, strings.TrimSuffix(path, ".json")+".golden.json", indent(t, out))
		})
	}
}

func TestInboundResponseErrors(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{`,
		`{"choices":[]}`,
		`{"choices":[{"message":{"content":"x","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{bad"}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}}]}`,
	} {
		if out, err := FromCompletion([]byte("keep"), []byte(body)); !errors.Is(err, ErrBadCompletion) || string(out) != "keep" {
			t.Errorf("%s: got %q, %v", body, out, err)
		}
	}
}

// sliceStream replays OpenAI SSE bytes, one event (or all) per Next.
type sliceStream struct {
	events [][]byte
	usage  providers.Usage
	closed bool
}

func newSliceStream(b []byte, whole bool) *sliceStream {
	s := &sliceStream{usage: providers.Usage{PromptTokens: 7, Set: true}}
	if whole {
		s.events = [][]byte{b}
		return s
	}
	for _, ev := range bytes.SplitAfter(b, []byte("\n\n")) {
		if len(ev) > 0 {
			s.events = append(s.events, ev)
		}
	}
	return s
}

func (s *sliceStream) Next() ([]byte, error) {
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}
func (s *sliceStream) Usage() providers.Usage { return s.usage }
func (s *sliceStream) Close() error           { s.closed = true; return nil }

// TestInboundStreamGolden: OpenAI chunk stream in → Anthropic event stream
// out, whatever the source's event batching; the SDK accumulates it.
func TestInboundStreamGolden(t *testing.T) {
	t.Parallel()
	for name, path := range inputs(t, "inbound_stream", ".sse") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			out := drain(t, NewStream(newSliceStream(in, false), "fallback-model"))
			if whole := drain(t, NewStream(newSliceStream(in, true), "fallback-model")); !bytes.Equal(whole, out) {
				t.Errorf("batched source gives a different stream:\n%s", whole)
			}
			sdkAccumulate(t, out)
			golden(t, strings.TrimSuffix(path, ".sse")+".golden.sse", out)
		})
	}
}

func TestInboundStreamAccumulates(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile("testdata/inbound_stream/text_then_parallel_tools.sse")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := sdkAccumulate(t, drain(t, NewStream(newSliceStream(in, false), "x")))
	if len(m.Content) != 3 || m.Content[0].Text != "Checking both." || m.StopReason != "tool_use" {
		t.Fatalf("%+v", m)
	}
	for i, want := range []string{`{"location":"London"}`, `{"location":"Paris"}`} {
		b := m.Content[i+1]
		if b.Type != "tool_use" || b.ID != "call_"+string(rune('1'+i)) || string(b.Input) != want {
			t.Errorf("block %d: %+v input %s", i+1, b, b.Input)
		}
	}
	if m.Usage.InputTokens != 50 || m.Usage.OutputTokens != 20 {
		t.Errorf("usage %+v", m.Usage)
	}
}
