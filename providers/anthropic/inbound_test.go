package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
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
			out, err := MessageFromCompletion(nil, in)
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
		if out, err := MessageFromCompletion([]byte("keep"), []byte(body)); !errors.Is(err, ErrBadCompletion) || string(out) != "keep" {
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

func drain(t testing.TB, s providers.Stream) []byte {
	t.Helper()
	var out []byte
	for range 100000 {
		b, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	t.Fatal("stream did not end")
	return nil
}

// sdkAccumulate feeds Anthropic SSE bytes to the SDK's accumulator; it
// returns the message and the error event's message, if any.
func sdkAccumulate(t testing.TB, b []byte) (sdk.Message, string) {
	t.Helper()
	var m sdk.Message
	errMsg := ""
	for _, ev := range strings.Split(string(b), "\n\n") {
		if ev == "" {
			continue
		}
		name, data, ok := strings.Cut(ev, "\n")
		if !ok || !strings.HasPrefix(name, "event: ") || !strings.HasPrefix(data, "data: ") {
			t.Fatalf("bad event framing: %q", ev)
		}
		data = strings.TrimPrefix(data, "data: ")
		if name == "event: error" {
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatal(err)
			}
			errMsg = e.Error.Message
			continue
		}
		var u sdk.MessageStreamEventUnion
		if err := json.Unmarshal([]byte(data), &u); err != nil {
			t.Fatalf("SDK: %v: %s", err, data)
		}
		if "event: "+u.Type != name {
			t.Errorf("event name %q, data type %q", name, u.Type)
		}
		if err := m.Accumulate(u); err != nil {
			t.Fatalf("SDK accumulate: %v", err)
		}
	}
	return m, errMsg
}

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
			out := drain(t, NewMessageStream(newSliceStream(in, false), "fallback-model"))
			if whole := drain(t, NewMessageStream(newSliceStream(in, true), "fallback-model")); !bytes.Equal(whole, out) {
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
	m, _ := sdkAccumulate(t, drain(t, NewMessageStream(newSliceStream(in, false), "x")))
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

func TestAppendWithModel(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, model, want string }{
		{"replace", "{ \"max_tokens\" : 5,\n  \"model\":\"claude-x\" , \"messages\":[]}", "claude-sonnet-4-20250514", "{ \"max_tokens\" : 5,\n  \"model\":\"claude-sonnet-4-20250514\" , \"messages\":[]}"},
		{"insert", ` {"messages":[]}`, "m", ` {"model":"m","messages":[]}`},
		{"insert into empty", `{ }`, "m", `{"model":"m" }`},
		{"empty model keeps body", `{"model":"a"}`, "", `{"model":"a"}`},
		{"nested model untouched", `{"metadata":{"model":"a"},"model":"b"}`, "c", `{"metadata":{"model":"a"},"model":"c"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := AppendWithModel(nil, []byte(tt.in), tt.model)
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := AppendWithModel(nil, []byte(`[]`), "m"); err == nil {
		t.Error("a non-object body was accepted")
	}
}

// TestPassthrough: the upstream receives the client's bytes with only the
// model changed, and the answer comes back as Anthropic sent it.
func TestPassthrough(t *testing.T) {
	t.Parallel()
	body := "{\n  \"max_tokens\": 64,\n  \"model\": \"claude-3-opus\",\n  \"system\": [{\"type\": \"text\", \"text\": \"Be brief.\", \"cache_control\": {\"type\": \"ephemeral\"}}],\n  \"messages\": [{\"role\": \"user\", \"content\": \"Hi \\u00e9\"}]%s\n}"
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "non-streaming", true: "streaming"}[stream], func(t *testing.T) {
			t.Parallel()
			srv, p := startFake(t, &providertest.Anthropic{Reply: "Hello there.", InputTokens: 11, CacheRead: 5})
			extra := ""
			if stream {
				extra = `, "stream": true`
			}
			in := []byte(strings.Replace(body, "%s", extra, 1))
			resp, err := p.Messages(context.Background(), in, "claude-sonnet-4-20250514", headers{"anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31"}, nil, stream)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			want := strings.Replace(string(in), "claude-3-opus", "claude-sonnet-4-20250514", 1)
			if got := string(srv.Last().Body); got != want {
				t.Errorf("upstream got\n%s\nwant\n%s", got, want)
			}
			if h := srv.Last().Header; h["X-Api-Key"] != testKey || h["Anthropic-Beta"] != "prompt-caching-2024-07-31" {
				t.Errorf("headers %v", h)
			}
			var m sdk.Message
			if stream {
				out := drain(t, resp.Stream)
				if !strings.HasPrefix(string(out), "event: message_start\ndata: {\"type\":\"message_start\"") {
					t.Errorf("relay changed the stream: %.80s", out)
				}
				m, _ = sdkAccumulate(t, out)
				if u := resp.Stream.Usage(); u.PromptTokens != 16 || u.CachedTokens != 5 || u.CompletionTokens != 2 {
					t.Errorf("stream usage %+v", u)
				}
			} else {
				if err := json.Unmarshal(resp.Body, &m); err != nil {
					t.Fatal(err)
				}
				if resp.Usage.PromptTokens != 16 || resp.Usage.CachedTokens != 5 {
					t.Errorf("usage %+v", resp.Usage)
				}
			}
			if len(m.Content) != 1 || m.Content[0].Text != "Hello there." || m.StopReason != "end_turn" {
				t.Errorf("message %+v", m)
			}
		})
	}
}

func TestPassthroughErrors(t *testing.T) {
	t.Parallel()
	_, p := startFake(t, &providertest.Anthropic{Status: 529})
	_, err := p.Messages(context.Background(), []byte(`{"model":"x","max_tokens":1,"messages":[]}`), "", nil, nil, false)
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 503 {
		t.Fatalf("got %v", err)
	}
	if got := string(AppendError(nil, ue.Status, ue.Message)); got != `{"type":"error","error":{"type":"overloaded_error","message":"upstream anthropic: Overloaded"}}` {
		t.Errorf("envelope %s", got)
	}
	if _, err := p.Messages(context.Background(), []byte(`not json`), "m", nil, nil, false); !errors.As(err, &ue) || ue.Status != 400 {
		t.Errorf("bad body: %v", err)
	}
}

func TestCountTokens(t *testing.T) {
	t.Parallel()
	srv, p := startFake(t, &providertest.Anthropic{InputTokens: 42})
	resp, err := p.CountTokens(context.Background(), []byte(`{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}`), "claude-sonnet-4-20250514", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if string(resp.Body) != `{"input_tokens":42}` || srv.Last().Path != "/v1/messages/count_tokens" {
		t.Errorf("%s %s", resp.Body, srv.Last().Path)
	}
}
