package engine

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/anthropics/anthropic-sdk-go/v2"
)

// The requests Claude Code 2.1 really sent (captured with
// engine/frontend/messages/testdata/claudecode/capture.sh), replayed through the
// gateway on loopback to every provider kind.

const claudeCodeDir = "frontend/messages/testdata/claudecode"

type claudeCodeRequest struct {
	name    string
	uri     string
	headers map[string]string
	body    []byte
}

func claudeCodeRequests(t *testing.T) []claudeCodeRequest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(claudeCodeDir, "*.body.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Claude Code fixtures: %v", err)
	}
	var out []claudeCodeRequest
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := os.ReadFile(strings.TrimSuffix(f, ".body.json") + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			URI     string            `json:"uri"`
			Headers map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(meta, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, claudeCodeRequest{name: strings.TrimSuffix(filepath.Base(f), ".body.json"), uri: m.URI, headers: m.Headers, body: body})
	}
	return out
}

// send replays r for model, streaming or not, with Claude Code's headers
// (its key replaced by the gateway's).
func (r claudeCodeRequest) send(t *testing.T, g *gw, model string, stream bool) (int, string) {
	t.Helper()
	body := bytes.Replace(r.body, []byte(`"model":"mock/echo"`), []byte(`"model":"`+model+`"`), 1)
	if !stream {
		body = bytes.Replace(body, []byte(`"stream":true`), []byte(`"stream":false`), 1)
	}
	req, err := http.NewRequest("POST", g.url+r.uri, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.headers {
		switch k {
		case "content-length", "host", "connection", "accept-encoding":
		case "x-api-key":
			req.Header.Set(k, testKey)
		default:
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// anthropicAnswer decodes a Messages API answer, a message or an event
// stream, with the official SDK's types and accumulator.
func anthropicAnswer(t *testing.T, body string, stream bool) anthropic.Message {
	t.Helper()
	var m anthropic.Message
	if !stream {
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("not a message: %v\n%s", err, body)
		}
		return m
	}
	events := sseEvents(t, strings.NewReader(body))
	for _, d := range events {
		var ev anthropic.MessageStreamEventUnion
		if err := json.Unmarshal([]byte(d), &ev); err != nil {
			t.Fatalf("event %s: %v", d, err)
		}
		if ev.Type == "error" {
			t.Fatalf("error event: %s", d)
		}
		if err := m.Accumulate(ev); err != nil {
			t.Fatalf("accumulate %s: %v", d, err)
		}
	}
	if len(events) == 0 || !strings.Contains(events[len(events)-1], `"message_stop"`) {
		t.Fatalf("stream did not end with message_stop:\n%s", body)
	}
	return m
}

// TestClaudeCodeThroughGateway: every captured request, streaming and not,
// to every provider kind, answers 200 with a well-formed Anthropic message,
// and each upstream receives what its format means.
func TestClaudeCodeThroughGateway(t *testing.T) {
	t.Parallel()
	start := func(s *providertest.Server, err error) *providertest.Server {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	oa := start(providertest.StartOpenAI(&providertest.OpenAI{Reply: "Hello from OpenAI", PromptTokens: 12}))
	ge := start(providertest.StartGemini(&providertest.Gemini{Reply: "Hello from Gemini", PromptTokens: 12}))
	ol := start(providertest.StartOllama(&providertest.Ollama{Reply: "Hello from Ollama", PromptTokens: 12}))
	an := start(providertest.StartAnthropic(&providertest.Anthropic{Reply: "Hello from Claude", APIKey: "sk-ant-upstream", InputTokens: 12}))
	g := startGateway(t, "", map[string]string{
		"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": oa.URL + "/v1",
		"GEMINI_API_KEY": "g-x", "GEMINI_BASE_URL": ge.URL,
		"LOCAL_LLM_BASE_URL": ol.URL,
		"ANTHROPIC_API_KEY":  "sk-ant-upstream", "ANTHROPIC_BASE_URL": an.URL,
	})
	models := []struct {
		model, reply string
		up           *providertest.Server
		// check inspects what the upstream received.
		check func(t *testing.T, r claudeCodeRequest, got providertest.Recorded)
	}{
		{"mock/echo", "", nil, nil},
		{"openai/gpt-4o", "Hello from OpenAI", oa, func(t *testing.T, _ claudeCodeRequest, got providertest.Recorded) {
			// gpt-4o does not reason: OpenAI would refuse the effort.
			if bytes.Contains(got.Body, []byte("reasoning_effort")) || !bytes.Contains(got.Body, []byte(`"max_completion_tokens":16384`)) {
				t.Errorf("openai got %.300s", got.Body)
			}
		}},
		{"openai/o3", "Hello from OpenAI", oa, func(t *testing.T, _ claudeCodeRequest, got providertest.Recorded) {
			if !bytes.Contains(got.Body, []byte(`"reasoning_effort":"high"`)) || !bytes.Contains(got.Body, []byte(`"max_completion_tokens":32000`)) {
				t.Errorf("o3 got %.300s", got.Body)
			}
		}},
		{"gemini/gemini-2.5-flash", "Hello from Gemini", ge, func(t *testing.T, _ claudeCodeRequest, got providertest.Recorded) {
			if !bytes.Contains(got.Body, []byte(`"thinkingConfig":{"thinkingBudget":24576}`)) {
				t.Errorf("gemini got no thinking budget")
			}
		}},
		{"ollama/qwen2.5-coder", "Hello from Ollama", ol, nil},
		{"anthropic/claude-sonnet-4-5", "Hello from Claude", an, func(t *testing.T, r claudeCodeRequest, got providertest.Recorded) {
			// The passthrough: query, beta header and bytes kept.
			if got.Path != "/v1/messages?beta=true" || got.Header["Anthropic-Beta"] != r.headers["anthropic-beta"] || got.Header["X-Api-Key"] != "sk-ant-upstream" {
				t.Errorf("anthropic got %s %v", got.Path, got.Header)
			}
			want := bytes.Replace(r.body, []byte(`"model":"mock/echo"`), []byte(`"model":"claude-sonnet-4-5"`), 1)
			if !bytes.Equal(got.Body, want) && !bytes.Equal(got.Body, bytes.Replace(want, []byte(`"stream":true`), []byte(`"stream":false`), 1)) {
				t.Errorf("passthrough not byte-stable")
			}
		}},
	}
	for _, r := range claudeCodeRequests(t) {
		for _, m := range models {
			for _, stream := range []bool{true, false} {
				name := r.name + "/" + m.model
				if !stream {
					name += "/nostream"
				}
				t.Run(name, func(t *testing.T) {
					// Sequential: each case checks its upstream's last request.
					status, body := r.send(t, g, m.model, stream)
					if status != 200 {
						t.Fatalf("%d %s", status, body)
					}
					msg := anthropicAnswer(t, body, stream)
					if msg.Role != "assistant" || msg.StopReason != "end_turn" {
						t.Fatalf("role %q, stop %q", msg.Role, msg.StopReason)
					}
					// mock/echo echoes the last user message's text, which
					// is empty when it holds only the image or PDF moved
					// out of a tool result.
					if m.reply != "" && (len(msg.Content) != 1 || msg.Content[0].Text != m.reply) {
						t.Errorf("content %+v", msg.Content)
					}
					if m.check != nil {
						m.check(t, r, m.up.Last())
					}
				})
			}
		}
	}
}

// TestClaudeCodeAgentLoop: a Claude-Code-shaped conversation with mock/tool
// goes request → tool_use → tool_result turn → final text through the
// gateway, streaming and not.
func TestClaudeCodeAgentLoop(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	var base claudeCodeRequest
	for _, r := range claudeCodeRequests(t) {
		if r.name == "hello" {
			base = r
		}
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(base.body, &body); err != nil {
		t.Fatal(err)
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(body["messages"], &msgs); err != nil {
		t.Fatal(err)
	}
	for _, stream := range []bool{true, false} {
		t.Run(map[bool]string{true: "stream", false: "nostream"}[stream], func(t *testing.T) {
			turn := func(msgs []json.RawMessage) anthropic.Message {
				t.Helper()
				b := map[string]json.RawMessage{}
				for k, v := range body {
					b[k] = v
				}
				b["messages"], _ = json.Marshal(msgs)
				b["model"] = json.RawMessage(`"mock/tool"`)
				r := base
				r.body, _ = json.Marshal(b)
				status, resp := r.send(t, g, "mock/tool", stream)
				if status != 200 {
					t.Fatalf("%d %s", status, resp)
				}
				return anthropicAnswer(t, resp, stream)
			}
			first := turn(msgs)
			if first.StopReason != "tool_use" || len(first.Content) != 1 || first.Content[0].Type != "tool_use" || first.Content[0].Name != "Agent" {
				t.Fatalf("first turn: %+v", first)
			}
			use := first.Content[0]
			// Claude Code sends the call back with a thinking-free
			// assistant turn and the tool's result.
			assistant, _ := json.Marshal(map[string]any{"role": "assistant", "content": []any{
				map[string]any{"type": "tool_use", "id": use.ID, "name": use.Name, "input": json.RawMessage(use.Input)}}})
			result, _ := json.Marshal(map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "tool_result", "tool_use_id": use.ID, "content": "agent started", "cache_control": map[string]string{"type": "ephemeral"}}}})
			second := turn(append(append([]json.RawMessage{}, msgs...), assistant, result))
			if second.StopReason != "end_turn" || len(second.Content) != 1 || second.Content[0].Text != "The tool returned: agent started" {
				t.Fatalf("second turn: %+v", second)
			}
		})
	}
}
