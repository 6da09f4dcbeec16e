package cache

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

const baseReq = `{"model":"gpt-4o","temperature":0,"max_tokens":100,"messages":[
 {"role":"system","content":"You are terse."},
 {"role":"user","content":[{"type":"text","text":"What is in this image?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"low"}}]},
 {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"look","arguments":"{\"x\":1}"}}]},
 {"role":"tool","tool_call_id":"call_1","content":"a cat"}],
 "tools":[{"type":"function","function":{"name":"look","description":"Look closer","parameters":{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}}}}}],
 "tool_choice":"auto","response_format":{"type":"text"},"seed":7,"stop":["END"],"top_p":1,"presence_penalty":0.5,"logit_bias":{"50256":-100}}`

func decode(t testing.TB, body string) *providers.Request {
	t.Helper()
	r := new(providers.Request)
	if err := r.Decode([]byte(body)); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return r
}

func keyOf(t testing.TB, body, project, provider, model string) Key {
	return KeyFor(decode(t, body), project, provider, model)
}

func TestKeyStabilityAndSensitivity(t *testing.T) {
	t.Parallel()
	base := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	if again := keyOf(t, baseReq, "acme", "openai", "gpt-4o"); again.Sum != base.Sum {
		t.Fatal("the same request hashed twice gives two keys")
	}
	r := strings.NewReplacer
	tests := []struct {
		name     string
		body     string
		project  string
		provider string
		model    string
		same     bool
	}{
		// What does not change the key.
		{name: "stream flag", body: r(`"temperature":0,`, `"temperature":0,"stream":true,"stream_options":{"include_usage":true},`).Replace(baseReq), same: true},
		{name: "user and skill", body: r(`"temperature":0,`, `"temperature":0,"user":"u-42","skill":"review",`).Replace(baseReq), same: true},
		{name: "model as written (alias)", body: r(`"model":"gpt-4o"`, `"model":"openai/gpt-4o"`).Replace(baseReq), same: true},
		{name: "whitespace everywhere", body: r("\n", "", `"messages":[`, `"messages" : [ `, `{"type":"object"`, "{ \"type\"\t:\r\n\"object\" ", `"logit_bias":{"50256":-100}`, `"logit_bias": { "50256" : -100 }`, `{"role":"tool",`, `{ "role": "tool" ,`).Replace(baseReq), same: true},
		{name: "top-level key order", body: r(`"temperature":0,"max_tokens":100,`, `"max_tokens":100,"temperature":0,`).Replace(baseReq), same: true},
		{name: "unknown field order", body: r(`"presence_penalty":0.5,"logit_bias":{"50256":-100}`, `"logit_bias":{"50256":-100},"presence_penalty":0.5`).Replace(baseReq), same: true},
		{name: "string escapes in content", body: r(`"You are terse."`, `"You are t\u0065rse."`).Replace(baseReq), same: true},
		{name: "string escapes in tools", body: r(`"Look closer"`, `"Look \u0063loser"`).Replace(baseReq), same: true},
		{name: "max_completion_tokens for max_tokens", body: r(`"max_tokens":100`, `"max_completion_tokens":100`).Replace(baseReq), same: true},
		{name: "n=1 is the default", body: r(`"seed":7,`, `"seed":7,"n":1,`).Replace(baseReq), same: true},
		{name: "temperature 0.0", body: r(`"temperature":0,`, `"temperature":0.0,`).Replace(baseReq), same: true},
		{name: "member order inside a message", body: r(`{"role":"tool","tool_call_id":"call_1","content":"a cat"}`, `{"content":"a cat","tool_call_id":"call_1","role":"tool"}`).Replace(baseReq), same: true},

		// What changes it.
		{name: "project", body: baseReq, project: "globex"},
		{name: "provider", body: baseReq, provider: "azure"},
		{name: "upstream model", body: baseReq, model: "gpt-4o-mini"},
		{name: "system text", body: r(`You are terse.`, `You are verbose.`).Replace(baseReq)},
		{name: "role", body: r(`"role":"system"`, `"role":"developer"`).Replace(baseReq)},
		{name: "message name", body: r(`{"role":"system",`, `{"role":"system","name":"boss",`).Replace(baseReq)},
		{name: "text part", body: r(`What is in this image?`, `What is in that image?`).Replace(baseReq)},
		{name: "image url", body: r(`a.png`, `b.png`).Replace(baseReq)},
		{name: "image detail", body: r(`"detail":"low"`, `"detail":"high"`).Replace(baseReq)},
		{name: "tool call id", body: r(`"id":"call_1"`, `"id":"call_2"`).Replace(baseReq)},
		{name: "tool call arguments", body: r(`{\"x\":1}`, `{\"x\":2}`).Replace(baseReq)},
		{name: "tool_call_id", body: r(`"tool_call_id":"call_1"`, `"tool_call_id":"call_9"`).Replace(baseReq)},
		{name: "tool result", body: r(`"a cat"`, `"a dog"`).Replace(baseReq)},
		{name: "content null vs empty string", body: r(`"content":null`, `"content":""`).Replace(baseReq)},
		{name: "message order", body: r(`{"role":"system","content":"You are terse."},`, ``, `"content":"a cat"}]`, `"content":"a cat"},{"role":"system","content":"You are terse."}]`).Replace(baseReq)},
		{name: "unknown message member", body: r(`{"role":"assistant",`, `{"role":"assistant","reasoning_content":"hmm",`).Replace(baseReq)},
		{name: "tool description", body: r(`Look closer`, `Look harder`).Replace(baseReq)},
		{name: "tool property order", body: r(`"x":{"type":"integer"},"y":{"type":"integer"}`, `"y":{"type":"integer"},"x":{"type":"integer"}`).Replace(baseReq)},
		{name: "tool_choice", body: r(`"tool_choice":"auto"`, `"tool_choice":"required"`).Replace(baseReq)},
		{name: "response_format", body: r(`{"type":"text"}`, `{"type":"json_object"}`).Replace(baseReq)},
		{name: "temperature", body: r(`"temperature":0,`, `"temperature":0.2,`).Replace(baseReq)},
		{name: "temperature absent", body: r(`"temperature":0,`, ``).Replace(baseReq)},
		{name: "top_p", body: r(`"top_p":1`, `"top_p":0.9`).Replace(baseReq)},
		{name: "max_tokens", body: r(`"max_tokens":100`, `"max_tokens":101`).Replace(baseReq)},
		{name: "stop", body: r(`["END"]`, `["END","STOP"]`).Replace(baseReq)},
		{name: "seed", body: r(`"seed":7`, `"seed":8`).Replace(baseReq)},
		{name: "n", body: r(`"seed":7,`, `"seed":7,"n":2,`).Replace(baseReq)},
		{name: "parallel_tool_calls", body: r(`"seed":7,`, `"seed":7,"parallel_tool_calls":false,`).Replace(baseReq)},
		{name: "unknown field value", body: r(`"presence_penalty":0.5`, `"presence_penalty":0.6`).Replace(baseReq)},
		{name: "unknown field added", body: r(`"seed":7,`, `"seed":7,"reasoning_effort":"low",`).Replace(baseReq)},
		{name: "string value vs number", body: r(`"presence_penalty":0.5`, `"presence_penalty":"0.5"`).Replace(baseReq)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, pr, m := "acme", "openai", "gpt-4o"
			if tt.project != "" {
				p = tt.project
			}
			if tt.provider != "" {
				pr = tt.provider
			}
			if tt.model != "" {
				m = tt.model
			}
			if tt.body == baseReq && tt.project == "" && tt.provider == "" && tt.model == "" {
				t.Fatal("BUG: the variant changes nothing")
			}
			got := keyOf(t, tt.body, p, pr, m)
			if (got.Sum == base.Sum) != tt.same {
				t.Fatalf("same key = %v, want %v\nbody: %s", got.Sum == base.Sum, tt.same, tt.body)
			}
		})
	}
}

