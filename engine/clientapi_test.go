package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// TestModelRetrieve checks GET /v1/models/{model}, OpenAI's "retrieve
// model" (https://platform.openai.com/docs/api-reference/models/retrieve):
// the official SDK's Models.Get escapes the slash of mock/echo, a bare
// alias resolves, and an unknown or unlisted model is a 404 envelope with
// code model_not_found.
func TestModelRetrieve(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `
[[models]]
name = "mock/echo"
provider = "mock"
upstream = "echo"
aliases = ["my-echo"]
`, nil)
	c := g.client()
	for _, id := range []string{"mock/echo", "my-echo", "mock/tool"} {
		m, err := c.Models.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("Models.Get(%q): %v", id, err)
		}
		if m.ID != id || m.Object != "model" || m.OwnedBy != "mock" || m.Created == 0 {
			t.Fatalf("Models.Get(%q) = %+v", id, m)
		}
	}
	for _, id := range []string{"nope", "mock/nope", "anthropic/claude-sonnet-4-0"} {
		_, err := c.Models.Get(context.Background(), id)
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Code != "model_not_found" || ae.Param != "model" || !strings.Contains(ae.Message, id) {
			t.Fatalf("Models.Get(%q): %v", id, err)
		}
	}
	if status, body := g.get(t, "/models/mock/lorem", nil); status != 200 || !strings.Contains(body, `"id":"mock/lorem"`) {
		t.Fatalf("/models/mock/lorem: %d %s", status, body)
	}
	if status, body := g.get(t, "/v1/models/mock/echo", map[string]string{"Authorization": "Bearer wrong"}); status != 401 || !strings.Contains(body, `"invalid_api_key"`) {
		t.Fatalf("wrong key: %d %s", status, body)
	}
}

