package engine

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers/providertest"
)

// TestClientDisconnectMessagesAndResponses: a client that hangs up in the
// middle of a /v1/messages or /v1/responses stream (translated or relayed
// as is) ends the upstream stream and the exchange, and the gateway goes
// on serving: the same upstream answers the next request in full.
func TestClientDisconnectMessagesAndResponses(t *testing.T) {
	t.Parallel()
	words := strings.Repeat("word ", 200)
	oa := &providertest.OpenAI{Reply: words, Pace: 20 * time.Millisecond}
	upOA, err := providertest.StartOpenAI(oa)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = upOA.Close() })
	an := &providertest.Anthropic{Reply: words, Pace: 20 * time.Millisecond}
	upAn, err := providertest.StartAnthropic(an)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = upAn.Close() })
	g := startGateway(t, `
[providers.oa]
kind = "openai"
base_url = "`+upOA.URL+`/v1"
api_key = "k"
responses = false

[providers.an]
kind = "anthropic"
base_url = "`+upAn.URL+`"
api_key = "k"
`, nil)
	tests := []struct {
		name, path, model, body string
		up                      *providertest.Server
	}{
		{"messages translated to openai", "/v1/messages", "oa/gpt-4o", `"max_tokens":64,"messages":[{"role":"user","content":"x"}]`, upOA},
		{"messages passthrough to anthropic", "/v1/messages", "an/claude-sonnet-4-0", `"max_tokens":64,"messages":[{"role":"user","content":"x"}]`, upAn},
		{"responses translated to anthropic", "/v1/responses", "an/claude-sonnet-4-0", `"input":"x"`, upAn},
		{"responses translated to openai chat", "/v1/responses", "oa/gpt-4o", `"input":"x"`, upOA},
	}
	// Sequential: each case counts its upstream's streams.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			closed := tc.up.Closed.Load()
			body := `{"model":"` + tc.model + `","stream":true,` + tc.body + `}`
			conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("POST", g.url+tc.path, strings.NewReader(body))
			req.Header.Set("x-api-key", testKey)
			req.Header.Set("anthropic-version", "2023-06-01")
			req.Header.Set("X-Gateway-Cache", "bypass")
			if err := req.Write(conn); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			buf := make([]byte, 256)
			if _, err := resp.Body.Read(buf); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the upstream stream to start", func() bool { return tc.up.Active.Load() == 1 })
			conn.Close()
			waitFor(t, "the upstream to see its connection closed", func() bool { return tc.up.Closed.Load() == closed+1 })
			waitFor(t, "the upstream stream to end", func() bool { return tc.up.Active.Load() == 0 })
			// The gateway still serves, through the same upstream.
			status, _, out := g.post(t, tc.path, `{"model":"`+tc.model+`",`+strings.Replace(tc.body, `"x"`, `"y"`, 1)+`}`,
				map[string]string{"anthropic-version": "2023-06-01", "X-Gateway-Cache": "bypass"})
			if status != 200 || strings.Count(out, "word") < 200 {
				t.Fatalf("after the disconnect: %d, %d words: %.300s", status, strings.Count(out, "word"), out)
			}
		})
	}
	waitFor(t, "every exchange to finish", func() bool { return strings.Count(g.logText(), `"client_disconnected":true`) == len(tests) })
}