// TestKeyGolden pins the canonical form: a change here invalidates every
// stored entry, so it must come with a keyVersion bump.
func TestKeyGolden(t *testing.T) {
	t.Parallel()
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	const want = "c04512ac99ccde6e94e32cd3421af67774514b56b56ff8a8dd916d96115bc1b3"
	got := k.Hex()
	if got != want {
		t.Fatalf("key of baseReq = %s, want %s; bump keyVersion if the canonical form changed", got, want)
	}
	if len(got) != 64 {
		t.Fatalf("hex key %q", got)
	}
}

func bigRequest(size int) string {
	var sb strings.Builder
	sb.WriteString(`{"model":"gpt-4o","temperature":0,"tools":[{"type":"function","function":{"name":"read_file","description":"Read a file","parameters":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}}],"messages":[{"role":"system","content":"You are a coding assistant."}`)
	para := `,{"role":"user","content":"Here is the file main.go:\n\npackage main\n\nfunc main() {\n\tprintln(\"hello, \\\"world\\\"\")\n}\n"},{"role":"assistant","content":"It prints a greeting."}`
	for sb.Len() < size-40 {
		sb.WriteString(para)
	}
	sb.WriteString(`],"max_tokens":512}`)
	return sb.String()
}

func TestKeyAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	req := decode(t, bigRequest(16<<10))
	KeyFor(req, "acme", "openai", "gpt-4o")
	if n := testing.AllocsPerRun(100, func() { KeyFor(req, "acme", "openai", "gpt-4o") }); n != 0 {
		t.Fatalf("KeyFor allocates %.1f times per call", n)
	}
}