// TestCORS checks the client API's CORS (https://fetch.spec.whatwg.org/#http-cors-protocol,
// cors.go): a browser's preflight is answered 204 with the methods and the
// headers it asked for, the actual answer lets the page read it and the
// gateway's headers; the admin API grants nothing; an open gateway grants
// loopback origins only, and refuses a foreign page's unpreflighted POST
// with 403 before any provider sees it. OPTIONS and HEAD are answered, an unknown path
// stays a 404 envelope.
func TestCORS(t *testing.T) {
	t.Parallel()
	keyed := startGateway(t, "", nil)
	open := startGateway(t, "", map[string]string{"GATEWAY_API_KEY": ""})
	const chat = `{"model":"mock/echo","messages":[{"role":"user","content":"cors"}]}`
	tests := []struct {
		name      string
		g         *gw
		method    string
		path      string
		hdr       map[string]string
		status    int
		allow     string // Access-Control-Allow-Origin
		methods   string // Access-Control-Allow-Methods
		body      string // a substring of the body
		wantEmpty bool
	}{
		{name: "preflight keyed", g: keyed, method: "OPTIONS", path: "/v1/chat/completions",
			hdr:    map[string]string{"Origin": "https://chat.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type,x-stainless-os"},
			status: 204, allow: "*", methods: "OPTIONS, POST", wantEmpty: true},
		{name: "preflight models", g: keyed, method: "OPTIONS", path: "/v1/models/mock/echo",
			hdr:    map[string]string{"Origin": "https://chat.example", "Access-Control-Request-Method": "GET"},
			status: 204, allow: "*", methods: "GET, OPTIONS", wantEmpty: true},
		{name: "post keyed", g: keyed, method: "POST", path: "/v1/chat/completions",
			hdr:    map[string]string{"Origin": "https://chat.example", "Authorization": "Bearer " + testKey},
			status: 200, allow: "*", body: `"content":"cors"`},
		{name: "error keeps CORS", g: keyed, method: "POST", path: "/v1/chat/completions",
			hdr:    map[string]string{"Origin": "https://chat.example", "Authorization": "Bearer wrong"},
			status: 401, allow: "*", body: `"invalid_api_key"`},
		{name: "admin never", g: keyed, method: "OPTIONS", path: "/admin/policies",
			hdr:    map[string]string{"Origin": "https://chat.example", "Access-Control-Request-Method": "GET"},
			status: 204, wantEmpty: true},
		{name: "plain OPTIONS", g: keyed, method: "OPTIONS", path: "/v1/embeddings", status: 204, wantEmpty: true},
		{name: "OPTIONS unknown path", g: keyed, method: "OPTIONS", path: "/v1/nope",
			hdr: map[string]string{"Origin": "https://chat.example", "Access-Control-Request-Method": "POST"}, status: 404, allow: "*", body: `"code":"not_found"`},
		{name: "HEAD healthz", g: keyed, method: "HEAD", path: "/healthz", status: 200, wantEmpty: true},
		{name: "HEAD models", g: keyed, method: "HEAD", path: "/v1/models/mock%2Fecho", hdr: map[string]string{"Authorization": "Bearer " + testKey}, status: 200, wantEmpty: true},
		{name: "HEAD models wrong key", g: keyed, method: "HEAD", path: "/v1/models", status: 401, wantEmpty: true},
		{name: "HEAD on a POST route", g: keyed, method: "HEAD", path: "/v1/chat/completions", status: 405, wantEmpty: true},
		{name: "open gateway loopback origin", g: open, method: "OPTIONS", path: "/v1/chat/completions",
			hdr:    map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
			status: 204, allow: "http://localhost:3000", methods: "OPTIONS, POST", wantEmpty: true},
		{name: "open gateway foreign origin", g: open, method: "POST", path: "/v1/chat/completions",
			hdr: map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"}, status: 403, body: `"code":"origin_not_allowed"`},
		{name: "open gateway null origin", g: open, method: "POST", path: "/v1/chat/completions",
			hdr: map[string]string{"Origin": "null"}, status: 403, body: `"code":"origin_not_allowed"`},
		{name: "open gateway same origin", g: open, method: "POST", path: "/v1/chat/completions",
			hdr: map[string]string{"Origin": "http://gw.example:8080", "Host": "gw.example:8080"}, status: 200, body: `"content":"cors"`},
		{name: "open gateway no origin", g: open, method: "POST", path: "/v1/chat/completions", status: 200, body: `"content":"cors"`},
		{name: "open gateway foreign preflight", g: open, method: "OPTIONS", path: "/v1/chat/completions",
			hdr: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, status: 204, wantEmpty: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.method == "POST" {
				body = strings.NewReader(chat)
			}
			req, err := http.NewRequest(tt.method, tt.g.url+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			req.Host = tt.hdr["Host"]
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			h := resp.Header
			if resp.StatusCode != tt.status || h.Get("Access-Control-Allow-Origin") != tt.allow || h.Get("Access-Control-Allow-Methods") != tt.methods {
				t.Fatalf("%d %v %s", resp.StatusCode, h, b)
			}
			if !strings.Contains(string(b), tt.body) || tt.wantEmpty && len(b) != 0 {
				t.Fatalf("body %q", b)
			}
			if tt.allow == "" {
				return
			}
			if tt.status == 204 {
				if got, want := h.Get("Access-Control-Allow-Headers"), tt.hdr["Access-Control-Request-Headers"]; got != want || h.Get("Access-Control-Max-Age") == "" {
					t.Fatalf("allow headers %q, want %q; %v", got, want, h)
				}
			} else if tt.method != "OPTIONS" && !strings.Contains(h.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
				t.Fatalf("expose: %v", h)
			}
			if (tt.allow != "*") != (h.Get("Vary") == "Origin") {
				t.Fatalf("Vary: %v", h)
			}
		})
	}
}

// TestMockToolChoice checks that mock/tool honours tool_choice as OpenAI
// documents it (https://platform.openai.com/docs/api-reference/chat/create#chat-create-tool_choice),
// streaming or not: "none" answers text, a named function (or the allowed
// one) is the one called, a custom tool is never called, and a choice
// naming no tool of the request is a 400 envelope.
func TestMockToolChoice(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	// A custom tool first: the mock calls function tools only.
	const tools = `"tools":[{"type":"custom","custom":{"name":"grammar"}},{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{}}}},` +
		`{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]`
	tests := []struct {
		name   string
		choice string
		status int
		call   string // the function called, "" for a text answer
		param  string // the 400's param
	}{
		{name: "absent", choice: "", status: 200, call: "get_weather"},
		{name: "auto", choice: `"auto"`, status: 200, call: "get_weather"},
		{name: "required", choice: `"required"`, status: 200, call: "get_weather"},
		{name: "none", choice: `"none"`, status: 200},
		{name: "named", choice: `{"type":"function","function":{"name":"get_time"}}`, status: 200, call: "get_time"},
		{name: "allowed_tools", choice: `{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"get_time"}}]}}`, status: 200, call: "get_time"},
		{name: "unknown name", choice: `{"type":"function","function":{"name":"nope"}}`, status: 400, param: "tool_choice"},
		{name: "bad string", choice: `"sometimes"`, status: 400, param: "tool_choice"},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tt.name, stream), func(t *testing.T) {
				body := `{"model":"mock/tool","stream":` + strconv.FormatBool(stream) + `,` + tools
				if tt.choice != "" {
					body += `,"tool_choice":` + tt.choice
				}
				body += `,"messages":[{"role":"user","content":"weather? ` + tt.name + `"}]}`
				status, _, resp := g.post(t, "/v1/chat/completions", body, nil)
				if status != tt.status {
					t.Fatalf("%d %s", status, resp)
				}
				if tt.status != 200 {
					var e struct {
						Error struct{ Type, Param, Message string }
					}
					if err := json.Unmarshal([]byte(resp), &e); err != nil || e.Error.Type != "invalid_request_error" || e.Error.Param != tt.param {
						t.Fatalf("envelope %s (%v)", resp, err)
					}
					return
				}
				c := chatAnswer(t, resp, stream)
				msg, finish := c.Choices[0].Message, c.Choices[0].FinishReason
				if tt.call == "" {
					if len(msg.ToolCalls) != 0 || msg.Content != "no tools" || finish != "stop" {
						t.Fatalf("want text, got %+v %s", msg, finish)
					}
					return
				}
				if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != tt.call || finish != "tool_calls" {
					t.Fatalf("want a call of %s, got %+v %s", tt.call, msg, finish)
				}
			})
		}
	}
}

