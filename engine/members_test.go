package engine

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
)

// TestAmbiguousMembersNeverReachTheUpstream: a member the gateway reads,
// sent a second time or spelled with escapes, used to let the upstream run
// another request than the one the gateway routed, priced, streamed and
// filtered. Each is now a 400 naming the member, and the upstream receives
// nothing; a body whose escaped or repeated members are ones the gateway
// does not read still passes byte for byte.
func TestAmbiguousMembersNeverReachTheUpstream(t *testing.T) {
	t.Parallel()
	oa, err := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = oa.Close() })
	an, err := providertest.StartAnthropic(&providertest.Anthropic{Reply: "ok", APIKey: "sk-ant"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = an.Close() })
	pii, err := filepath.Abs("../examples/pii-redactor/pii-redactor.wasm")
	if err != nil {
		t.Fatal(err)
	}
	// The PII redactor as the only policy, failing closed: a request it
	// did not see must not pass.
	toml := "policy_timeout = \"5s\"\n[[policies]]\nname = \"pii\"\nmodule = \"" + pii + "\"\nfail = \"closed\"\n"
	g := startGateway(t, toml, map[string]string{
		"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1",
		"ANTHROPIC_API_KEY": "sk-ant", "ANTHROPIC_BASE_URL": an.URL,
	})
	const user = `[{"role":"user","content":"hello"}]`
	anthropicHdr := map[string]string{"Authorization": "", "x-api-key": testKey}
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		param, code      string
	}{
		{name: "escaped model: routed and priced as cheap, run as pricey", path: "/v1/chat/completions",
			body:  `{"model":"gpt-4o-mini","mod\u0065l":"gpt-4.1","messages":` + user + `}`,
			param: "model", code: "duplicate_member"},
		{name: "plain duplicate model", path: "/v1/chat/completions",
			body:  `{"model":"gpt-4o-mini","model":"gpt-4.1","messages":` + user + `}`,
			param: "model", code: "duplicate_member"},
		{name: "escaped stream: an SSE answer labelled JSON, $0 recorded", path: "/v1/chat/completions",
			body:  `{"model":"gpt-4o","messages":` + user + `,"str\u0065am":true}`,
			param: "stream", code: "ambiguous_member"},
		{name: "escaped messages: an e-mail past the PII redactor", path: "/v1/chat/completions",
			body:  `{"model":"gpt-4o","messages":` + user + `,"messag\u0065s":[{"role":"user","content":"mail jane.doe@example.com"}]}`,
			param: "messages", code: "duplicate_member"},
		{name: "escaped content in a message", path: "/v1/chat/completions",
			body:  `{"model":"gpt-4o","messages":[{"role":"user","content":"hello","cont\u0065nt":"mail jane.doe@example.com"}]}`,
			param: "messages[0].content", code: "duplicate_member"},
		{name: "escaped include_usage", path: "/v1/chat/completions",
			body:  `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true,"include\u005fusage":false},"messages":` + user + `}`,
			param: "stream_options.include_usage", code: "duplicate_member"},
		{name: "Anthropic passthrough: escaped model", path: "/v1/messages", hdr: anthropicHdr,
			body:  `{"model":"claude-sonnet-4-0","mod\u0065l":"claude-opus-4-1","max_tokens":16,"messages":` + user + `}`,
			param: "model", code: "duplicate_member"},
		{name: "Anthropic passthrough: escaped stream", path: "/v1/messages", hdr: anthropicHdr,
			body:  `{"model":"claude-sonnet-4-0","max_tokens":16,"messages":` + user + `,"str\u0065am":true}`,
			param: "stream", code: "ambiguous_member"},
		{name: "Anthropic count_tokens: duplicate model", path: "/v1/messages/count_tokens", hdr: anthropicHdr,
			body:  `{"model":"claude-sonnet-4-0","model":"claude-opus-4-1","messages":` + user + `}`,
			param: "model", code: "duplicate_member"},
		{name: "embeddings: escaped model", path: "/v1/embeddings",
			body:  `{"model":"text-embedding-3-small","mod\u0065l":"text-embedding-3-large","input":"x"}`,
			param: "model", code: "duplicate_member"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(oa.Requests()) + len(an.Requests())
			status, _, resp := g.post(t, tc.path, tc.body, tc.hdr)
			if status != 400 {
				t.Fatalf("status %d: %s", status, resp)
			}
			var env struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Code    string `json:"code"`
					Param   string `json:"param"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(resp), &env); err != nil {
				t.Fatalf("%v: %s", err, resp)
			}
			if env.Error.Type != "invalid_request_error" || !strings.Contains(env.Error.Message, "`"+tc.param[strings.LastIndexByte(tc.param, '.')+1:]+"`") {
				t.Fatalf("envelope %s", resp)
			}
			if env.Type == "" && (env.Error.Code != tc.code || env.Error.Param != tc.param) { // the OpenAI envelope
				t.Fatalf("code, param = %q, %q; want %q, %q (%s)", env.Error.Code, env.Error.Param, tc.code, tc.param, resp)
			}
			if after := len(oa.Requests()) + len(an.Requests()); after != before {
				t.Fatalf("the upstream received %d request(s)", after-before)
			}
		})
	}

	// The upstreams are reachable and the redactor runs: the same requests
	// without the second spelling pass, the e-mail redacted, and members the
	// gateway does not read reach the upstream as sent.
	t.Run("control", func(t *testing.T) {
		body := `{"model":"gpt-4o","messages":[{"role":"user","content":"mail jane.doe@example.com"}],"logit\u005fbias":{"1":2},"x":1,"x":2}`
		status, _, resp := g.post(t, "/v1/chat/completions", body, map[string]string{"X-Gateway-Cache": "bypass"})
		if status != 200 {
			t.Fatalf("status %d: %s", status, resp)
		}
		got := string(oa.Last().Body)
		if strings.Contains(got, "jane.doe@example.com") || !strings.Contains(got, `"logit\u005fbias":{"1":2},"x":1,"x":2,"prompt_cache_key":"gw-`) {
			t.Fatalf("upstream body %s", got)
		}
		body = `{"model":"claude-sonnet-4-0","max_tokens":16,"messages":` + user + `,"top\u005fk":5}`
		if status, _, resp := g.post(t, "/v1/messages", body, anthropicHdr); status != 200 {
			t.Fatalf("status %d: %s", status, resp)
		}
		if got := string(an.Last().Body); got != body {
			t.Fatalf("passthrough body\n got %s\nwant %s", got, body)
		}
	})
}
