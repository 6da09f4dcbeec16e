package engine

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

func TestMockNonStreamThroughSDK(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	c := g.client()
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "mock/echo",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello gateway")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "hello gateway" {
		t.Fatalf("content = %q", got)
	}
	if resp.Choices[0].FinishReason != "stop" || resp.Usage.CompletionTokens != 2 {
		t.Fatalf("finish=%q usage=%+v", resp.Choices[0].FinishReason, resp.Usage)
	}
}

func TestMockStreamThroughSDK(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	c := g.client()
	for _, includeUsage := range []bool{false, true} {
		params := openai.ChatCompletionNewParams{
			Model:    "mock/echo",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("one two three four")},
		}
		// A cache hit replays in fewer, larger chunks; this test is about
		// the upstream stream.
		opts := []option.RequestOption{option.WithHeader("X-Gateway-Cache", "bypass")}
		if includeUsage {
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		s := c.Chat.Completions.NewStreaming(context.Background(), params, opts...)
		acc := openai.ChatCompletionAccumulator{}
		chunks := 0
		for s.Next() {
			acc.AddChunk(s.Current())
			chunks++
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != "one two three four" {
			t.Fatalf("content = %q", got)
		}
		// role + 4 tokens + finish (+ usage)
		want := 6
		if includeUsage {
			want = 7
			if acc.Usage.CompletionTokens != 4 {
				t.Fatalf("usage = %+v", acc.Usage)
			}
		}
		if chunks != want {
			t.Fatalf("include_usage=%v: %d chunks, want %d", includeUsage, chunks, want)
		}
	}
}

func TestOpenAIPassthrough(t *testing.T) {
	t.Parallel()
	fake := &providertest.OpenAI{Reply: "Hi there friend", PromptTokens: 11, CachedTokens: 3}
	up, err := providertest.StartOpenAI(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk-upstream-secret", "OPENAI_BASE_URL": up.URL + "/v1"})

	t.Run("non-stream keeps unknown fields and rewrites model", func(t *testing.T) {
		body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hé\u00e9"}],"future_param":{"x":[1,2]},"skill":"quick-fix","temperature":0}`
		status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
		if status != 200 {
			t.Fatalf("status %d: %s", status, resp)
		}
		got := up.Last()
		// The quick-fix skill's template arrives as a system message (the
		// skills policy); everything else is the client's bytes.
		// The gateway adds the conversation's prompt_cache_key at the end
		// (engine/promptkey.go), after the client's members.
		want := `{"model":"gpt-4o","messages":[{"role":"system","content":` + skillTemplate(t, "quick-fix") + `},{"role":"user","content":"hé\u00e9"}],"future_param":{"x":[1,2]},"temperature":0}`
		key := regexp.MustCompile(`,"prompt_cache_key":"gw-[0-9a-f]{16}"\}$`)
		if !key.Match(got.Body) || key.ReplaceAllString(string(got.Body), "}") != want {
			t.Fatalf("upstream body\n got %s\nwant %s with a prompt_cache_key", got.Body, want)
		}
		if got.Header["Authorization"] != "Bearer sk-upstream-secret" {
			t.Fatalf("upstream auth header = %q", got.Header["Authorization"])
		}
		if hdr.Get("X-Gateway-Provider") != "openai" || hdr.Get("X-Gateway-Model") != "gpt-4o" || hdr.Get("X-Request-Id") == "" {
			t.Fatalf("headers: %v", hdr)
		}
		if !strings.Contains(resp, `"cached_tokens":3`) {
			t.Fatalf("response lost usage details: %s", resp)
		}
	})

	t.Run("provider/model form", func(t *testing.T) {
		c := g.client()
		r, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "openai/gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.Choices[0].Message.Content != "Hi there friend" {
			t.Fatalf("content %q", r.Choices[0].Message.Content)
		}
		if !strings.Contains(string(up.Last().Body), `"model":"gpt-4o-mini"`) {
			t.Fatalf("model not rewritten: %s", up.Last().Body)
		}
	})

	t.Run("stream asks upstream for usage and strips it for the client", func(t *testing.T) {
		body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`
		req, _ := http.NewRequest("POST", g.url+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events := sseEvents(t, resp.Body)
		if !strings.Contains(string(up.Last().Body), `"stream_options":{"include_usage":true}`) {
			t.Fatalf("upstream not asked for usage: %s", up.Last().Body)
		}
		if events[len(events)-1] != "[DONE]" {
			t.Fatalf("last event %q", events[len(events)-1])
		}
		for _, e := range events {
			if strings.Contains(e, `"choices":[]`) {
				t.Fatalf("usage chunk leaked to a client that did not ask: %s", e)
			}
		}
		// role, 3 words, finish, DONE
		if len(events) != 6 {
			t.Fatalf("%d events: %q", len(events), events)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content-type %q", ct)
		}
	})

	t.Run("stream with include_usage via SDK", func(t *testing.T) {
		c := g.client()
		s := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		acc := openai.ChatCompletionAccumulator{}
		for s.Next() {
			acc.AddChunk(s.Current())
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		if acc.Usage.PromptTokens != 11 || acc.Usage.PromptTokensDetails.CachedTokens != 3 {
			t.Fatalf("usage %+v", acc.Usage)
		}
		if acc.Choices[0].Message.Content != "Hi there friend" {
			t.Fatalf("content %q", acc.Choices[0].Message.Content)
		}
	})

	t.Run("tool call streams arguments intact", func(t *testing.T) {
		fake2 := &providertest.OpenAI{ToolCall: "get_weather", ToolArgs: `{"city":"Paris","unit":"c"}`, ArgChunks: 4}
		up2, err := providertest.StartOpenAI(fake2)
		if err != nil {
			t.Fatal(err)
		}
		defer up2.Close()
		g2 := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": up2.URL + "/v1"})
		c := g2.client()
		s := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "get_weather"})},
		})
		acc := openai.ChatCompletionAccumulator{}
		for s.Next() {
			acc.AddChunk(s.Current())
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		tc := acc.Choices[0].Message.ToolCalls
		if len(tc) != 1 || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != `{"city":"Paris","unit":"c"}` || tc[0].ID != "call_abc123" {
			t.Fatalf("tool calls %+v", tc)
		}
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	fail := &providertest.OpenAI{Status: 500}
	up500, _ := providertest.StartOpenAI(fail)
	t.Cleanup(func() { _ = up500.Close() })
	limited := &providertest.OpenAI{Status: 429, ErrorBody: `{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}`}
	up429, _ := providertest.StartOpenAI(limited)
	t.Cleanup(func() { _ = up429.Close() })
	badKey := &providertest.OpenAI{Status: 401, ErrorBody: `{"error":{"message":"Incorrect API key provided: sk-upstr*****cret. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`}
	up401, _ := providertest.StartOpenAI(badKey)
	t.Cleanup(func() { _ = up401.Close() })
	slow := &providertest.OpenAI{Reply: "late", Delay: 2 * time.Second}
	upSlow, _ := providertest.StartOpenAI(slow)
	t.Cleanup(func() { _ = upSlow.Close() })
	// A port with nothing listening.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := ln.Addr().String()
	ln.Close()

	toml := `
max_body_bytes = 4096
[reliability]
retry = false
circuit_breaker = false
[providers.fail]
kind = "openai"
base_url = "` + up500.URL + `/v1"
[providers.limited]
kind = "openai"
base_url = "` + up429.URL + `/v1"
[providers.badkey]
kind = "openai"
base_url = "` + up401.URL + `/v1"
api_key = "sk-upstream-secret"
[providers.slow]
kind = "openai"
base_url = "` + upSlow.URL + `/v1"
timeout = "200ms"
[providers.dead]
kind = "openai"
base_url = "http://` + deadAddr + `/v1"
`
	g := startGateway(t, toml, nil)
	msg := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name       string
		body       string
		hdr        map[string]string
		status     int
		code       string
		param      string
		retryAfter string
		contains   string
	}{
		{name: "malformed JSON", body: `{"model":"mock/echo",`, status: 400, code: "invalid_request", contains: "not valid JSON"},
		{name: "not an object", body: `[1,2]`, status: 400, code: "invalid_request"},
		{name: "messages missing", body: `{"model":"mock/echo"}`, status: 400, param: "messages"},
		{name: "messages empty", body: `{"model":"mock/echo","messages":[]}`, status: 400, param: "messages"},
		{name: "messages wrong type", body: `{"model":"mock/echo","messages":"hi"}`, status: 400, param: "messages"},
		{name: "role missing", body: `{"model":"mock/echo","messages":[{"content":"x"}]}`, status: 400, param: "messages[0].role"},
		{name: "unknown role", body: `{"model":"mock/echo","messages":[{"role":"robot","content":"x"}]}`, status: 400, param: "messages[0].role"},
		{name: "temperature wrong type", body: `{"model":"mock/echo",` + msg + `,"temperature":"hot"}`, status: 400, param: "temperature"},
		{name: "temperature out of range", body: `{"model":"mock/echo",` + msg + `,"temperature":3}`, status: 400, param: "temperature"},
		{name: "max_tokens zero", body: `{"model":"mock/echo",` + msg + `,"max_tokens":0}`, status: 400, param: "max_tokens"},
		{name: "stream not bool", body: `{"model":"mock/echo",` + msg + `,"stream":"yes"}`, status: 400, param: "stream"},
		{name: "tool without name", body: `{"model":"mock/echo",` + msg + `,"tools":[{"type":"function","function":{}}]}`, status: 400, param: "tools[0].function.name"},
		{name: "tool message without id", body: `{"model":"mock/echo","messages":[{"role":"tool","content":"x"}]}`, status: 400, param: "messages[0].tool_call_id"},
		{name: "unknown model", body: `{"model":"nonexistent-model",` + msg + `}`, status: 404, code: "model_not_found", contains: "nonexistent-model"},
		{name: "unknown provider", body: `{"model":"nope/model",` + msg + `}`, status: 404, code: "model_not_found", contains: "nope"},
		{name: "provider not configured", body: `{"model":"claude-sonnet-4-0",` + msg + `}`, status: 404, code: "model_not_found", contains: "anthropic"},
		{name: "no key", body: `{"model":"mock/echo",` + msg + `}`, hdr: map[string]string{"Authorization": ""}, status: 401, code: "invalid_api_key"},
		{name: "wrong key", body: `{"model":"mock/echo",` + msg + `}`, hdr: map[string]string{"Authorization": "Bearer nope"}, status: 401, code: "invalid_api_key"},
		{name: "body too large", body: `{"model":"mock/echo","messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`, status: 413, code: "request_too_large"},
		{name: "upstream 500", body: `{"model":"fail/gpt-4o",` + msg + `}`, status: 502, contains: "upstream fail"},
		{name: "upstream 429", body: `{"model":"limited/gpt-4o",` + msg + `}`, status: 429, code: "rate_limit_exceeded", retryAfter: "1"},
		{name: "upstream rejects our key", body: `{"model":"badkey/gpt-4o",` + msg + `}`, status: 502, code: "upstream_auth_failed"},
		{name: "upstream timeout", body: `{"model":"slow/gpt-4o",` + msg + `}`, status: 504, code: "upstream_timeout"},
		{name: "upstream unreachable", body: `{"model":"dead/gpt-4o",` + msg + `}`, status: 502, code: "upstream_unavailable"},
		{name: "upstream unreachable stream", body: `{"model":"dead/gpt-4o","stream":true,` + msg + `}`, status: 502, code: "upstream_unavailable"},
		{name: "mock unknown model", body: `{"model":"mock/nothing",` + msg + `}`, status: 404, code: "model_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, hdr, body := g.post(t, "/v1/chat/completions", tc.body, tc.hdr)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			var env struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil || env.Error.Message == "" || env.Error.Type == "" {
				t.Fatalf("not an OpenAI error envelope: %s", body)
			}
			if tc.code != "" && (env.Error.Code == nil || *env.Error.Code != tc.code) {
				t.Fatalf("code = %v, want %s: %s", env.Error.Code, tc.code, body)
			}
			if tc.param != "" && (env.Error.Param == nil || *env.Error.Param != tc.param) {
				t.Fatalf("param = %v, want %s: %s", env.Error.Param, tc.param, body)
			}
			if tc.retryAfter != "" && hdr.Get("Retry-After") != tc.retryAfter {
				t.Fatalf("Retry-After = %q", hdr.Get("Retry-After"))
			}
			if tc.contains != "" && !strings.Contains(env.Error.Message, tc.contains) {
				t.Fatalf("message %q does not mention %q", env.Error.Message, tc.contains)
			}
			if strings.Contains(body, "sk-upstream-secret") || strings.Contains(body, "sk-upstr") {
				t.Fatalf("provider key leaked: %s", body)
			}
		})
	}
}

func TestRequestIDEchoed(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	_, hdr, _ := g.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`, map[string]string{"X-Request-Id": "client-id-42"})
	if hdr.Get("X-Request-Id") != "client-id-42" {
		t.Fatalf("X-Request-Id = %q", hdr.Get("X-Request-Id"))
	}
	if hdr.Get("Request-Id") != "" {
		t.Fatalf("request-id %q on an OpenAI route", hdr.Get("Request-Id"))
	}
	_, hdr, _ = g.post(t, "/v1/chat/completions", `{`, nil)
	if hdr.Get("X-Request-Id") == "" {
		t.Fatal("error responses must carry X-Request-Id too")
	}
	// The Anthropic SDKs read request-id (a response's _request_id, an
	// error's request_id): /v1/messages sends the same id under both names,
	// answers and errors alike.
	for _, body := range []string{
		`{"model":"mock/echo","max_tokens":16,"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"mock/echo","messages":[{"role":"user","content":"no max_tokens"}]}`,
	} {
		status, hdr, _ := g.post(t, "/v1/messages", body, map[string]string{"X-Request-Id": "client-id-43"})
		if hdr.Get("Request-Id") != "client-id-43" || hdr.Get("X-Request-Id") != "client-id-43" {
			t.Fatalf("/v1/messages %d: request-id %q, X-Request-Id %q", status, hdr.Get("Request-Id"), hdr.Get("X-Request-Id"))
		}
	}
	status, hdr, _ := g.post(t, "/v1/messages/count_tokens", `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`, nil)
	if id := hdr.Get("Request-Id"); id == "" || id != hdr.Get("X-Request-Id") {
		t.Fatalf("count_tokens %d: request-id %q, X-Request-Id %q", status, id, hdr.Get("X-Request-Id"))
	}
}

func TestSeedAliasesAndModels(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	status, _, body := g.post(t, "/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"alias"}]}`, nil)
	if status != 200 || !strings.Contains(body, `"alias"`) {
		t.Fatalf("/chat/completions: %d %s", status, body)
	}
	status, _, _ = g.post(t, "/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`, map[string]string{"Authorization": ""})
	if status != 401 {
		t.Fatalf("alias must be authenticated, got %d", status)
	}
	for _, path := range []string{"/v1/models", "/models"} {
		status, body := g.get(t, path, nil)
		if status != 200 || !strings.Contains(body, `"id":"mock/echo"`) || strings.Contains(body, "anthropic/") {
			t.Fatalf("%s: %d %s", path, status, body)
		}
	}
	c := g.client()
	page, err := c.Models.List(context.Background())
	if err != nil || len(page.Data) == 0 {
		t.Fatalf("SDK models: %v", err)
	}
}

func TestDefaultModelWhenAbsent(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	status, hdr, body := g.post(t, "/v1/chat/completions", `{"messages":[{"role":"user","content":"no model"}]}`, nil)
	if status != 200 || hdr.Get("X-Gateway-Model") != "echo" || !strings.Contains(body, "no model") {
		t.Fatalf("%d %v %s", status, hdr, body)
	}
}

func TestAPIKeyHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"GATEWAY_API_KEY": "k1, k2"})
	body := `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`
	for _, h := range []map[string]string{
		{"Authorization": "Bearer k1"},
		{"Authorization": "Bearer k2"},
		{"Authorization": "", "x-api-key": "k1"},
		{"Authorization": "", "api-key": "k2"},
	} {
		if status, _, resp := g.post(t, "/v1/chat/completions", body, h); status != 200 {
			t.Fatalf("%v: %d %s", h, status, resp)
		}
	}
}

func TestHashedKeyAndProject(t *testing.T) {
	t.Parallel()
	// sha256("hashed-secret")
	toml := `
[[keys]]
sha256 = "4e598f5daafc2fda61641ddbb5956deb23fde6616366dc9dd5a7c9f47da4d787"
project = "p1"
`
	g := startGateway(t, toml, map[string]string{"GATEWAY_API_KEY": ""})
	status, _, _ := g.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`, map[string]string{"Authorization": "Bearer wrong"})
	if status != 401 {
		t.Fatalf("status %d", status)
	}
	status, _, body := g.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`, map[string]string{"Authorization": "Bearer hashed-secret"})
	if status != 200 {
		t.Fatalf("hashed key refused: %d %s", status, body)
	}
	if !strings.Contains(g.logText(), `"project":"p1"`) {
		t.Fatalf("project not resolved from key: %s", g.logText())
	}
}

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	g.post(t, "/v1/chat/completions", `{"model":"mock/lorem","messages":[{"role":"user","content":"x"}]}`, nil)
	status, body := g.get(t, "/metrics", nil)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`gateway_requests_total{provider="mock",model="mock/lorem",status="200"}`,
		`gateway_request_duration_seconds_bucket{provider="mock",model="mock/lorem"`,
		`gateway_tokens_total{provider="mock",model="mock/lorem",type="output"}`,
		`gateway_overhead_seconds_bucket`,
		`gateway_in_flight_requests`,
		`gateway_time_to_first_token_seconds_bucket`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestAccessLogHasNoKeysOrPrompts(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk-very-secret-upstream", "OPENAI_BASE_URL": up.URL + "/v1"})
	g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"my secret prompt"}]}`, nil)
	logs := g.logText()
	if !strings.Contains(logs, `"msg":"request"`) || !strings.Contains(logs, `"model":"openai/gpt-4o"`) || !strings.Contains(logs, `"prompt_tokens"`) {
		t.Fatalf("access log incomplete: %s", logs)
	}
	for _, secret := range []string{"sk-very-secret-upstream", testKey, "my secret prompt"} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log contains %q: %s", secret, logs)
		}
	}
}

func TestHealthAndReady(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	if status, body := g.get(t, "/healthz", map[string]string{"Authorization": ""}); status != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz %d %s", status, body)
	}
	if status, body := g.get(t, "/readyz", nil); status != 200 || !strings.Contains(body, `"mock"`) {
		t.Fatalf("readyz %d %s", status, body)
	}
	if status, _ := g.get(t, "/nope", nil); status != 404 {
		t.Fatalf("unknown path %d", status)
	}
}

func TestOllamaThroughSDK(t *testing.T) {
	t.Parallel()
	fake := &providertest.Ollama{Reply: "local answer here", Models: []string{"qwen2.5-coder:7b"}, PromptTokens: 12}
	up, err := providertest.StartOllama(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"LOCAL_LLM_BASE_URL": up.URL})
	c := g.client()
	params := openai.ChatCompletionNewParams{
		Model:    "ollama/qwen2.5-coder:7b",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}
	r, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if r.Choices[0].Message.Content != "local answer here" || r.Usage.PromptTokens != 12 {
		t.Fatalf("%+v", r)
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := c.Chat.Completions.NewStreaming(context.Background(), params)
	acc := openai.ChatCompletionAccumulator{}
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if s.Err() != nil || acc.Choices[0].Message.Content != "local answer here" || acc.Usage.PromptTokens != 12 {
		t.Fatalf("stream: %v %+v", s.Err(), acc)
	}
	// /api/tags models appear in /v1/models.
	if _, body := g.get(t, "/v1/models", nil); !strings.Contains(body, `"id":"ollama/qwen2.5-coder:7b"`) {
		t.Fatalf("models: %s", body)
	}
	// Ollama's 404 for an unknown model reaches the client as a 404.
	status, _, body := g.post(t, "/v1/chat/completions", `{"model":"ollama/nope","messages":[{"role":"user","content":"x"}]}`, nil)
	if status != 404 {
		t.Fatalf("unknown ollama model: %d %s", status, body)
	}
}

func TestCostAndAdminUsage(t *testing.T) {
	t.Parallel()
	fake := &providertest.OpenAI{Reply: "one two three four", PromptTokens: 1000, CachedTokens: 400}
	up, _ := providertest.StartOpenAI(fake)
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": up.URL + "/v1", "GATEWAY_ADMIN_KEY": "admin-secret"})
	status, hdr, _ := g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, nil)
	if status != 200 {
		t.Fatal(status)
	}
	// gpt-4o: 600 uncached × $2.5/M + 400 cached × $1.25/M + 4 output × $10/M
	if got := hdr.Get("X-Gateway-Cost-USD"); got != "0.00204000" {
		t.Fatalf("X-Gateway-Cost-USD = %q", got)
	}
	if status, _ := g.get(t, "/admin/usage", nil); status != 401 {
		t.Fatalf("admin without admin key: %d", status)
	}
	status, body := g.get(t, "/admin/usage?project=default", map[string]string{"Authorization": "Bearer admin-secret"})
	if status != 200 || !strings.Contains(body, `"model":"openai/gpt-4o"`) || !strings.Contains(body, `"prompt_tokens":1000`) || !strings.Contains(body, `"cost_usd":0.002040`) {
		t.Fatalf("usage: %d %s", status, body)
	}
	g2 := startGateway(t, "", nil)
	if status, _ := g2.get(t, "/admin/usage", nil); status != 404 {
		t.Fatalf("admin API must not exist without GATEWAY_ADMIN_KEY: %d", status)
	}
}

func TestAdminUsageIsValidJSON(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": "adm"})
	g.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`, nil)
	_, body := g.get(t, "/admin/usage", map[string]string{"Authorization": "Bearer adm"})
	var v struct {
		Rows  []map[string]any `json:"rows"`
		Total map[string]any   `json:"total"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Rows) == 0 || v.Total["requests"] != float64(1) {
		t.Fatalf("invalid /admin/usage JSON (%v): %s", err, body)
	}
}