// chatAnswer decodes a chat completion, or puts a stream's chunks together
// as the official SDK's accumulator does.
func chatAnswer(t *testing.T, resp string, stream bool) openai.ChatCompletion {
	t.Helper()
	if !stream {
		var c openai.ChatCompletion
		if err := json.Unmarshal([]byte(resp), &c); err != nil || len(c.Choices) == 0 {
			t.Fatalf("completion %s: %v", resp, err)
		}
		return c
	}
	var acc openai.ChatCompletionAccumulator
	for _, d := range sseEvents(t, strings.NewReader(resp)) {
		if d == "[DONE]" {
			break
		}
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal([]byte(d), &c); err != nil || !acc.AddChunk(c) {
			t.Fatalf("chunk %s: %v", d, err)
		}
	}
	if len(acc.Choices) == 0 {
		t.Fatalf("no choices in %s", resp)
	}
	return acc.ChatCompletion
}

// TestMockLimits checks that the mock ends a text answer as OpenAI does
// (https://platform.openai.com/docs/api-reference/chat/create): before the
// first stop sequence (string or array), and after max_completion_tokens or
// max_tokens tokens with finish_reason "length", streaming or not, the
// usage counting what was sent.
func TestMockLimits(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	tests := []struct {
		name    string
		params  string
		model   string
		content string
		finish  string
		tokens  int64
	}{
		{name: "max_tokens", model: "mock/lorem", params: `"max_tokens":3`, content: "The quick brown ", finish: "length", tokens: 3},
		{name: "max_completion_tokens", model: "mock/lorem", params: `"max_completion_tokens":2,"max_tokens":9`, content: "The quick ", finish: "length", tokens: 2},
		{name: "stop array", model: "mock/lorem", params: `"stop":["zzz","fox"]`, content: "The quick brown ", finish: "stop", tokens: 3},
		{name: "stop string", model: "mock/echo", params: `"stop":"END"`, content: "say this ", finish: "stop", tokens: 2},
		{name: "stop then limit", model: "mock/echo", params: `"stop":"END","max_tokens":1`, content: "say ", finish: "length", tokens: 1},
		{name: "limit not reached", model: "mock/echo", params: `"max_tokens":5`, content: "say this END and more", finish: "stop", tokens: 5},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tt.name, stream), func(t *testing.T) {
				body := `{"model":"` + tt.model + `","stream":` + strconv.FormatBool(stream) + `,"stream_options":null,` + tt.params +
					`,"messages":[{"role":"user","content":"say this END and more"}]}`
				if stream {
					body = strings.Replace(body, `"stream_options":null`, `"stream_options":{"include_usage":true}`, 1)
				} else {
					body = strings.Replace(body, `"stream_options":null,`, ``, 1)
				}
				status, _, resp := g.post(t, "/v1/chat/completions", body, nil)
				if status != 200 {
					t.Fatalf("%d %s", status, resp)
				}
				c := chatAnswer(t, resp, stream)
				ch := c.Choices[0]
				if ch.Message.Content != tt.content || ch.FinishReason != tt.finish || c.Usage.CompletionTokens != tt.tokens {
					t.Fatalf("got %q %s %d tokens, want %q %s %d", ch.Message.Content, ch.FinishReason, c.Usage.CompletionTokens, tt.content, tt.finish, tt.tokens)
				}
			})
		}
	}
}

