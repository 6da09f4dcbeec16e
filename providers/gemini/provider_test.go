package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/aigateway/gateway/providers/upstream"
)

const testKey = "AIzaSyTestKey0123456789abcdefghijklmno"

func startFake(t *testing.T, g *providertest.Gemini) (*providertest.Server, *Provider) {
	t.Helper()
	if g.APIKey == "" {
		g.APIKey = testKey
	}
	srv, err := providertest.StartGemini(g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	p, err := New(Config{BaseURL: srv.URL, APIKey: testKey, Timeout: 10 * time.Second, Options: upstream.Options{IdleTimeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return srv, p
}

func chat(t *testing.T, p *Provider, body string) completion {
	t.Helper()
	r := decode(t, []byte(body))
	defer providers.ReleaseRequest(r)
	resp, err := p.Chat(context.Background(), testCall(r))
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	defer resp.Close()
	if resp.Stream != nil {
		return accumulate(t, resp.Stream)
	}
	return parseCompletion(t, resp.Body)
}

const weatherTool = `[{"type":"function","function":{"name":"get_weather","description":"Get the current weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"],"additionalProperties":false}}}]`

// TestToolConversation runs call → result → final answer against the fake,
// streaming and not: the synthesised id, the name and the arguments come
// back unchanged, the function name is recovered for the functionResponse,
// and the thought signature returns to Gemini.
func TestToolConversation(t *testing.T) {
	t.Parallel()
	const args = `{"location":"Paris, France","unit":"celsius"}`
	for _, stream := range []bool{false, true} {
		name := "non-streaming"
		if stream {
			name = "streaming"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := &providertest.Gemini{Reply: "It is 18 degrees in Paris.", ToolCall: "get_weather", ToolArgs: `{"location": "Paris, France", "unit": "celsius"}`,
				Signature: "CiQBjz1rX3NbSig==", ToolText: "Checking.", PromptTokens: 30, CachedTokens: 10}
			srv, p := startFake(t, fake)
			streamJSON := ""
			if stream {
				streamJSON = `,"stream":true,"stream_options":{"include_usage":true}`
			}
			first := chat(t, p, `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Weather in Paris?"}],"tools":`+weatherTool+streamJSON+`}`)
			if first.Finish != "tool_calls" || len(first.Calls) != 1 {
				t.Fatalf("first turn: %+v", first)
			}
			call := first.Calls[0]
			if !strings.HasPrefix(call.ID, "call_") || call.Fn.Name != "get_weather" || call.Fn.Args != args || call.Type != "function" {
				t.Fatalf("tool call: %+v", call)
			}
			if first.Content != "Checking." {
				t.Errorf("content = %q", first.Content)
			}
			// The same answer again gets the same id only if it is the same
			// response: ids are stable per answer, not reused across answers.
			callJSON, _ := json.Marshal([]toolCall{call})
			second := chat(t, p, `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Weather in Paris?"},`+
				`{"role":"assistant","content":null,"tool_calls":`+string(callJSON)+`},`+
				`{"role":"tool","tool_call_id":`+string(mustJSON(call.ID))+`,"content":"18C, sunny"}],"tools":`+weatherTool+streamJSON+`}`)
			if second.Finish != "stop" || second.Content != fake.Reply || len(second.Calls) != 0 {
				t.Fatalf("second turn: %+v", second)
			}
			if second.Usage == nil || second.Usage.Prompt != 30 || second.Usage.Details.Cached != 10 {
				t.Errorf("usage = %+v", second.Usage)
			}
			last := srv.Last()
			wantPath := "/v1beta/models/gemini-2.5-flash:generateContent"
			if stream {
				wantPath = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
			}
			if last.Path != wantPath || last.Header["X-Goog-Api-Key"] != testKey {
				t.Errorf("path %s, headers %v", last.Path, last.Header)
			}
			var sent struct {
				Contents []struct {
					Role  string `json:"role"`
					Parts []struct {
						FunctionCall *struct {
							Name string          `json:"name"`
							Args json.RawMessage `json:"args"`
						} `json:"functionCall"`
						Signature        string `json:"thoughtSignature"`
						FunctionResponse *struct {
							Name     string          `json:"name"`
							Response json.RawMessage `json:"response"`
						} `json:"functionResponse"`
					} `json:"parts"`
				} `json:"contents"`
			}
			if err := json.Unmarshal(last.Body, &sent); err != nil {
				t.Fatal(err)
			}
			if len(sent.Contents) != 3 {
				t.Fatalf("upstream got %d contents: %s", len(sent.Contents), last.Body)
			}
			fc, fr := sent.Contents[1].Parts[0], sent.Contents[2].Parts[0]
			if fc.FunctionCall == nil || fc.FunctionCall.Name != "get_weather" || string(fc.FunctionCall.Args) != args || fc.Signature != fake.Signature {
				t.Errorf("functionCall sent = %+v", fc)
			}
			if fr.FunctionResponse == nil || fr.FunctionResponse.Name != "get_weather" || string(fr.FunctionResponse.Response) != `{"output":"18C, sunny"}` {
				t.Errorf("functionResponse sent = %+v", fr.FunctionResponse)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestThoughtsNotLeaked(t *testing.T) {
	t.Parallel()
	for _, stream := range []string{"", `,"stream":true`} {
		_, p := startFake(t, &providertest.Gemini{Reply: "42", Thought: "secret reasoning", ThoughtsTokens: 5})
		c := chat(t, p, `{"messages":[{"role":"user","content":"answer?"}]`+stream+`}`)
		if c.Content != "42" || c.Reasoning != "secret reasoning" {
			t.Errorf("stream=%q: %+v", stream, c)
		}
	}
}

func TestUpstreamErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		want   int
	}{
		{"bad request", 400, 400},
		{"forbidden", 403, 502},
		{"not found", 404, 404},
		{"quota", 429, 429},
		{"internal", 500, 502},
		{"overloaded", 503, 503},
		{"deadline", 504, 504},
	}
	for _, tt := range tests {
		for _, stream := range []string{"", `,"stream":true`} {
			t.Run(tt.name+stream, func(t *testing.T) {
				t.Parallel()
				_, p := startFake(t, &providertest.Gemini{Status: tt.status})
				r := decode(t, []byte(`{"messages":[{"role":"user","content":"hi"}]`+stream+`}`))
				defer providers.ReleaseRequest(r)
				_, err := p.Chat(context.Background(), testCall(r))
				var ue *providers.UpstreamError
				if !errors.As(err, &ue) || ue.Status != tt.want {
					t.Fatalf("got %v, want status %d", err, tt.want)
				}
			})
		}
	}
}

func TestWrongKeyIs502(t *testing.T) {
	t.Parallel()
	srv, err := providertest.StartGemini(&providertest.Gemini{APIKey: "AIzaRight"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, _ := New(Config{BaseURL: srv.URL, APIKey: "AIzaWrongSecret"})
	r := decode(t, []byte(`{"messages":[{"role":"user","content":"hi"}]}`))
	defer providers.ReleaseRequest(r)
	_, err = p.Chat(context.Background(), testCall(r))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 502 || ue.Code != "upstream_auth_failed" || strings.Contains(ue.Message, "Secret") {
		t.Fatalf("got %#v", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	_, p := startFake(t, &providertest.Gemini{Reply: "late", Delay: 2 * time.Second})
	r := decode(t, []byte(`{"messages":[{"role":"user","content":"hi"}]}`))
	defer providers.ReleaseRequest(r)
	call := testCall(r)
	call.Timeout = 50 * time.Millisecond
	_, err := p.Chat(context.Background(), call)
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 504 {
		t.Fatalf("got %v, want a 504", err)
	}
}

func TestStreamErrorEvent(t *testing.T) {
	t.Parallel()
	_, p := startFake(t, &providertest.Gemini{Reply: "one two three four", ErrorAfter: 2})
	c := chat(t, p, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	if c.Content != "one two " || !strings.Contains(c.Error, "overloaded") || !c.Done {
		t.Errorf("%+v", c)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	srv, p := startFake(t, &providertest.Gemini{Reply: "one two three four five", StallAfter: 2})
	r := decode(t, []byte(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`))
	defer providers.ReleaseRequest(r)
	resp, err := p.Chat(context.Background(), testCall(r))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // role+first word, second word
		if _, err := resp.Stream.Next(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var tail []byte
	go func() {
		defer wg.Done()
		for {
			b, err := resp.Stream.Next()
			if err != nil {
				return
			}
			tail = append(tail, b...)
		}
	}()
	time.Sleep(100 * time.Millisecond) // let Next block; correctness does not depend on it
	_ = resp.Stream.Close()
	wg.Wait()
	resp.Close()
	if !strings.Contains(string(tail), `"error"`) {
		t.Errorf("a cancelled stream should end with an error event, got %q", tail)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Closed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if srv.Closed.Load() == 0 {
		t.Error("the upstream did not see the connection close")
	}
}
