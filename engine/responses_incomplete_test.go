package engine

import (
	"context"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

// TestResponsesIncomplete: an answer the upstream stopped for its output
// limit (Anthropic stop_reason max_tokens, Gemini finishReason MAX_TOKENS,
// the mock's max_output_tokens, i.e. chat finish_reason length) or for a
// content filter (Anthropic refusal, Gemini SAFETY) is, through the
// official openai-go client, an incomplete response with
// incomplete_details.reason and an incomplete message item; a stream ends
// with response.incomplete
// (https://platform.openai.com/docs/api-reference/responses-streaming/response/incomplete),
// never response.completed.
func TestResponsesIncomplete(t *testing.T) {
	t.Parallel()
	anLen, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "Once upon a", StopReason: "max_tokens"})
	anRef, _ := providertest.StartAnthropic(&providertest.Anthropic{Reply: "I cannot", StopReason: "refusal"})
	geLen, _ := providertest.StartGemini(&providertest.Gemini{Reply: "Once upon a", FinishReason: "MAX_TOKENS"})
	geSafe, _ := providertest.StartGemini(&providertest.Gemini{Reply: "I cannot", FinishReason: "SAFETY"})
	for _, s := range []*providertest.Server{anLen, anRef, geLen, geSafe} {
		t.Cleanup(func() { _ = s.Close() })
	}
	toml := `
[providers.anlen]
kind = "anthropic"
base_url = "` + anLen.URL + `"
api_key = "k"
[providers.anref]
kind = "anthropic"
base_url = "` + anRef.URL + `"
api_key = "k"
[providers.gelen]
kind = "gemini"
base_url = "` + geLen.URL + `"
api_key = "k"
[providers.gesafe]
kind = "gemini"
base_url = "` + geSafe.URL + `"
api_key = "k"
`
	g := startGateway(t, toml, nil)
	c := g.client()
	for _, tc := range []struct {
		model, reason string
	}{
		{"anlen/claude-sonnet-4-0", "max_output_tokens"},
		{"anref/claude-sonnet-4-0", "content_filter"},
		{"gelen/gemini-2.0-flash", "max_output_tokens"},
		{"gesafe/gemini-2.0-flash", "content_filter"},
		{"mock/echo", "max_output_tokens"},
	} {
		for _, stream := range []bool{false, true} {
			name := tc.model
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				p := responses.ResponseNewParams{
					Model:           tc.model,
					Input:           responses.ResponseNewParamsInputUnion{OfString: openai.String("tell me a long story about a cat")},
					MaxOutputTokens: openai.Int(3),
				}
				var r *responses.Response
				if !stream {
					var err error
					if r, err = c.Responses.New(context.Background(), p); err != nil {
						t.Fatal(err)
					}
				} else {
					s := c.Responses.NewStreaming(context.Background(), p)
					var last string
					var itemDone string
					for s.Next() {
						ev := s.Current()
						last = ev.Type
						switch ev.Type {
						case "response.output_item.done":
							itemDone = string(ev.Item.Status)
						case "response.incomplete", "response.completed":
							resp := ev.Response
							r = &resp
						}
					}
					if err := s.Err(); err != nil {
						t.Fatal(err)
					}
					if last != "response.incomplete" || itemDone != "incomplete" {
						t.Fatalf("stream ends with %s, its item done as %q", last, itemDone)
					}
				}
				if r == nil || r.Status != responses.ResponseStatusIncomplete || r.IncompleteDetails.Reason != tc.reason ||
					len(r.Output) != 1 || r.Output[0].Type != "message" || r.Output[0].Status != "incomplete" || r.OutputText() == "" {
					t.Fatalf("got %s", r.RawJSON())
				}
			})
		}
	}
}
