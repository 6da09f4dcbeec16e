package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/aigateway/gateway/providers/upstream"
)

const testKey = "sk-ant-api03-test-key-0123456789"

func startFake(t *testing.T, a *providertest.Anthropic) (*providertest.Server, *Provider) {
	t.Helper()
	if a.APIKey == "" {
		a.APIKey = testKey
	}
	srv, err := providertest.StartAnthropic(a)
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

// headers is a HeaderGetter over a map.
type headers map[string]string

func (h headers) Peek(k string) []byte {
	if v, ok := h[k]; ok {
		return []byte(v)
	}
	return nil
}

// completion is the part of an OpenAI answer the tests look at, from a
// chat.completion body or accumulated from chunks.
type completion struct {
	ID        string
	Content   string
	Reasoning string
	Calls     []toolCall
	Finish    string
	Usage     *struct {
		Prompt     int `json:"prompt_tokens"`
		Completion int `json:"completion_tokens"`
		Details    struct {
			Cached int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	}
	Error string
	Done  bool
}

type toolCall struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Fn   struct {
		Name string `json:"name"`
		Args string `json:"arguments"`
	} `json:"function"`
}

type chunkJSON struct {
	ID      string `json:"id"`
	Choices []struct {
		Delta struct {
			Content   *string `json:"content"`
			Reasoning string  `json:"reasoning_content"`
			ToolCalls []struct {
				Index int `json:"index"`
				toolCall
			} `json:"tool_calls"`
		} `json:"delta"`
		Message struct {
			Content   *string    `json:"content"`
			Reasoning string     `json:"reasoning_content"`
			ToolCalls []toolCall `json:"tool_calls"`
		} `json:"message"`
		Finish *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		Prompt     int `json:"prompt_tokens"`
		Completion int `json:"completion_tokens"`
		Details    struct {
			Cached int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func parseCompletion(t testing.TB, body []byte) completion {
	t.Helper()
	var c chunkJSON
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := completion{ID: c.ID, Usage: c.Usage}
	if len(c.Choices) != 1 {
		t.Fatalf("want one choice: %s", body)
	}
	m := c.Choices[0].Message
	if m.Content != nil {
		out.Content = *m.Content
	}
	out.Reasoning, out.Calls = m.Reasoning, m.ToolCalls
	if c.Choices[0].Finish != nil {
		out.Finish = *c.Choices[0].Finish
	}
	return out
}

// accumulate reads a stream to its end and folds its chunks.
func accumulate(t testing.TB, s providers.Stream) completion {
	t.Helper()
	var out completion
	var raw []byte
	for range 100000 {
		b, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	for _, ev := range strings.Split(string(raw), "\n\n") {
		d, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			continue
		}
		if d == "[DONE]" {
			out.Done = true
			continue
		}
		var c chunkJSON
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("%v: %s", err, d)
		}
		if c.Error != nil {
			out.Error = c.Error.Message
			continue
		}
		out.ID = c.ID
		if c.Usage != nil {
			out.Usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				out.Content += *ch.Delta.Content
			}
			out.Reasoning += ch.Delta.Reasoning
			for _, tc := range ch.Delta.ToolCalls {
				for len(out.Calls) <= tc.Index {
					out.Calls = append(out.Calls, toolCall{})
				}
				c := &out.Calls[tc.Index]
				if tc.ID != "" {
					c.ID, c.Type, c.Fn.Name = tc.ID, tc.Type, tc.Fn.Name
				}
				c.Fn.Args += tc.Fn.Args
			}
			if ch.Finish != nil {
				out.Finish = *ch.Finish
			}
		}
	}
	return out
}

func chat(t *testing.T, p *Provider, body string, h providers.HeaderGetter) completion {
	t.Helper()
	r := decode(t, []byte(body))
	defer providers.ReleaseRequest(r)
	call := testCall(r)
	call.Header = h
	resp, err := p.Chat(context.Background(), call)
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	defer resp.Close()
	if resp.Stream != nil {
		return accumulate(t, resp.Stream)
	}
	return parseCompletion(t, resp.Body)
}

const weatherTool = `[{"type":"function","function":{"name":"get_weather","description":"Get the current weather","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}]`

// TestToolConversation runs call → result → final answer against the fake,
// streaming and not, and checks that ids, names and arguments round-trip
// unchanged in both directions.
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
			fake := &providertest.Anthropic{Reply: "It is 18 degrees and sunny in Paris.", ToolCall: "get_weather", ToolID: "toolu_01A09q90qw90lq917835lq9",
				ToolArgs: args, ArgChunks: 4, ToolText: "Let me check.", InputTokens: 30}
			srv, p := startFake(t, fake)
			streamJSON := ""
			if stream {
				streamJSON = `,"stream":true,"stream_options":{"include_usage":true}`
			}
			first := chat(t, p, `{"model":"claude-sonnet-4-0","messages":[{"role":"user","content":"Weather in Paris?"}],"tools":`+weatherTool+streamJSON+`}`, nil)
			if first.Finish != "tool_calls" || len(first.Calls) != 1 {
				t.Fatalf("first turn: %+v", first)
			}
			call := first.Calls[0]
			if call.ID != fake.ToolID || call.Fn.Name != "get_weather" || call.Fn.Args != args || call.Type != "function" {
				t.Fatalf("tool call did not round-trip: %+v", call)
			}
			if first.Content != "Let me check." {
				t.Errorf("content = %q", first.Content)
			}
			callJSON, _ := json.Marshal([]toolCall{call})
			second := chat(t, p, `{"model":"claude-sonnet-4-0","messages":[{"role":"user","content":"Weather in Paris?"},`+
				`{"role":"assistant","content":null,"tool_calls":`+string(callJSON)+`},`+
				`{"role":"tool","tool_call_id":"`+call.ID+`","content":"18C, sunny"}],"tools":`+weatherTool+streamJSON+`}`, nil)
			if second.Finish != "stop" || second.Content != fake.Reply || len(second.Calls) != 0 {
				t.Fatalf("second turn: %+v", second)
			}
			if stream && (!second.Done || second.Usage == nil || second.Usage.Prompt != 30) {
				t.Errorf("stream end: done=%v usage=%+v", second.Done, second.Usage)
			}
			// What the upstream saw on the second turn.
			var sent struct {
				Messages []struct {
					Role    string `json:"role"`
					Content []struct {
						Type      string          `json:"type"`
						ID        string          `json:"id"`
						Name      string          `json:"name"`
						Input     json.RawMessage `json:"input"`
						ToolUseID string          `json:"tool_use_id"`
						Content   string          `json:"content"`
					} `json:"content"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(srv.Last().Body, &sent); err != nil {
				t.Fatal(err)
			}
			if len(sent.Messages) != 3 {
				t.Fatalf("upstream got %d turns: %s", len(sent.Messages), srv.Last().Body)
			}
			use, result := sent.Messages[1].Content[0], sent.Messages[2].Content[0]
			if use.Type != "tool_use" || use.ID != fake.ToolID || use.Name != "get_weather" || string(use.Input) != args {
				t.Errorf("tool_use sent = %+v", use)
			}
			if result.Type != "tool_result" || result.ToolUseID != fake.ToolID || result.Content != "18C, sunny" {
				t.Errorf("tool_result sent = %+v", result)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	srv, p := startFake(t, &providertest.Anthropic{Reply: "ok"})
	chat(t, p, `{"messages":[{"role":"user","content":"hi"}]}`, headers{"anthropic-beta": "prompt-caching-2024-07-31", "authorization": "Bearer client-key", "anthropic-version": "2099-01-01"})
	h := srv.Last().Header
	if h["X-Api-Key"] != testKey || h["Anthropic-Version"] != Version || h["Anthropic-Beta"] != "prompt-caching-2024-07-31" {
		t.Errorf("headers = %v", h)
	}
	if h["Authorization"] != "" {
		t.Errorf("client authorization forwarded: %v", h)
	}
	if srv.Last().Path != "/v1/messages" {
		t.Errorf("path = %s", srv.Last().Path)
	}
}

func TestThinkingNotLeaked(t *testing.T) {
	t.Parallel()
	for _, stream := range []string{"", `,"stream":true`} {
		_, p := startFake(t, &providertest.Anthropic{Reply: "42", Thinking: "secret chain of thought"})
		c := chat(t, p, `{"messages":[{"role":"user","content":"answer?"}]`+stream+`}`, nil)
		if c.Content != "42" || c.Reasoning != "secret chain of thought" {
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
		{"key refused", 401, 502},
		{"forbidden", 403, 502},
		{"not found", 404, 404},
		{"rate limited", 429, 429},
		{"server error", 500, 502},
		{"overloaded", 529, 503},
	}
	for _, tt := range tests {
		for _, stream := range []string{"", `,"stream":true`} {
			t.Run(tt.name+stream, func(t *testing.T) {
				t.Parallel()
				_, p := startFake(t, &providertest.Anthropic{Status: tt.status})
				r := decode(t, []byte(`{"messages":[{"role":"user","content":"hi"}]`+stream+`}`))
				defer providers.ReleaseRequest(r)
				_, err := p.Chat(context.Background(), testCall(r))
				var ue *providers.UpstreamError
				if !errors.As(err, &ue) || ue.Status != tt.want {
					t.Fatalf("got %v, want status %d", err, tt.want)
				}
				if strings.Contains(ue.Message, testKey) || strings.Contains(ue.Message, "0123456789") {
					t.Errorf("key leaked: %s", ue.Message)
				}
				if tt.status == 429 && ue.RetryAfter != 7*time.Second {
					t.Errorf("RetryAfter = %v", ue.RetryAfter)
				}
			})
		}
	}
}

func TestWrongKeyIs502(t *testing.T) {
	t.Parallel()
	srv, err := providertest.StartAnthropic(&providertest.Anthropic{APIKey: "sk-ant-right"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	p, _ := New(Config{BaseURL: srv.URL, APIKey: "sk-ant-wrong-secret"})
	r := decode(t, []byte(`{"messages":[{"role":"user","content":"hi"}]}`))
	defer providers.ReleaseRequest(r)
	_, err = p.Chat(context.Background(), testCall(r))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 502 || ue.Code != "upstream_auth_failed" || strings.Contains(ue.Message, "secret") {
		t.Fatalf("got %#v", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	_, p := startFake(t, &providertest.Anthropic{Reply: "late", Delay: 2 * time.Second})
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
	_, p := startFake(t, &providertest.Anthropic{Reply: "one two three four", ErrorAfter: 2})
	c := chat(t, p, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, nil)
	if c.Content != "one two " || !strings.Contains(c.Error, "Overloaded") || !c.Done {
		t.Errorf("%+v", c)
	}
}

// TestCancel closes a stream while Next is blocked on a stalled upstream:
// Next must return and the upstream must see its connection closed.
func TestCancel(t *testing.T) {
	t.Parallel()
	srv, p := startFake(t, &providertest.Anthropic{Reply: "one two three four five", StallAfter: 2})
	r := decode(t, []byte(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`))
	defer providers.ReleaseRequest(r)
	resp, err := p.Chat(context.Background(), testCall(r))
	if err != nil {
		t.Fatal(err)
	}
	// Role chunk and two deltas arrive; the next read blocks on the stall.
	for range 3 {
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
