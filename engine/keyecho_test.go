package engine

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/openai/openai-go/v3"
)

// TestKeyEchoEndToEnd: upstreams of every kind that echo the key they were
// sent, in every encoding and in their own error format, refused or
// mid-stream, never get it to the client or into the gateway's logs:
// chat (OpenAI with Bearer, Azure-style api-key and a basic-auth header;
// Anthropic; Gemini; Ollama), streams, the /v1/messages passthrough and its
// translated form, count_tokens, embeddings and the model list.
func TestKeyEchoEndToEnd(t *testing.T) {
	t.Parallel()
	// One gateway (its start compiles the built-in policies) with a set of
	// echoing upstreams per key shape, each key in its own variable.
	var toml strings.Builder
	toml.WriteString("[reliability]\nretry = false\ncircuit_breaker = false\n")
	env := map[string]string{}
	echo := func(kind string, mid bool) string {
		srv, err := providertest.StartKeyEcho(&providertest.KeyEcho{Kind: kind, MidStream: mid})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		return srv.URL
	}
	basic := func(key string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte("gateway:"+key)) }
	for i, tk := range providertest.KeyShapes {
		n := strconv.Itoa(i)
		env["ECHO_KEY_"+n] = tk.Key
		provider := func(name, kind, url, extra string) {
			toml.WriteString("[providers." + name + n + "]\nkind = \"" + kind + "\"\nbase_url = \"" + url + "\"\n" + extra)
		}
		withKey := "api_key_env = \"ECHO_KEY_" + n + "\"\n"
		provider("oai", "openai", echo("openai", false)+"/v1", withKey)
		provider("oaimid", "openai", echo("openai", true)+"/v1", withKey)
		provider("azure", "openai", echo("openai", false)+"/openai/deployments/gpt-4o", withKey+"auth_header = \"api-key\"\nquery = \"api-version=2024-10-21\"\n")
		provider("basic", "openai", echo("openai", true)+"/v1", "headers = { Authorization = \""+basic(tk.Key)+"\" }\n")
		provider("claude", "anthropic", echo("anthropic", false), withKey)
		provider("claudemid", "anthropic", echo("anthropic", true), withKey)
		provider("gem", "gemini", echo("gemini", false), withKey)
		provider("gemmid", "gemini", echo("gemini", true), withKey)
		provider("llama", "ollama", echo("ollama", false), withKey)
		provider("llamamid", "ollama", echo("ollama", true), withKey)
	}
	g := startGateway(t, toml.String(), env)
	requests := 0
	var mu sync.Mutex
	t.Run("shapes", func(t *testing.T) {
		for i, tk := range providertest.KeyShapes {
			n := strconv.Itoa(i)
			t.Run(tk.Name, func(t *testing.T) {
				t.Parallel()
				const msgs = `"messages":[{"role":"user","content":"hi"}]`
				native := func(model string, stream bool) string {
					s := `{"model":"` + model + `","max_tokens":64,` + msgs
					if stream {
						s += `,"stream":true`
					}
					return s + "}"
				}
				tests := []struct {
					name, path, body string
				}{
					{"openai", "/v1/chat/completions", `{"model":"oai` + n + `/gpt-4o",` + msgs + `}`},
					{"openai stream", "/v1/chat/completions", `{"model":"oai` + n + `/gpt-4o","stream":true,` + msgs + `}`},
					{"openai mid-stream", "/v1/chat/completions", `{"model":"oaimid` + n + `/gpt-4o","stream":true,` + msgs + `}`},
					{"azure api-key", "/v1/chat/completions", `{"model":"azure` + n + `/gpt-4o",` + msgs + `}`},
					{"basic header mid-stream", "/v1/chat/completions", `{"model":"basic` + n + `/gpt-4o","stream":true,` + msgs + `}`},
					{"anthropic", "/v1/chat/completions", `{"model":"claude` + n + `/claude-sonnet-4-0",` + msgs + `}`},
					{"anthropic mid-stream", "/v1/chat/completions", `{"model":"claudemid` + n + `/claude-sonnet-4-0","stream":true,` + msgs + `}`},
					{"messages passthrough", "/v1/messages", native("claude"+n+"/claude-sonnet-4-0", false)},
					{"messages passthrough stream", "/v1/messages", native("claude"+n+"/claude-sonnet-4-0", true)},
					{"messages passthrough mid-stream", "/v1/messages", native("claudemid"+n+"/claude-sonnet-4-0", true)},
					{"messages translated mid-stream", "/v1/messages", native("gemmid"+n+"/gemini-2.0-flash", true)},
					{"count tokens", "/v1/messages/count_tokens", native("claude"+n+"/claude-sonnet-4-0", false)},
					{"gemini", "/v1/chat/completions", `{"model":"gem` + n + `/gemini-2.0-flash",` + msgs + `}`},
					{"gemini mid-stream", "/v1/chat/completions", `{"model":"gemmid` + n + `/gemini-2.0-flash","stream":true,` + msgs + `}`},
					{"ollama", "/v1/chat/completions", `{"model":"llama` + n + `/llama3.2",` + msgs + `}`},
					{"ollama mid-stream", "/v1/chat/completions", `{"model":"llamamid` + n + `/llama3.2","stream":true,` + msgs + `}`},
					{"openai embeddings", "/v1/embeddings", `{"model":"oai` + n + `/text-embedding-3-small","input":"hi"}`},
					{"gemini embeddings", "/v1/embeddings", `{"model":"gem` + n + `/text-embedding-004","input":"hi"}`},
					{"ollama embeddings", "/v1/embeddings", `{"model":"llama` + n + `/all-minilm","input":"hi"}`},
				}
				for _, tc := range tests {
					status, hdr, body := g.post(t, tc.path, tc.body, nil)
					if !strings.Contains(body, "Incorrect API key provided: ") {
						t.Errorf("%s: the upstream's error did not reach the client: %d %s", tc.name, status, body)
					}
					providertest.NoKey(t, tk.Key, tc.name+" response", headerText(hdr)+body)
					providertest.NoKey(t, basic(tk.Key), tc.name+" response", headerText(hdr)+body)
				}
				// Through the official SDK: the mid-stream error surfaces,
				// without the key.
				c := g.client()
				s := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
					Model: "oaimid" + n + "/gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
				})
				for s.Next() {
				}
				if s.Err() == nil || !strings.Contains(s.Err().Error(), "[REDACTED]") {
					t.Errorf("SDK stream error: %v", s.Err())
				} else {
					providertest.NoKey(t, tk.Key, "SDK stream error", s.Err().Error())
				}
				mu.Lock()
				requests += len(tests) + 1
				mu.Unlock()
			})
		}
	})
	// The Ollama model lists fail: logged, not answered.
	g.get(t, "/v1/models", nil)
	waitFor(t, "every access-log line", func() bool { return strings.Count(g.logText(), `"msg":"request"`) >= requests })
	logs := g.logText()
	if !strings.Contains(logs, `"msg":"request failed"`) || !strings.Contains(logs, `"msg":"listing models failed"`) {
		t.Errorf("the failures were not logged: %s", logs)
	}
	for _, tk := range providertest.KeyShapes {
		providertest.NoKey(t, tk.Key, "log", logs)
		providertest.NoKey(t, basic(tk.Key), "log", logs)
	}
}

func headerText(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		b.WriteString(k + ": " + strings.Join(vs, ", ") + "\n")
	}
	return b.String()
}
