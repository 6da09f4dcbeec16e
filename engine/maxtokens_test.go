package engine

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
)

// TestRoutedMaxTokensCapped: when the gateway chooses the model (auto
// routing, a fallback), a client's max_tokens (or max_completion_tokens)
// above that model's output limit (the catalog's MaxOutputTokens) is capped
// to it, as Claude Code's 32,000 would otherwise be refused by a model that
// writes 8,192 at most; when the client named the model it reaches the
// upstream unchanged, and the upstream's own 400 is the answer. The fakes
// refuse a max_tokens above the limit as the real APIs do.
func TestRoutedMaxTokensCapped(t *testing.T) {
	t.Parallel()
	const haiku = "anthropic/claude-3-5-haiku-latest" // MaxOutputTokens 8192
	an := &providertest.Anthropic{Reply: "ok", MaxTokens: 8192}
	anUp, _ := providertest.StartAnthropic(an)
	t.Cleanup(func() { _ = anUp.Close() })
	down, _ := providertest.StartOpenAI(&providertest.OpenAI{Status: 503})
	t.Cleanup(func() { _ = down.Close() })
	downA, _ := providertest.StartAnthropic(&providertest.Anthropic{Status: 529})
	t.Cleanup(func() { _ = downA.Close() })
	oa := &providertest.OpenAI{Reply: "ok", MaxTokens: 16384} // gpt-4o
	oaUp, _ := providertest.StartOpenAI(oa)
	t.Cleanup(func() { _ = oaUp.Close() })

	tiers := func(model string) string {
		return "[routing.tiers]\nlocal = \"" + model + "\"\nfast = \"" + model + "\"\nstrong = \"" + model + "\"\nreasoning = \"" + model + "\"\n"
	}
	toAnthropic := startGateway(t, tiers(haiku)+`
[reliability]
retry_max_attempts = 1
[reliability.fallbacks]
"down/m" = ["`+haiku+`"]
"downa/claude-x" = ["`+haiku+`"]
[providers.down]
kind = "openai"
base_url = "`+down.URL+`/v1"
[providers.downa]
kind = "anthropic"
base_url = "`+downA.URL+`"
api_key = "k"
`, map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": anUp.URL})
	toOpenAI := startGateway(t, tiers("openai/gpt-4o"), map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oaUp.URL + "/v1"})

	anthropicHdr := map[string]string{"anthropic-version": "2023-06-01"}
	tests := []struct {
		name string
		g    *gw
		up   *providertest.Server
		path string
		body string // %s: a prompt unique to the case (no cache hit)
		// member and value the upstream must receive, or the status and
		// the error text the client must see.
		member string
		want   int64
		status int
		errHas string
	}{
		{name: "messages auto", g: toAnthropic, up: anUp, path: "/v1/messages",
			body: `{"model":"auto","max_tokens":32000,"messages":[{"role":"user","content":"%s"}]}`, member: "max_tokens", want: 8192},
		{name: "messages auto stream", g: toAnthropic, up: anUp, path: "/v1/messages",
			body: `{"stream":true,"max_tokens":32000,"model":"auto","messages":[{"role":"user","content":"%s"}]}`, member: "max_tokens", want: 8192},
		{name: "messages auto under the limit", g: toAnthropic, up: anUp, path: "/v1/messages",
			body: `{"model":"auto","max_tokens":300,"messages":[{"role":"user","content":"%s"}]}`, member: "max_tokens", want: 300},
		{name: "messages named model", g: toAnthropic, up: anUp, path: "/v1/messages",
			body:   `{"model":"` + haiku + `","max_tokens":32000,"messages":[{"role":"user","content":"%s"}]}`,
			member: "max_tokens", want: 32000, status: 400, errHas: "32000 > 8192, which is the maximum allowed number of output tokens"},
		{name: "chat auto max_tokens", g: toAnthropic, up: anUp, path: "/v1/chat/completions",
			body: `{"model":"auto","max_tokens":32000,"messages":[{"role":"user","content":"%s"}]}`, member: "max_tokens", want: 8192},
		{name: "chat auto max_completion_tokens stream", g: toAnthropic, up: anUp, path: "/v1/chat/completions",
			body: `{"model":"auto","stream":true,"max_completion_tokens":32000,"messages":[{"role":"user","content":"%s"}]}`, member: "max_tokens", want: 8192},
		{name: "chat named model", g: toAnthropic, up: anUp, path: "/v1/chat/completions",
			body:   `{"model":"` + haiku + `","max_tokens":32000,"messages":[{"role":"user","content":"%s"}]}`,
			member: "max_tokens", want: 32000, status: 400, errHas: "maximum allowed number of output tokens"},
		{name: "chat fallback", g: toAnthropic, up: anUp, path: "/v1/chat/completions",
			body: `{"model":"down/m","max_tokens":20000,"messages":[{"role":"user","content":"%s"}]}`, member: "max_tokens", want: 8192},
		{name: "messages passthrough fallback", g: toAnthropic, up: anUp, path: "/v1/messages",
			body: `{"model":"downa/claude-x","max_tokens":20000,"messages":[{"role":"user","content":"%s"}]}`, member: "max_tokens", want: 8192},
		{name: "messages passthrough fallback under the limit", g: toAnthropic, up: anUp, path: "/v1/messages",
			body: `{"model":"downa/claude-x","max_tokens":2000,"messages":[{"role":"user","content":"%s"}]}`, member: "max_tokens", want: 2000},
		{name: "chat auto to openai max_tokens", g: toOpenAI, up: oaUp, path: "/v1/chat/completions",
			body: `{"model":"auto", "max_tokens" : 32000 ,"messages":[{"role":"user","content":"%s"}]}`, member: "max_tokens", want: 16384},
		{name: "chat auto to openai max_completion_tokens", g: toOpenAI, up: oaUp, path: "/v1/chat/completions",
			body: `{"max_completion_tokens":40000,"model":"auto","messages":[{"role":"user","content":"%s"}],"stream":true}`, member: "max_completion_tokens", want: 16384},
		{name: "chat named openai model", g: toOpenAI, up: oaUp, path: "/v1/chat/completions",
			body:   `{"model":"openai/gpt-4o","max_tokens":32000,"messages":[{"role":"user","content":"%s"}]}`,
			member: "max_tokens", want: 32000, status: 400, errHas: "This model supports at most 16384 completion tokens"},
		{name: "responses auto to openai", g: toOpenAI, up: oaUp, path: "/v1/responses",
			body: `{"model":"auto","max_output_tokens":32000,"input":"%s"}`, member: "max_output_tokens", want: 16384},
		{name: "responses auto to openai stream", g: toOpenAI, up: oaUp, path: "/v1/responses",
			body: `{"input":"%s","stream":true,"max_output_tokens":50000,"model":"auto"}`, member: "max_output_tokens", want: 16384},
		{name: "responses named openai model", g: toOpenAI, up: oaUp, path: "/v1/responses",
			body: `{"model":"openai/gpt-4o","max_output_tokens":32000,"input":"%s"}`, member: "max_output_tokens", want: 32000},
		// Anthropic's API requires max_tokens and Claude Code sizes it for
		// Claude: a Messages request translated for another model is
		// capped at that model's limit even when named.
		{name: "messages named openai model", g: toOpenAI, up: oaUp, path: "/v1/messages",
			body: `{"max_tokens":32000,"messages":[{"role":"user","content":"%s"}],"model":"openai/gpt-4o"}`, member: "max_completion_tokens", want: 16384},
		{name: "messages auto to openai", g: toOpenAI, up: oaUp, path: "/v1/messages",
			body: `{"model":"auto","max_tokens":32000,"messages":[{"role":"user","content":"%s"}]}`, member: "max_completion_tokens", want: 16384},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := strings.Replace(tc.body, "%s", "max tokens case "+strconv.Itoa(i), 1)
			var hdr map[string]string
			if tc.path == "/v1/messages" {
				hdr = anthropicHdr
			}
			status, _, got := tc.g.post(t, tc.path, body, hdr)
			want := tc.status
			if want == 0 {
				want = 200
			}
			if status != want || (tc.errHas != "" && !strings.Contains(got, tc.errHas)) {
				t.Fatalf("status %d, want %d (%q): %s", status, want, tc.errHas, got)
			}
			// The upstream's copy of the request is the last one holding
			// this case's prompt.
			var sent map[string]json.RawMessage
			for _, r := range tc.up.Requests() {
				if strings.Contains(string(r.Body), "max tokens case "+strconv.Itoa(i)+`"`) {
					sent = nil
					if err := json.Unmarshal(r.Body, &sent); err != nil {
						t.Fatalf("upstream body: %v: %s", err, r.Body)
					}
				}
			}
			if sent == nil {
				t.Fatal("the upstream did not receive the request")
			}
			if v := string(sent[tc.member]); v != strconv.FormatInt(tc.want, 10) {
				t.Fatalf("upstream %s = %s, want %d", tc.member, v, tc.want)
			}
		})
	}
}