// TestMockN checks that the mock answers n choices
// (https://platform.openai.com/docs/api-reference/chat/create#chat-create-n),
// indexed 0 to n-1, streaming or not, the usage counting each; the official
// Go SDK's accumulator puts a stream's choices together.
func TestMockN(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	c := g.client()
	for _, tt := range []struct {
		name   string
		model  string
		n      int64
		text   string
		finish string
	}{
		{name: "echo n=3", model: "mock/echo", n: 3, text: "three of them", finish: "stop"},
		{name: "echo n=1", model: "mock/echo", n: 1, text: "just one", finish: "stop"},
		{name: "tool n=2", model: "mock/tool", n: 2, finish: "tool_calls"},
	} {
		params := openai.ChatCompletionNewParams{
			Model:    tt.model,
			N:        openai.Int(tt.n),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(tt.text)},
		}
		if tt.text == "" {
			params.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather?")}
			params.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "get_weather"})}
		}
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Chat.Completions.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			checkChoices(t, got, tt.n, tt.text, tt.finish)
			var acc openai.ChatCompletionAccumulator
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			s := c.Chat.Completions.NewStreaming(context.Background(), params)
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			checkChoices(t, &acc.ChatCompletion, tt.n, tt.text, tt.finish)
			if got.Usage.CompletionTokens != acc.Usage.CompletionTokens || got.Usage.CompletionTokens%tt.n != 0 || got.Usage.CompletionTokens == 0 {
				t.Fatalf("usage %+v, stream %+v", got.Usage, acc.Usage)
			}
		})
	}
}

func checkChoices(t *testing.T, c *openai.ChatCompletion, n int64, text, finish string) {
	t.Helper()
	if int64(len(c.Choices)) != n {
		t.Fatalf("%d choices, want %d: %+v", len(c.Choices), n, c.Choices)
	}
	for i, ch := range c.Choices {
		ok := ch.Index == int64(i) && ch.FinishReason == finish && ch.Message.Content == text
		if finish == "tool_calls" {
			ok = ok && len(ch.Message.ToolCalls) == 1 && ch.Message.ToolCalls[0].Function.Name == "get_weather"
		}
		if !ok {
			t.Fatalf("choice %d: %+v", i, ch)
		}
	}
}

// TestTransportErrorHeaders checks that what fasthttp refuses before the
// router (a body over max_body_bytes) still carries the client's
// X-Request-Id and, for a browser on the client API, CORS, with the 413
// envelope.
func TestTransportErrorHeaders(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "max_body_bytes = 4096\n", nil)
	body := `{"model":"mock/echo","messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, map[string]string{"X-Request-Id": "big-1", "Origin": "https://chat.example"})
	if status != 413 || !strings.Contains(resp, `"code":"request_too_large"`) {
		t.Fatalf("%d %s", status, resp)
	}
	if hdr.Get("X-Request-Id") != "big-1" || hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("headers %v", hdr)
	}
}

// TestMockJSONMode checks that the mock's answers honour response_format
// (https://platform.openai.com/docs/api-reference/chat/create#chat-create-response_format)
// through the gateway, streaming or not: the content parses as JSON, and
// as an instance of a json_schema.
func TestMockJSONMode(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	const schema = `{"type":"json_schema","json_schema":{"name":"weather","strict":true,"schema":{"type":"object",` +
		`"properties":{"city":{"type":"string"},"days":{"type":"integer"},"unit":{"type":"string","enum":["c","f"]}},` +
		`"required":["city","days","unit"],"additionalProperties":false}}}`
	for _, stream := range []bool{false, true} {
		for _, tt := range []struct {
			name, format string
			want         map[string]any
		}{
			{name: "json_object", format: `{"type":"json_object"}`, want: map[string]any{"text": "weather in Paris"}},
			{name: "json_schema", format: schema, want: map[string]any{"city": "weather in Paris", "days": float64(0), "unit": "c"}},
		} {
			t.Run(fmt.Sprintf("%s stream=%v", tt.name, stream), func(t *testing.T) {
				body := `{"model":"mock/echo","stream":` + strconv.FormatBool(stream) + `,"response_format":` + tt.format +
					`,"messages":[{"role":"user","content":"weather in Paris"}]}`
				status, _, resp := g.post(t, "/v1/chat/completions", body, nil)
				if status != 200 {
					t.Fatalf("%d %s", status, resp)
				}
				content := chatAnswer(t, resp, stream).Choices[0].Message.Content
				var got map[string]any
				if err := json.Unmarshal([]byte(content), &got); err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("content %s (%v), want %v", content, err, tt.want)
				}
			})
		}
	}
}
