package engine

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
)

func anthropicClient(g *gw) anthropic.Client {
	return anthropic.NewClient(aoption.WithBaseURL(g.url), aoption.WithAPIKey(testKey), aoption.WithMaxRetries(0))
}

func TestMessagesInboundToMock(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	c := anthropicClient(g)
	params := anthropic.MessageNewParams{
		Model:     "mock/echo",
		MaxTokens: 100,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("bonjour tout le monde"))},
	}
	msg, err := c.Messages.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "bonjour tout le monde" || msg.StopReason != "end_turn" {
		t.Fatalf("%+v", msg)
	}
	stream := c.Messages.NewStreaming(context.Background(), params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if stream.Err() != nil {
		t.Fatal(stream.Err())
	}
	if len(acc.Content) != 1 || acc.Content[0].Text != "bonjour tout le monde" || acc.StopReason != "end_turn" || acc.Usage.OutputTokens == 0 {
		t.Fatalf("stream: %+v", acc)
	}
}

func TestMessagesInboundPassthroughToAnthropic(t *testing.T) {
	t.Parallel()
	fake := &providertest.Anthropic{Reply: "Hello from Claude", APIKey: "sk-ant-upstream"}
	up, err := providertest.StartAnthropic(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"ANTHROPIC_API_KEY": "sk-ant-upstream", "ANTHROPIC_BASE_URL": up.URL})
	// Odd spacing and key order must reach the upstream untouched.
	body := `{ "max_tokens": 64,  "model":"claude-sonnet-4-0", "system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}], "messages":[{"role":"user","content":"hi \u00e9"}] }`
	status, hdr, resp := g.post(t, "/v1/messages", body, map[string]string{"Authorization": "", "x-api-key": testKey, "anthropic-beta": "prompt-caching-2024-07-31"})
	if status != 200 || !strings.Contains(resp, "Hello from Claude") || !strings.Contains(resp, `"type":"message"`) {
		t.Fatalf("%d %s", status, resp)
	}
	got := up.Last()
	if string(got.Body) != body {
		t.Fatalf("passthrough not byte-stable:\n got %s\nwant %s", got.Body, body)
	}
	if got.Header["X-Api-Key"] != "sk-ant-upstream" || got.Header["Anthropic-Beta"] != "prompt-caching-2024-07-31" {
		t.Fatalf("upstream headers %v", got.Header)
	}
	if hdr.Get("X-Gateway-Provider") != "anthropic" {
		t.Fatalf("headers %v", hdr)
	}
	// Streaming through the SDK.
	c := anthropicClient(g)
	stream := c.Messages.NewStreaming(context.Background(), anthropic.MessageNewParams{
		Model: "claude-sonnet-4-0", MaxTokens: 50,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if stream.Err() != nil || len(acc.Content) == 0 || acc.Content[0].Text != "Hello from Claude" {
		t.Fatalf("stream: %v %+v", stream.Err(), acc)
	}
}

func TestMessagesErrorsInAnthropicFormat(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	tests := []struct {
		name, body string
		status     int
		errType    string
	}{
		{"malformed", `{"model":`, 400, "invalid_request_error"},
		{"unknown model", `{"model":"nope-1","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, 404, "not_found_error"},
		{"bad messages", `{"model":"mock/echo","max_tokens":5,"messages":"x"}`, 400, "invalid_request_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := g.post(t, "/v1/messages", tc.body, nil)
			if status != tc.status || !strings.Contains(body, `"type":"error"`) || !strings.Contains(body, `"type":"`+tc.errType+`"`) {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
}

// TestCountTokensEveryModel: count_tokens answers for a model Anthropic
// does not serve, with a local estimate that counts the system prompt,
// the tools and every message, and refuses a malformed body with
// Anthropic's error envelope.
func TestCountTokensEveryModel(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	count := func(t *testing.T, body string) int {
		t.Helper()
		status, hdr, resp := g.post(t, "/v1/messages/count_tokens", body, nil)
		var out struct {
			InputTokens int `json:"input_tokens"`
		}
		if status != 200 || json.Unmarshal([]byte(resp), &out) != nil || out.InputTokens <= 0 || hdr.Get("X-Gateway-Token-Count") != "estimated" {
			t.Fatalf("count_tokens: %d %v %s", status, hdr, resp)
		}
		return out.InputTokens
	}
	msgs := `"messages":[{"role":"user","content":"What is the weather in Paris today?"}]`
	base := count(t, `{"model":"mock/echo",`+msgs+`}`)
	// 3 to prime the reply, 3 for the message, 1 for its role, and the
	// text's tokens.
	if want := tokensReply + tokensPerMessage + accounting.CountTokens("user") + accounting.CountTokens("What is the weather in Paris today?"); base != want {
		t.Fatalf("count %d, want %d", base, want)
	}
	withSystem := count(t, `{"model":"mock/echo","system":"You are a terse assistant who answers in one sentence.",`+msgs+`}`)
	if withSystem <= base {
		t.Fatalf("system prompt not counted: %d <= %d", withSystem, base)
	}
	withTools := count(t, `{"model":"mock/echo","system":"You are a terse assistant who answers in one sentence.",`+msgs+
		`,"tools":[{"name":"get_weather","description":"Current weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}`)
	if withTools <= withSystem {
		t.Fatalf("tools not counted: %d <= %d", withTools, withSystem)
	}
	longer := count(t, `{"model":"mock/echo","messages":[{"role":"user","content":"What is the weather in Paris today?"},
{"role":"assistant","content":"Sunny."},{"role":"user","content":[{"type":"text","text":"And tomorrow?"}]}]}`)
	if longer <= base {
		t.Fatalf("later turns not counted: %d <= %d", longer, base)
	}
	for _, tc := range []struct{ name, body string }{
		{"malformed", `{"model":"mock/echo",`},
		{"bad messages", `{"model":"mock/echo","messages":"x"}`},
	} {
		status, _, body := g.post(t, "/v1/messages/count_tokens", tc.body, nil)
		if status != 400 || !strings.Contains(body, `"type":"error"`) || !strings.Contains(body, `"invalid_request_error"`) {
			t.Fatalf("%s: %d %s", tc.name, status, body)
		}
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{})
	t.Cleanup(func() { _ = oa.Close() })
	ol, _ := providertest.StartOllama(&providertest.Ollama{})
	t.Cleanup(func() { _ = ol.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": oa.URL + "/v1", "LOCAL_LLM_BASE_URL": ol.URL, "ANTHROPIC_API_KEY": "sk-ant-x"})
	c := g.client()
	r, err := c.Embeddings.New(context.Background(), openaiEmbeddingParams("text-embedding-3-small", []string{"a", "bb"}))
	if err != nil || len(r.Data) != 2 || len(r.Data[0].Embedding) != 3 || r.Usage.PromptTokens != 8 {
		t.Fatalf("openai: %v %+v", err, r)
	}
	if !strings.Contains(string(oa.Last().Body), `"model":"text-embedding-3-small"`) {
		t.Fatalf("upstream body %s", oa.Last().Body)
	}
	r, err = c.Embeddings.New(context.Background(), openaiEmbeddingParams("ollama/nomic-embed-text", []string{"hello", "world!"}))
	if err != nil || len(r.Data) != 2 || r.Data[1].Index != 1 || len(r.Data[0].Embedding) != 4 || r.Usage.PromptTokens == 0 {
		t.Fatalf("ollama: %v %+v", err, r)
	}
	// base64 from Ollama is encoded by the gateway; the SDK decodes it.
	status, _, body := g.post(t, "/v1/embeddings", `{"model":"ollama/nomic-embed-text","input":"abc","encoding_format":"base64"}`, nil)
	if status != 200 || !strings.Contains(body, `"embedding":"`) {
		t.Fatalf("base64: %d %s", status, body)
	}
	status, _, body = g.post(t, "/v1/embeddings", `{"model":"ollama/nomic-embed-text","input":[[1,2,3]]}`, nil)
	if status != 400 || !strings.Contains(body, "token arrays") {
		t.Fatalf("token input: %d %s", status, body)
	}
	status, _, body = g.post(t, "/v1/embeddings", `{"model":"anthropic/claude-haiku-4-5","input":"x"}`, nil)
	if status != 400 || !strings.Contains(body, "does not serve embeddings") {
		t.Fatalf("anthropic: %d %s", status, body)
	}
}

// TestMockEmbeddings: right after `make run` the mock serves embeddings
// (the official SDK's default request), deterministic and closer for texts
// that share words, in float and base64.
func TestMockEmbeddings(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	c := g.client()
	texts := []string{"the cat sat on the mat", "the cat sat on the red mat", "quantum chromodynamics lecture notes"}
	r, err := c.Embeddings.New(context.Background(), openaiEmbeddingParams("mock/echo", texts))
	if err != nil || len(r.Data) != 3 || r.Usage.PromptTokens == 0 {
		t.Fatalf("mock embeddings: %v %+v", err, r)
	}
	vec := func(i int) []float64 { return r.Data[i].Embedding }
	cos := func(a, b []float64) float64 {
		var d, na, nb float64
		for i := range a {
			d, na, nb = d+a[i]*b[i], na+a[i]*a[i], nb+b[i]*b[i]
		}
		return d / math.Sqrt(na*nb)
	}
	if len(vec(0)) != 256 || math.Abs(cos(vec(0), vec(0))-1) > 1e-6 {
		t.Fatalf("vector of %d dimensions, self-similarity %v", len(vec(0)), cos(vec(0), vec(0)))
	}
	if near, far := cos(vec(0), vec(1)), cos(vec(0), vec(2)); near <= far || near < 0.5 {
		t.Fatalf("similar texts %.3f, unrelated %.3f", near, far)
	}
	again, err := c.Embeddings.New(context.Background(), openaiEmbeddingParams("mock/echo", texts[:1]))
	if err != nil || !slices.Equal(again.Data[0].Embedding, vec(0)) {
		t.Fatalf("not deterministic: %v", err)
	}
	status, _, body := g.post(t, "/v1/embeddings", `{"model":"mock/echo","input":[[12,34],[56]],"encoding_format":"base64","dimensions":8}`, nil)
	var b64 struct {
		Data []struct{ Embedding string }
	}
	if status != 200 || json.Unmarshal([]byte(body), &b64) != nil || len(b64.Data) != 2 {
		t.Fatalf("base64 of token arrays: %d %s", status, body)
	}
	if raw, err := base64.StdEncoding.DecodeString(b64.Data[1].Embedding); err != nil || len(raw) != 8*4 {
		t.Fatalf("base64 vector: %d bytes, %v", len(raw), err)
	}
	status, _, body = g.post(t, "/v1/embeddings", `{"model":"mock/echo","input":"x","dimensions":0}`, nil)
	if status != 400 || !strings.Contains(body, `"param":"dimensions"`) {
		t.Fatalf("dimensions 0: %d %s", status, body)
	}
}
