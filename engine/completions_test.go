package engine

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers/providertest"
)

// The legacy Completions API
// (https://platform.openai.com/docs/api-reference/completions/create):
// a text_completion object, or chunks of one ending in data: [DONE].

type textCompletion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Text         string  `json:"text"`
		Index        int     `json:"index"`
		Logprobs     any     `json:"logprobs"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

// completionText joins a streamed completion's text and returns its
// finish_reason, its usage chunk's total and whether it ended in [DONE].
func completionText(t *testing.T, body string) (text, finish string, total int, done bool) {
	t.Helper()
	evs := sseEvents(t, strings.NewReader(body))
	for i, ev := range evs {
		if ev == "[DONE]" {
			if i != len(evs)-1 {
				t.Fatalf("[DONE] before the end: %q", evs)
			}
			return text, finish, total, true
		}
		var c textCompletion
		if err := json.Unmarshal([]byte(ev), &c); err != nil {
			t.Fatalf("event %q: %v", ev, err)
		}
		if c.Object != "text_completion" || !strings.HasPrefix(c.ID, "cmpl-") || c.Created == 0 || c.Model == "" {
			t.Fatalf("chunk header: %s", ev)
		}
		for _, ch := range c.Choices {
			if ch.Index != 0 || ch.Logprobs != nil {
				t.Fatalf("choice: %s", ev)
			}
			text += ch.Text
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			if len(c.Choices) != 0 {
				t.Fatalf("usage chunk with choices: %s", ev)
			}
			total = c.Usage.TotalTokens
		}
	}
	return text, finish, total, false
}

// TestCompletionsAPI serves /v1/completions and /completions from the mock
// and from Anthropic (a translated provider, its fake speaking the
// Messages API, https://docs.anthropic.com/en/api/messages), streamed and
// not, through the chat path.
func TestCompletionsAPI(t *testing.T) {
	t.Parallel()
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "Paris is the capital.", StopReason: "max_tokens", InputTokens: 11})
	t.Cleanup(func() { _ = an.Close() })
	g := startGateway(t, "", map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": an.URL})
	cases := []struct {
		name, path, body, text, finish string
		anthropic                      bool
	}{
		{name: "mock", path: "/v1/completions", body: `{"model":"mock/echo","prompt":"hi there","future_member":{"x":1}}`, text: "hi there", finish: "stop"},
		{name: "mock prompt array of one", path: "/completions", body: `{"model":"mock/echo","prompt":["one prompt"],"echo":false,"logprobs":null,"suffix":null}`, text: "one prompt", finish: "stop"},
		{name: "anthropic", path: "/v1/completions", body: `{"model":"anthropic/claude-sonnet-4-0","prompt":"The capital of France","stop":["\n"],"temperature":0.2}`,
			text: "Paris is the capital.", finish: "length", anthropic: true},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			name := tc.name
			body := tc.body
			if stream {
				name += "/stream"
				body = strings.TrimSuffix(body, "}") + `,"stream":true,"stream_options":{"include_usage":true}}`
			}
			t.Run(name, func(t *testing.T) {
				status, hdr, out := g.post(t, tc.path, body, nil)
				if status != 200 {
					t.Fatalf("status %d: %s", status, out)
				}
				if stream {
					if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
						t.Fatalf("content type %q", ct)
					}
					text, finish, total, done := completionText(t, out)
					if text != tc.text || finish != tc.finish || !done {
						t.Fatalf("text %q finish %q done %v: %s", text, finish, done, out)
					}
					if total == 0 {
						t.Fatalf("no usage chunk: %s", out)
					}
				} else {
					var c textCompletion
					if err := json.Unmarshal([]byte(out), &c); err != nil {
						t.Fatalf("%v: %s", err, out)
					}
					if c.Object != "text_completion" || !strings.HasPrefix(c.ID, "cmpl-") || c.Created == 0 || len(c.Choices) != 1 ||
						c.Choices[0].Text != tc.text || c.Choices[0].FinishReason == nil || *c.Choices[0].FinishReason != tc.finish ||
						c.Choices[0].Logprobs != nil || !strings.Contains(out, `"logprobs":null`) {
						t.Fatalf("completion: %s", out)
					}
					if c.Usage == nil || c.Usage.TotalTokens == 0 {
						t.Fatalf("no usage: %s", out)
					}
				}
				if tc.anthropic {
					var up struct {
						MaxTokens int `json:"max_tokens"`
						Messages  []struct {
							Role    string          `json:"role"`
							Content json.RawMessage `json:"content"`
						} `json:"messages"`
						StopSequences []string `json:"stop_sequences"`
					}
					last := an.Last()
					if err := json.Unmarshal(last.Body, &up); err != nil {
						t.Fatal(err)
					}
					// max_tokens defaults to 16, as in the reference.
					if up.MaxTokens != 16 || len(up.Messages) != 1 || up.Messages[0].Role != "user" ||
						!strings.Contains(string(up.Messages[0].Content), "The capital of France") || len(up.StopSequences) != 1 {
						t.Fatalf("upstream request: %s", last.Body)
					}
				}
			})
		}
	}
}

// TestCompletionsSuffix states a suffix as a fill-in-the-middle task: a
// system instruction and the prefix and suffix in the user message.
func TestCompletionsSuffix(t *testing.T) {
	t.Parallel()
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "a + b"})
	t.Cleanup(func() { _ = an.Close() })
	g := startGateway(t, "", map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": an.URL})
	status, _, out := g.post(t, "/v1/completions", `{"model":"anthropic/claude-sonnet-4-0","prompt":"def add(a, b):\n    return ","suffix":"\n\nprint(add(1, 2))","max_tokens":64}`, nil)
	if status != 200 || !strings.Contains(out, `"text":"a + b"`) {
		t.Fatalf("status %d: %s", status, out)
	}
	var up struct {
		MaxTokens int             `json:"max_tokens"`
		System    json.RawMessage `json:"system"`
		Messages  []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	last := an.Last()
	if err := json.Unmarshal(last.Body, &up); err != nil {
		t.Fatal(err)
	}
	if up.MaxTokens != 64 || !strings.Contains(string(up.System), "between the prefix and the suffix") || len(up.Messages) != 1 ||
		!strings.Contains(string(up.Messages[0].Content), `def add(a, b):\n    return `) ||
		!strings.Contains(string(up.Messages[0].Content), `print(add(1, 2))`) {
		t.Fatalf("upstream request: %s", last.Body)
	}
}

// TestCompletionsErrors answers what the gateway refuses in the OpenAI
// envelope, naming the member.
func TestCompletionsErrors(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	cases := []struct {
		name, body string
		status     int
		param      string
	}{
		{"malformed JSON", `{"model":"mock/echo","prompt":`, 400, ""},
		{"not an object", `["mock/echo"]`, 400, ""},
		{"no model", `{"prompt":"hi"}`, 400, "model"},
		{"no prompt", `{"model":"mock/echo"}`, 400, "prompt"},
		{"null prompt", `{"model":"mock/echo","prompt":null}`, 400, "prompt"},
		{"several prompts", `{"model":"mock/echo","prompt":["a","b"]}`, 400, "prompt"},
		{"empty prompt array", `{"model":"mock/echo","prompt":[]}`, 400, "prompt"},
		{"token array", `{"model":"mock/echo","prompt":[1,2,3]}`, 400, "prompt"},
		{"token arrays", `{"model":"mock/echo","prompt":[[1,2]]}`, 400, "prompt"},
		{"prompt number", `{"model":"mock/echo","prompt":5}`, 400, "prompt"},
		{"suffix number", `{"model":"mock/echo","prompt":"a","suffix":5}`, 400, "suffix"},
		{"echo", `{"model":"mock/echo","prompt":"a","echo":true}`, 400, "echo"},
		{"logprobs", `{"model":"mock/echo","prompt":"a","logprobs":5}`, 400, "logprobs"},
		{"logprobs 0", `{"model":"mock/echo","prompt":"a","logprobs":0}`, 400, "logprobs"},
		{"n out of range", `{"model":"mock/echo","prompt":"a","n":0}`, 400, "n"},
		{"best_of", `{"model":"mock/echo","prompt":"a","best_of":3}`, 400, "best_of"},
		{"bad max_tokens", `{"model":"mock/echo","prompt":"a","max_tokens":"many"}`, 400, "max_tokens"},
		{"unknown model", `{"model":"mock/nope-such","prompt":"a"}`, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, out := g.post(t, "/v1/completions", tc.body, nil)
			var env struct {
				Error *struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
				} `json:"error"`
			}
			if status != tc.status || json.Unmarshal([]byte(out), &env) != nil || env.Error == nil || env.Error.Message == "" {
				t.Fatalf("status %d (want %d): %s", status, tc.status, out)
			}
			if tc.param != "" && (env.Error.Param == nil || *env.Error.Param != tc.param) {
				t.Fatalf("param (want %q): %s", tc.param, out)
			}
		})
	}
}

// TestCompletionsCacheHit answers a repeated completion from the cache in
// the Completions format, a body and a replayed stream. The upstream is the
// OpenAI fake (Chat Completions,
// https://platform.openai.com/docs/api-reference/chat/create), called once.
func TestCompletionsCacheHit(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "cached completion", PromptTokens: 40})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	body := `{"model":"gpt-4o","temperature":0,"prompt":"cache me"}`
	if status, hdr, out := g.post(t, "/v1/completions", body, nil); status != 200 || hdr.Get("X-Gateway-Cache") != "miss" || !strings.Contains(out, `"text":"cached completion"`) {
		t.Fatalf("first: %d %v %s", status, hdr, out)
	}
	status, hdr, out := g.post(t, "/v1/completions", body, nil)
	var c textCompletion
	if status != 200 || hdr.Get("X-Gateway-Cache") != "hit-memory" || json.Unmarshal([]byte(out), &c) != nil ||
		c.Object != "text_completion" || len(c.Choices) != 1 || c.Choices[0].Text != "cached completion" || up.Hits.Load() != 1 {
		t.Fatalf("hit: %d %v %s (upstream hits %d)", status, hdr, out, up.Hits.Load())
	}
	stream := strings.Replace(body, `"temperature":0`, `"temperature":0,"stream":true,"stream_options":{"include_usage":true}`, 1)
	status, hdr, out = g.post(t, "/v1/completions", stream, nil)
	text, finish, total, done := completionText(t, out)
	if status != 200 || hdr.Get("X-Gateway-Cache") != "hit-memory" || text != "cached completion" || finish != "stop" || total == 0 || !done || up.Hits.Load() != 1 {
		t.Fatalf("stream hit: %d %v %s (upstream hits %d)", status, hdr, out, up.Hits.Load())
	}
}

// TestCompletionsN answers n choices, each with its index, streamed and not.
func TestCompletionsN(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	status, _, out := g.post(t, "/v1/completions", `{"model":"mock/echo","prompt":"twice","n":2}`, nil)
	var c textCompletion
	if status != 200 || json.Unmarshal([]byte(out), &c) != nil || len(c.Choices) != 2 ||
		c.Choices[0].Index != 0 || c.Choices[1].Index != 1 || c.Choices[0].Text != "twice" || c.Choices[1].Text != "twice" {
		t.Fatalf("status %d: %s", status, out)
	}
	status, _, out = g.post(t, "/v1/completions", `{"model":"mock/echo","prompt":"twice","n":2,"stream":true}`, nil)
	texts := map[int]string{}
	for _, ev := range sseEvents(t, strings.NewReader(out)) {
		if ev == "[DONE]" {
			continue
		}
		var ch textCompletion
		if err := json.Unmarshal([]byte(ev), &ch); err != nil {
			t.Fatalf("%v: %s", err, ev)
		}
		for _, x := range ch.Choices {
			texts[x.Index] += x.Text
		}
	}
	if status != 200 || len(texts) != 2 || texts[0] != "twice" || texts[1] != "twice" {
		t.Fatalf("status %d texts %v: %s", status, texts, out)
	}
}

// TestCompletionsUpstreamFailure: an upstream error before the answer is an
// OpenAI envelope; one mid-stream stays an in-stream error event after the
// text already sent. The fake speaks Anthropic's Messages API and its error
// events (https://docs.anthropic.com/en/api/messages-streaming#error-events).
func TestCompletionsUpstreamFailure(t *testing.T) {
	t.Parallel()
	down, _ := providertest.StartAnthropic(&providertest.Anthropic{Status: 400, Reply: "x"})
	mid, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "one two three four", ErrorAfter: 2})
	t.Cleanup(func() { _, _ = down.Close(), mid.Close() })
	g := startGateway(t, `
[reliability]
retry = false
circuit_breaker = false
[providers.down]
kind = "anthropic"
base_url = "`+down.URL+`"
api_key = "k"
[providers.mid]
kind = "anthropic"
base_url = "`+mid.URL+`"
api_key = "k"
`, nil)
	status, _, out := g.post(t, "/v1/completions", `{"model":"down/claude-sonnet-4-0","prompt":"x"}`, nil)
	var env struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if status != 400 || json.Unmarshal([]byte(out), &env) != nil || env.Error == nil || env.Error.Message == "" {
		t.Fatalf("status %d: %s", status, out)
	}
	status, _, out = g.post(t, "/v1/completions", `{"model":"mid/claude-sonnet-4-0","prompt":"x","stream":true}`, nil)
	evs := sseEvents(t, strings.NewReader(out))
	var text string
	var errEv bool
	for _, ev := range evs {
		if strings.HasPrefix(ev, `{"error":`) {
			errEv = true
			continue
		}
		var c textCompletion
		if json.Unmarshal([]byte(ev), &c) == nil {
			for _, ch := range c.Choices {
				text += ch.Text
			}
		}
	}
	if status != 200 || !errEv || text != "one two " {
		t.Fatalf("status %d text %q: %s", status, text, out)
	}
}

// FuzzCompletionsToChat: whatever the body, the translation either refuses
// it or makes a chat request that is valid JSON.
func FuzzCompletionsToChat(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","prompt":"hi"}`,
		`{"model":"m","prompt":["hi"],"suffix":"end","max_tokens":5,"stop":["\n"],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","prompt":[1,2]}`,
		`{"model":"m","prompt":"a\u0000b","echo":false,"logprobs":null}`,
		`{"model":"m","model":"n","prompt":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, model, err := completionsToChat(nil, body)
		if err != nil {
			return
		}
		if model == "" {
			t.Fatalf("accepted without a model: %s", body)
		}
		if err := jsonscan.Validate(b); err != nil {
			t.Fatalf("chat request %s from %s: %v", b, body, err)
		}
	})
}
