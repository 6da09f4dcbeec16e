package providertest

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url+"/api/chat", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// chatResponse mirrors api.ChatResponse as documented in
// https://github.com/ollama/ollama/blob/main/docs/api.md.
type chatResponse struct {
	Model     string `json:"model"`
	CreatedAt string `json:"created_at"`
	Message   struct {
		Role      string `json:"role"`
		Content   string `json:"content"`
		Thinking  string `json:"thinking"`
		ToolCalls []struct {
			Function struct {
				Name      string         `json:"name"`
				Arguments map[string]any `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls"`
	} `json:"message"`
	DoneReason      string `json:"done_reason"`
	Done            bool   `json:"done"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
	Error           string `json:"error"`
}

func startFake(t *testing.T, o *Ollama) *Server {
	t.Helper()
	srv, err := StartOllama(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func TestOllamaNonStream(t *testing.T) {
	t.Parallel()
	srv := startFake(t, &Ollama{Reply: "Hello <you> & me", PromptTokens: 26})
	resp := post(t, srv.URL, `{"model":"llama3.2","messages":[{"role":"user","content":"hi"}],"stream":false}`)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	want := `{"model":"llama3.2","created_at":"2025-07-07T20:22:19.184789Z","message":{"role":"assistant","content":"Hello \u003cyou\u003e \u0026 me"},` +
		`"done_reason":"stop","done":true,"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":4,"eval_duration":4535599000}`
	if string(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	if got := srv.Last(); got.Path != "/api/chat" || !strings.Contains(string(got.Body), `"stream":false`) {
		t.Errorf("recorded %+v", got)
	}
}

func TestOllamaStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fake        *Ollama
		wantContent string
		wantTool    string
		wantError   string
	}{
		{name: "text", fake: &Ollama{Reply: "The sky is blue.", Thinking: "hmm ok"}, wantContent: "The sky is blue."},
		{name: "tool", fake: &Ollama{ToolCall: "get_weather", ToolArgs: `{"city":"Tokyo"}`}, wantTool: "get_weather"},
		{name: "error line", fake: &Ollama{Reply: "a b c", ErrorAfter: 1, ErrorMessage: "boom"}, wantContent: "a ", wantError: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startFake(t, tt.fake)
			resp := post(t, srv.URL, `{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}`)
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
				t.Fatalf("Content-Type %q", ct)
			}
			var content, tool, errMsg string
			var last chatResponse
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				var line chatResponse
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("line %q: %v", sc.Bytes(), err)
				}
				content += line.Message.Content
				for _, tc := range line.Message.ToolCalls {
					tool = tc.Function.Name
				}
				errMsg += line.Error
				last = line
			}
			if content != tt.wantContent || tool != tt.wantTool || errMsg != tt.wantError {
				t.Errorf("content %q tool %q error %q", content, tool, errMsg)
			}
			if tt.wantError == "" && (!last.Done || last.DoneReason != "stop" || last.Message.Role != "assistant") {
				t.Errorf("last line %+v", last)
			}
		})
	}
}

func TestOllamaErrorsAndTags(t *testing.T) {
	t.Parallel()
	srv := startFake(t, &Ollama{Models: []string{"llama3.2:latest", "qwen3:8b"}})
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{name: "unknown model", body: `{"model":"mistral","messages":[]}`, status: 404, want: `{"error":"model \"mistral\" not found, try pulling it first"}`},
		{name: "no model", body: `{"messages":[]}`, status: 400, want: `{"error":"model is required"}`},
		{name: "latest implied", body: `{"model":"llama3.2","messages":[],"stream":false}`, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, srv.URL, tt.body)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || (tt.want != "" && string(body) != tt.want) {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("tags", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/api/tags")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tags struct {
			Models []struct {
				Name    string `json:"name"`
				Details struct {
					Family string `json:"family"`
				} `json:"details"`
			} `json:"models"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil {
			t.Fatal(err)
		}
		if len(tags.Models) != 2 || tags.Models[0].Name != "llama3.2:latest" || tags.Models[1].Details.Family != "qwen" {
			t.Errorf("tags = %+v", tags)
		}
	})
	t.Run("unknown path", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 404 || string(body) != "404 page not found" {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
}
