package ollama

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/aigateway/gateway/providers/upstream"
)

// start runs fake on loopback and returns a Provider pointed at it.
func start(t *testing.T, fake *providertest.Ollama, cfg Config) (*Provider, *providertest.Server) {
	t.Helper()
	srv, err := providertest.StartOllama(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg.BaseURL = srv.URL
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, srv
}

func chat(t *testing.T, p *Provider, body string) (*providers.Response, error) {
	t.Helper()
	r := decode(t, []byte(body))
	return p.Chat(context.Background(), &providers.Call{Req: r, Model: "llama3.2", ID: "chatcmpl-e2e", Created: 1751919739})
}

// completion is the part of an OpenAI chat.completion the tests look at.
type completion struct {
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func TestEndToEndNonStream(t *testing.T) {
	t.Parallel()
	p, srv := start(t, &providertest.Ollama{Reply: "Hello! How are you today?", PromptTokens: 26}, Config{Name: "local"})
	resp, err := chat(t, p, `{"model":"ollama/llama3.2","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	var c completion
	if err := json.Unmarshal(resp.Body, &c); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, resp.Body)
	}
	if got := *c.Choices[0].Message.Content; got != "Hello! How are you today?" {
		t.Errorf("content = %q", got)
	}
	if c.Choices[0].FinishReason != "stop" || c.Usage.PromptTokens != 26 || c.Usage.CompletionTokens != 5 {
		t.Errorf("finish/usage = %q %+v", c.Choices[0].FinishReason, c.Usage)
	}
	if resp.Usage != (providers.Usage{PromptTokens: 26, CompletionTokens: 5, Set: true}) || c.Model != "llama3.2" {
		t.Errorf("Response.Usage = %+v, model = %q", resp.Usage, c.Model)
	}
	rec := srv.Last()
	if rec.Method != "POST" || rec.Path != "/api/chat" {
		t.Errorf("upstream saw %s %s", rec.Method, rec.Path)
	}
	want := `{"model":"llama3.2","messages":[{"role":"user","content":"hi"}],"options":{"temperature":0.5},"stream":false}`
	if string(rec.Body) != want {
		t.Errorf("upstream body\n got %s\nwant %s", rec.Body, want)
	}
}

func TestEndToEndStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		includeUsage bool
	}{
		{name: "plain"},
		{name: "include_usage", includeUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, srv := start(t, &providertest.Ollama{Reply: "The sky is blue.", Thinking: "Rayleigh.", PromptTokens: 7}, Config{})
			body := `{"messages":[{"role":"user","content":"why?"}],"stream":true`
			if tt.includeUsage {
				body += `,"stream_options":{"include_usage":true}`
			}
			resp, err := chat(t, p, body+`}`)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			out := drain(t, resp.Stream)
			checkSSE(t, out)
			content, reasoning, finish, usage := collect(t, out)
			if content != "The sky is blue." || reasoning != "Rayleigh." || finish != "stop" {
				t.Errorf("content %q, reasoning %q, finish %q", content, reasoning, finish)
			}
			if usage != tt.includeUsage {
				t.Errorf("usage chunk present = %v, want %v", usage, tt.includeUsage)
			}
			if u := resp.Stream.Usage(); u != (providers.Usage{PromptTokens: 7, CompletionTokens: 4, Set: true}) {
				t.Errorf("Usage() = %+v", u)
			}
			if rec := srv.Last(); !bytes.Contains(rec.Body, []byte(`"stream":true`)) || rec.Header["Accept"] != "application/x-ndjson" {
				t.Errorf("upstream request: %s %v", rec.Body, rec.Header)
			}
		})
	}
}

// collect folds the client's SSE stream back into an answer.
func collect(t *testing.T, out []byte) (content, reasoning, finish string, usage bool) {
	t.Helper()
	for _, ev := range bytes.Split(out, []byte("\n\n")) {
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok || string(data) == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content   string `json:"content"`
					Reasoning string `json:"reasoning_content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct{} `json:"usage"`
		}
		if err := json.Unmarshal(data, &chunk); err != nil {
			t.Fatalf("chunk %s: %v", data, err)
		}
		usage = usage || chunk.Usage != nil
		for _, c := range chunk.Choices {
			content += c.Delta.Content
			reasoning += c.Delta.Reasoning
			if c.FinishReason != nil {
				finish = *c.FinishReason
			}
		}
	}
	return content, reasoning, finish, usage
}

// TestEndToEndToolRoundTrip: the model calls a tool, the client answers it,
// and the second request carries the call as an object and the result with
// the tool's name.
func TestEndToEndToolRoundTrip(t *testing.T) {
	t.Parallel()
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`
	for _, stream := range []bool{false, true} {
		name := "non-stream"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := &providertest.Ollama{ToolCall: "get_weather", ToolArgs: `{"unit":"C","city":"Tokyo"}`}
			p, srv := start(t, fake, Config{})
			first := `{"messages":[{"role":"user","content":"Weather in Tokyo?"}],` + tools
			if stream {
				first += `,"stream":true`
			}
			resp, err := chat(t, p, first+`}`)
			if err != nil {
				t.Fatal(err)
			}
			var id, fn, args, finish string
			if stream {
				out := drain(t, resp.Stream)
				checkSSE(t, out)
				id, fn, args, finish = streamedToolCall(t, out)
			} else {
				var c completion
				if err := json.Unmarshal(resp.Body, &c); err != nil {
					t.Fatal(err)
				}
				tc := c.Choices[0].Message.ToolCalls[0]
				id, fn, args, finish = tc.ID, tc.Function.Name, tc.Function.Arguments, c.Choices[0].FinishReason
			}
			resp.Close()
			if id != "call_e2e_0" || fn != "get_weather" || args != `{"city":"Tokyo","unit":"C"}` || finish != "tool_calls" {
				t.Fatalf("tool call = %q %q %q, finish %q", id, fn, args, finish)
			}
			if !bytes.Contains(srv.Last().Body, []byte(`"tools":[{"type":"function","function":{"name":"get_weather"`)) {
				t.Errorf("tools not sent: %s", srv.Last().Body)
			}

			fake.ToolCall, fake.Reply = "", "It is 11 degrees."
			argsJSON, _ := json.Marshal(args)
			second := `{"messages":[{"role":"user","content":"Weather in Tokyo?"},` +
				`{"role":"assistant","content":null,"tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"get_weather","arguments":` + string(argsJSON) + `}}]},` +
				`{"role":"tool","tool_call_id":"` + id + `","content":"11 degrees"}],` + tools + `}`
			resp, err = chat(t, p, second)
			if err != nil {
				t.Fatal(err)
			}
			resp.Close()
			sent := string(srv.Last().Body)
			for _, want := range []string{
				`{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo","unit":"C"}}}]}`,
				`{"role":"tool","content":"11 degrees","tool_name":"get_weather"}`,
			} {
				if !strings.Contains(sent, want) {
					t.Errorf("second request lacks %s:\n%s", want, sent)
				}
			}
		})
	}
}

func streamedToolCall(t *testing.T, out []byte) (id, name, args, finish string) {
	t.Helper()
	for _, ev := range bytes.Split(out, []byte("\n\n")) {
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok || string(data) == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					ToolCalls []struct {
						ID       string `json:"id"`
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(data, &chunk); err != nil {
			t.Fatal(err)
		}
		for _, c := range chunk.Choices {
			for _, tc := range c.Delta.ToolCalls {
				id, name = tc.ID, tc.Function.Name
				args += tc.Function.Arguments
			}
			if c.FinishReason != nil {
				finish = *c.FinishReason
			}
		}
	}
	return id, name, args, finish
}

func TestEndToEndImage(t *testing.T) {
	t.Parallel()
	const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
	t.Run("data url", func(t *testing.T) {
		t.Parallel()
		p, srv := start(t, &providertest.Ollama{Reply: "A pixel."}, Config{})
		resp, err := chat(t, p, `{"messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,`+png+`"}}]}]}`)
		if err != nil {
			t.Fatal(err)
		}
		resp.Close()
		want := `{"role":"user","content":"what is this?","images":["` + png + `"]}`
		if !strings.Contains(string(srv.Last().Body), want) {
			t.Errorf("upstream body lacks %s:\n%s", want, srv.Last().Body)
		}
	})
	t.Run("http url", func(t *testing.T) {
		t.Parallel()
		p, srv := start(t, &providertest.Ollama{Reply: "A pixel."}, Config{})
		_, err := chat(t, p, `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}`)
		var re *providers.RequestError
		if !errors.As(err, &re) || re.Param != "messages[0].content[0].image_url.url" {
			t.Fatalf("err = %v, want a RequestError naming the image", err)
		}
		if n := srv.Hits.Load(); n != 0 {
			t.Errorf("upstream was called %d times", n)
		}
	})
}

func TestEndToEndErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fake     *providertest.Ollama
		cfg      Config
		stream   bool
		status   int
		code     string
		contains string
	}{
		{
			name: "unknown model", fake: &providertest.Ollama{Models: []string{"qwen3:latest"}},
			status: 404, code: "model_not_found", contains: `model "llama3.2" not found, try pulling it first`,
		},
		{
			name: "unknown model streaming", fake: &providertest.Ollama{Models: []string{"qwen3:latest"}}, stream: true,
			status: 404, code: "model_not_found", contains: "try pulling it first",
		},
		{
			name: "runner failure", fake: &providertest.Ollama{Status: 500, ErrorMessage: "llama runner process has terminated: signal: killed"},
			status: 502, contains: "llama runner process has terminated",
		},
		{
			name: "bad request", fake: &providertest.Ollama{Status: 400, ErrorMessage: `invalid options: "num_ctx"`},
			status: 400, contains: "invalid options",
		},
		{
			name: "proxy refuses our key", fake: &providertest.Ollama{Status: 401, ErrorBody: `{"error":"key sk-ollama-secret is not valid"}`},
			cfg:    Config{APIKey: "sk-ollama-secret"},
			status: 502, code: "upstream_auth_failed", contains: "key [REDACTED] is not valid",
		},
		{
			name: "not json", fake: &providertest.Ollama{Status: 503, ErrorBody: `<html>Service Unavailable</html>`},
			status: 502, contains: "answered HTTP 503",
		},
		{
			name: "timeout", fake: &providertest.Ollama{Delay: 300 * time.Millisecond, Reply: "late"},
			cfg:    Config{Timeout: 20 * time.Millisecond},
			status: 504, code: "upstream_timeout",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, _ := start(t, tt.fake, tt.cfg)
			body := `{"messages":[{"role":"user","content":"hi"}]`
			if tt.stream {
				body += `,"stream":true`
			}
			_, err := chat(t, p, body+`}`)
			var ue *providers.UpstreamError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v (%T), want *providers.UpstreamError", err, err)
			}
			if ue.Status != tt.status || (tt.code != "" && ue.Code != tt.code) || !strings.Contains(ue.Message, tt.contains) {
				t.Errorf("got %d %q %q, want %d %q containing %q", ue.Status, ue.Code, ue.Message, tt.status, tt.code, tt.contains)
			}
			if strings.Contains(ue.Error(), "sk-ollama-secret") {
				t.Errorf("error leaks the key: %s", ue.Error())
			}
		})
	}
}

func TestEndToEndUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	p, err := New(Config{BaseURL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = chat(t, p, `{"messages":[{"role":"user","content":"hi"}]}`)
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 502 || !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("err = %v, want a 502 wrapping ErrUnavailable", err)
	}
}

func TestEndToEndMidStreamError(t *testing.T) {
	t.Parallel()
	p, _ := start(t, &providertest.Ollama{Reply: "one two three four", ErrorAfter: 2, ErrorMessage: "CUDA error: out of memory"}, Config{})
	resp, err := chat(t, p, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	out := drain(t, resp.Stream)
	checkSSE(t, out)
	if !bytes.Contains(out, []byte(`"content":"one "`)) || !bytes.Contains(out, []byte(`{"error":{"message":"upstream ollama: CUDA error: out of memory","type":"upstream_error"`)) {
		t.Errorf("stream:\n%s", out)
	}
}

// TestEndToEndCancel: closing the stream mid-way closes the upstream
// connection, which the fake notices on its next write.
func TestEndToEndCancel(t *testing.T) {
	t.Parallel()
	p, srv := start(t, &providertest.Ollama{Reply: strings.Repeat("word ", 2000), Pace: 5 * time.Millisecond}, Config{})
	resp, err := chat(t, p, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := resp.Stream.Next(); err != nil {
			t.Fatal(err)
		}
	}
	resp.Close()
	waitFor(t, "the upstream to see the connection closed", func() bool { return srv.Closed.Load() == 1 })
	waitFor(t, "the upstream stream to end", func() bool { return srv.Active.Load() == 0 })
}

// TestCloseUnblocksNext: Close from another goroutine makes a Next that is
// blocked on the upstream return, with an error event.
func TestCloseUnblocksNext(t *testing.T) {
	t.Parallel()
	p, srv := start(t, &providertest.Ollama{Reply: "a b c d", StallAfter: 1, StallProbe: 50 * time.Millisecond}, Config{})
	resp, err := chat(t, p, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Stream.Next(); err != nil { // role + "a "
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() {
		b, _ := resp.Stream.Next() // blocks: the fake stalls
		done <- append([]byte(nil), b...)
	}()
	_ = resp.Stream.Close()
	b := <-done
	if !bytes.Contains(b, []byte(`"error"`)) || !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
		t.Errorf("Next after Close = %q, want an error event", b)
	}
	resp.Close()
	waitFor(t, "the upstream to see the connection closed", func() bool { return srv.Closed.Load() == 1 })
}

// TestEndToEndStall: an upstream silent for longer than the idle timeout
// ends the stream with an upstream_timeout error event.
func TestEndToEndStall(t *testing.T) {
	t.Parallel()
	p, _ := start(t, &providertest.Ollama{Reply: "a b c d", StallAfter: 2, StallProbe: 500 * time.Millisecond},
		Config{Options: upstream.Options{IdleTimeout: 100 * time.Millisecond}})
	resp, err := chat(t, p, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	out := drain(t, resp.Stream)
	checkSSE(t, out)
	if !bytes.Contains(out, []byte(`"content":"b "`)) || !bytes.Contains(out, []byte(`"code":"upstream_timeout"`)) {
		t.Errorf("stream:\n%s", out)
	}
}

func TestEndToEndListModels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		models []string
		base   string // suffix added to the fake's URL
	}{
		{name: "two", models: []string{"llama3.2:latest", "qwen2.5-coder:7b"}},
		{name: "none", models: nil},
		{name: "v1 suffix trimmed", models: []string{"llama3.2:latest"}, base: "/v1/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := providertest.StartOllama(&providertest.Ollama{Models: tt.models})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			p, err := New(Config{BaseURL: srv.URL + tt.base})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.ListModels()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tt.models, ",") || got == nil {
				t.Errorf("ListModels = %q, want %q", got, tt.models)
			}
			if rec := srv.Last(); rec.Method != "GET" || rec.Path != "/api/tags" {
				t.Errorf("upstream saw %s %s", rec.Method, rec.Path)
			}
		})
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"", "ftp://host", "127.0.0.1:11434"} {
		if _, err := New(Config{BaseURL: base}); err == nil {
			t.Errorf("New(%q) succeeded", base)
		}
	}
}

// waitFor polls cond: the fake learns about a closed connection only on its
// next write. It bounds the wait but asserts nothing about timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
