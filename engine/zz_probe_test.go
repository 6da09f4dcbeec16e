package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers/providertest"
)

func TestZZProbe(t *testing.T) {
	an := &providertest.Anthropic{Reply: "one two three four", ErrorAfter: 2}
	upAn, _ := providertest.StartAnthropic(an)
	an2 := &providertest.Anthropic{Reply: "one two three", Thinking: "hmm let me think", ToolCall: "get_weather", ToolArgs: `{"city":"Paris"}`, ArgChunks: 3, ToolText: "Let me check."}
	upAn2, _ := providertest.StartAnthropic(an2)
	oa := &providertest.OpenAI{Reply: "one two three four", ToolCall: "get_weather", ToolArgs: `{"city":"Paris"}`, ArgChunks: 3}
	upOA, _ := providertest.StartOpenAI(oa)
	oa2 := &providertest.OpenAI{Reply: "one two three four", StallAfter: 2, StallFor: 2 * time.Second}
	upOA2, _ := providertest.StartOpenAI(oa2)
	g := startGateway(t, `
[providers.an]
kind = "anthropic"
base_url = "`+upAn.URL+`"
api_key = "k"
[providers.an2]
kind = "anthropic"
base_url = "`+upAn2.URL+`"
api_key = "k"
[providers.oa]
kind = "openai"
base_url = "`+upOA.URL+`/v1"
api_key = "k"
responses = false
[providers.oa2]
idle_timeout = "300ms"
kind = "openai"
base_url = "`+upOA2.URL+`/v1"
api_key = "k"
responses = false
`, nil)
	h := map[string]string{"anthropic-version": "2023-06-01"}
	tools := `"tools":[{"name":"get_weather","description":"w","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	rtools := `"tools":[{"type":"function","name":"get_weather","description":"w","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}]`
	for _, c := range []struct{ path, body string }{
		{"/v1/responses", `{"model":"an/claude-sonnet-4-0","stream":true,"input":"x"}`},
		{"/v1/messages", `{"model":"an/claude-sonnet-4-0","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"x"}]}`},
		{"/v1/messages", `{"model":"oa/gpt-4o","stream":true,"max_tokens":50,` + tools + `,"messages":[{"role":"user","content":"x"}]}`},
		{"/v1/messages", `{"model":"oa/gpt-4o","max_tokens":50,` + tools + `,"messages":[{"role":"user","content":"x"}]}`},
		{"/v1/responses", `{"model":"an2/claude-sonnet-4-0","stream":true,"input":"x","reasoning":{"effort":"low"},` + rtools + `}`},
		{"/v1/responses", `{"model":"an2/claude-sonnet-4-0","input":"x",` + rtools + `}`},
		{"/v1/messages", `{"model":"oa2/gpt-4o","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"x"}]}`},
		{"/v1/responses", `{"model":"oa2/gpt-4o","stream":true,"input":"x"}`},
	} {
		st, hd, out := g.post(t, c.path, c.body, h)
		fmt.Printf("==== %s %s\n%d %v\n%s\n", c.path, c.body, st, hd.Get("Content-Type"), out)
	}
}
