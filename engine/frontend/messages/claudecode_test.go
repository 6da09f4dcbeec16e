package messages

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/anthropic"
	"github.com/aigateway/gateway/providers/gemini"
	"github.com/aigateway/gateway/providers/ollama"
	"github.com/aigateway/gateway/providers/openai"
	"github.com/aigateway/gateway/providers/providertest"
)

// Requests that Claude Code 2.1 really sent (testdata/claudecode/README.md
// says how they were captured), translated for every upstream format.

// claudeCodeFixtures returns the captured request bodies by name.
func claudeCodeFixtures(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/claudecode/*.body.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Claude Code fixtures: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".body.json")] = b
	}
	return out
}

// claudeCodeGolden is the golden file of fixture name translated to kind.
func claudeCodeGolden(name, kind string) string {
	return filepath.Join("testdata", "claudecode", "golden", name+"."+kind+".json")
}

// TestClaudeCodeToOpenAIGolden: each captured request → the OpenAI body the
// engine decodes, checked for what Claude Code's requests need.
func TestClaudeCodeToOpenAIGolden(t *testing.T) {
	t.Parallel()
	for name, body := range claudeCodeFixtures(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := RequestToOpenAI(nil, body, Target{})
			if err != nil {
				t.Fatal(err)
			}
			r := providers.AcquireRequest()
			defer providers.ReleaseRequest(r)
			if err := r.Decode(out); err != nil {
				t.Fatalf("the canonical decoder refuses the translation: %v", err)
			}
			golden(t, claudeCodeGolden(name, "openai-request"), indent(t, out))

			// The top-level system (less the billing block) leads; the
			// system message Claude Code puts at messages[1] stays second.
			if r.Messages[0].Role != "system" || strings.Contains(r.Messages[0].Text(), "x-anthropic-billing-header") {
				t.Errorf("messages[0]: %+v", r.Messages[0])
			}
			if r.Messages[1].Role != "user" || r.Messages[2].Role != "system" || !strings.Contains(r.Messages[2].Text(), "# Environment") {
				t.Errorf("roles %s, %s; messages[2] %.60q", r.Messages[1].Role, r.Messages[2].Role, r.Messages[2].Text())
			}
			// thinking adaptive + output_config.effort high.
			if r.ReasoningEffort != "high" || r.MaxTokens != 32000 || !r.Stream {
				t.Errorf("reasoning_effort %q, max %d, stream %v", r.ReasoningEffort, r.MaxTokens, r.Stream)
			}
			if got := IgnoredMembers(nil, body); !slices.Equal(got, []string{"context_management"}) {
				t.Errorf("ignored %v", got)
			}
			var names []string
			for _, tl := range r.Tools {
				names = append(names, tl.Name)
			}
			if slices.Contains(names, "DeferredToolPlaceholder") || !slices.Contains(names, "Read") {
				t.Errorf("tools %v", names)
			}
			if name == "tool_search" != slices.Contains(names, "WebFetch") {
				t.Errorf("the deferred WebFetch is sent only once a tool_reference loads it: %v", names)
			}
			if strings.Contains(string(out), "signature") || strings.Contains(string(out), "redacted_thinking") {
				t.Error("thinking blocks reached the translation")
			}
			last := r.Messages[len(r.Messages)-1]
			switch name {
			case "read_text":
				if prev := r.Messages[len(r.Messages)-2]; prev.Role != "assistant" || len(prev.ToolCalls) != 1 || prev.ToolCalls[0].Name != "Read" {
					t.Errorf("assistant turn %+v", prev)
				}
				if last.Role != "tool" || !strings.Contains(last.Text(), "pineapple") {
					t.Errorf("tool result %+v", last)
				}
			case "read_image", "read_pdf":
				// The image or document leaves the tool message for the
				// user message after it.
				want := map[string]string{"read_image": "image_url", "read_pdf": "file"}[name]
				if tool := r.Messages[len(r.Messages)-2]; tool.Role != "tool" || last.Role != "user" || len(last.Parts) != 1 || last.Parts[0].Type != want {
					t.Errorf("tool %+v, then %+v", tool, last)
				}
			case "tool_search":
				if last.Role != "tool" || last.Text() != "Tool WebFetch is now available." {
					t.Errorf("tool result %+v", last)
				}
			}
		})
	}
}

// upstreamKind is one provider kind a translated Claude Code request can
// reach, with a fake upstream speaking its wire format.
type upstreamKind struct {
	name  string
	model string
	start func(t *testing.T) (providers.Provider, *providertest.Server)
}

func upstreamKinds() []upstreamKind {
	return []upstreamKind{
		{"openai", "gpt-4o", func(t *testing.T) (providers.Provider, *providertest.Server) {
			srv, err := providertest.StartOpenAI(&providertest.OpenAI{Reply: "Hello from OpenAI", PromptTokens: 12})
			if err != nil {
				t.Fatal(err)
			}
			p, err := openai.New(openai.Config{Name: "openai", BaseURL: srv.URL + "/v1", APIKey: "k", Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return p, srv
		}},
		{"gemini", "gemini-2.5-flash", func(t *testing.T) (providers.Provider, *providertest.Server) {
			srv, err := providertest.StartGemini(&providertest.Gemini{Reply: "Hello from Gemini", PromptTokens: 12})
			if err != nil {
				t.Fatal(err)
			}
			p, err := gemini.New(gemini.Config{BaseURL: srv.URL, APIKey: "k", Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return p, srv
		}},
		{"ollama", "qwen2.5-coder", func(t *testing.T) (providers.Provider, *providertest.Server) {
			srv, err := providertest.StartOllama(&providertest.Ollama{Reply: "Hello from Ollama", PromptTokens: 12})
			if err != nil {
				t.Fatal(err)
			}
			p, err := ollama.New(ollama.Config{BaseURL: srv.URL, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return p, srv
		}},
		// An Anthropic model reached through translation (a fallback or
		// routed request; direct ones are passed through).
		{"anthropic", "claude-sonnet-4-5", func(t *testing.T) (providers.Provider, *providertest.Server) {
			srv, err := providertest.StartAnthropic(&providertest.Anthropic{Reply: "Hello from Claude", InputTokens: 12})
			if err != nil {
				t.Fatal(err)
			}
			p, err := anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "k", Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return p, srv
		}},
	}
}

// TestClaudeCodeUpstreamGolden: each captured request, translated and sent
// to each provider kind's fake upstream: the request the upstream receives
// is golden, and its answer comes back as an Anthropic event stream the
// official SDK accumulates.
func TestClaudeCodeUpstreamGolden(t *testing.T) {
	t.Parallel()
	fixtures := claudeCodeFixtures(t)
	for _, uk := range upstreamKinds() {
		for name, body := range fixtures {
			t.Run(uk.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				p, srv := uk.start(t)
				t.Cleanup(func() { _ = srv.Close() })
				oai, err := RequestToOpenAI(nil, body, Target{NoFiles: uk.name == "ollama"})
				if err != nil {
					t.Fatal(err)
				}
				r := providers.AcquireRequest()
				defer providers.ReleaseRequest(r)
				if err := r.Decode(oai); err != nil {
					t.Fatal(err)
				}
				resp, err := p.Chat(context.Background(), &providers.Call{Req: r, Model: uk.model, ID: "chatcmpl-cc", Created: 1, MaxOutputTokens: 64000})
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Close()
				m, errMsg := sdkAccumulate(t, drain(t, NewStream(resp.Stream, uk.model)))
				if errMsg != "" || m.StopReason != "end_turn" || len(m.Content) != 1 || !strings.HasPrefix(m.Content[0].Text, "Hello from") {
					t.Fatalf("answer %+v (error %q)", m, errMsg)
				}
				sent := srv.Last().Body
				if uk.name == "openai" {
					// OpenAI gets the translation itself, model swapped.
					if want := openai.AppendBody(nil, r, uk.model); !bytes.Equal(sent, want) {
						t.Fatalf("openai upstream body differs from the translation:\n%s", sent)
					}
					return
				}
				if uk.name == "ollama" && name == "read_pdf" && !bytes.Contains(sent, []byte(`[A application/pdf document was left out: this model cannot read files.]`)) {
					t.Error("the PDF did not become a note for Ollama")
				}
				golden(t, claudeCodeGolden(name, uk.name+"-request"), indent(t, sent))
			})
		}
	}
}

// TestClaudeCodeNonStreaming: a captured request sent without streaming
// gets an Anthropic message the SDK decodes, from every provider kind.
func TestClaudeCodeNonStreaming(t *testing.T) {
	t.Parallel()
	body := bytes.Replace(claudeCodeFixtures(t)["read_text"], []byte(`"stream":true`), []byte(`"stream":false`), 1)
	for _, uk := range upstreamKinds() {
		t.Run(uk.name, func(t *testing.T) {
			t.Parallel()
			p, srv := uk.start(t)
			t.Cleanup(func() { _ = srv.Close() })
			m := inboundTurn(t, p, uk.model, string(body), false)
			if m.Type != "message" || m.Role != "assistant" || m.StopReason != "end_turn" || len(m.Content) != 1 || !strings.HasPrefix(m.Content[0].Text, "Hello from") {
				t.Fatalf("%+v", m)
			}
		})
	}
}

func TestReasoningEffort(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, thinking, effort, want string }{
		{"claude code: adaptive, high", `{"type":"adaptive","display":"omitted"}`, `"high"`, "high"},
		{"adaptive, max", `{"type":"adaptive"}`, `"max"`, "high"},
		{"adaptive, no effort", `{"type":"adaptive"}`, ``, ""},
		{"enabled, effort wins", `{"type":"enabled","budget_tokens":2000}`, `"medium"`, "medium"},
		{"enabled, small budget", `{"type":"enabled","budget_tokens":1024}`, ``, "low"},
		{"enabled, mid budget", `{"type":"enabled","budget_tokens":10000}`, ``, "medium"},
		{"enabled, large budget", `{"type":"enabled","budget_tokens":32000}`, ``, "high"},
		{"disabled", `{"type":"disabled"}`, `"high"`, ""},
		{"effort alone", ``, `"low"`, "low"},
		{"unknown effort", `{"type":"adaptive"}`, `"extreme"`, ""},
		{"nothing", ``, ``, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var thinking, effort []byte
			if tc.thinking != "" {
				thinking = []byte(tc.thinking)
			}
			if tc.effort != "" {
				effort = []byte(tc.effort)
			}
			if got := reasoningEffort(thinking, effort); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
