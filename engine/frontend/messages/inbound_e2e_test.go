package messages

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/gemini"
	"github.com/aigateway/gateway/providers/openai"
	"github.com/aigateway/gateway/providers/providertest"
	sdk "github.com/anthropics/anthropic-sdk-go/v2"
)

// inboundTurn runs one Anthropic-format request through the translation an
// engine performs for a non-Anthropic upstream: Anthropic body → OpenAI
// body → canonical Request → provider → Anthropic message or stream.
func inboundTurn(t *testing.T, p providers.Provider, model, body string, stream bool) sdk.Message {
	t.Helper()
	oai, err := RequestToOpenAI(nil, []byte(body), Target{})
	if err != nil {
		t.Fatal(err)
	}
	r := providers.AcquireRequest()
	defer providers.ReleaseRequest(r)
	if err := r.Decode(oai); err != nil {
		t.Fatalf("decode %s: %v", oai, err)
	}
	resp, err := p.Chat(context.Background(), &providers.Call{Req: r, Model: model, ID: "chatcmpl-e2e", Created: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if stream {
		m, errMsg := sdkAccumulate(t, drain(t, NewStream(resp.Stream, model)))
		if errMsg != "" {
			t.Fatalf("stream error: %s", errMsg)
		}
		return m
	}
	out, err := FromCompletion(nil, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m sdk.Message
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInboundToolConversation: an Anthropic client's tool-use conversation
// (call → result → final answer) through Gemini and OpenAI upstreams,
// streaming and not, keeps tool ids, names and inputs identical.
func TestInboundToolConversation(t *testing.T) {
	t.Parallel()
	const args = `{"location":"Paris, France"}`
	type upstreamCase struct {
		name  string
		model string
		// start returns the providers for the two turns (the OpenAI fake
		// always calls its tool, so its second turn needs a second fake)
		// and the server that sees the second turn.
		start func(t *testing.T) (providers.Provider, providers.Provider, *providertest.Server)
	}
	cases := []upstreamCase{
		{"gemini", "gemini-2.5-flash", func(t *testing.T) (providers.Provider, providers.Provider, *providertest.Server) {
			srv, err := providertest.StartGemini(&providertest.Gemini{Reply: "It is 18 degrees.", ToolCall: "get_weather", ToolArgs: args, Signature: "c2lnbmF0dXJl", PromptTokens: 12})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			p, err := gemini.New(gemini.Config{BaseURL: srv.URL, APIKey: "k", Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return p, p, srv
		}},
		{"openai", "gpt-4o-mini", func(t *testing.T) (providers.Provider, providers.Provider, *providertest.Server) {
			var ps [2]providers.Provider
			var last *providertest.Server
			for i, fake := range []*providertest.OpenAI{
				{ToolCall: "get_weather", ToolArgs: args, ArgChunks: 3, PromptTokens: 12},
				{Reply: "It is 18 degrees.", PromptTokens: 12},
			} {
				srv, err := providertest.StartOpenAI(fake)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = srv.Close() })
				if ps[i], err = openai.New(openai.Config{Name: "openai", BaseURL: srv.URL + "/v1", APIKey: "k", Timeout: 10 * time.Second}); err != nil {
					t.Fatal(err)
				}
				last = srv
			}
			return ps[0], ps[1], last
		}},
	}
	tools := `"tools":[{"name":"get_weather","description":"Get the weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}]`
	for _, uc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(uc.name+map[bool]string{false: "", true: "/stream"}[stream], func(t *testing.T) {
				t.Parallel()
				p, p2, srv := uc.start(t)
				streamJSON := ""
				if stream {
					streamJSON = `,"stream":true`
				}
				first := inboundTurn(t, p, uc.model, `{"model":"x","max_tokens":100,"messages":[{"role":"user","content":"Weather in Paris?"}],`+tools+streamJSON+`}`, stream)
				if first.StopReason != "tool_use" || len(first.Content) != 1 || first.Content[0].Type != "tool_use" {
					t.Fatalf("first turn: %+v", first)
				}
				use := first.Content[0]
				if use.Name != "get_weather" || string(use.Input) != args || use.ID == "" {
					t.Fatalf("tool_use: %+v input %s", use, use.Input)
				}
				idJSON, _ := json.Marshal(use.ID)
				// The client sends the call back as Anthropic clients do.
				second := inboundTurn(t, p2, uc.model, `{"model":"x","max_tokens":100,"messages":[{"role":"user","content":"Weather in Paris?"},`+
					`{"role":"assistant","content":[{"type":"tool_use","id":`+string(idJSON)+`,"name":"get_weather","input":`+string(use.Input)+`}]},`+
					`{"role":"user","content":[{"type":"tool_result","tool_use_id":`+string(idJSON)+`,"content":"18C"}]}],`+tools+streamJSON+`}`, stream)
				if second.StopReason != "end_turn" || len(second.Content) != 1 || second.Content[0].Text != "It is 18 degrees." {
					t.Fatalf("second turn: %+v", second)
				}
				if second.Usage.InputTokens != 12 {
					t.Errorf("usage %+v", second.Usage)
				}
				sent := string(srv.Last().Body)
				switch uc.name {
				case "gemini":
					if !strings.Contains(sent, `"functionCall":{"name":"get_weather","args":`+args+`},"thoughtSignature":"c2lnbmF0dXJl"`) ||
						!strings.Contains(sent, `"functionResponse":{"name":"get_weather","response":{"output":"18C"}}`) {
						t.Errorf("gemini got %s", sent)
					}
				case "openai":
					if !strings.Contains(sent, `"tool_call_id":`+string(idJSON)) || !strings.Contains(sent, `"id":`+string(idJSON)) {
						t.Errorf("openai got %s", sent)
					}
				}
			})
		}
	}
}
