package wasm

import (
	"context"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
)

const allocRouterConfig = `{"mode":"local_first","tiers":{
 "local":{"model":"ollama/qwen2.5-coder","context_window":32768},
 "strong":{"model":"anthropic/claude-sonnet-4-0","context_window":200000,"tools":true,"vision":true,"json":true}}}`

func codingRequest(size int) []byte {
	code := "func handler(w http.ResponseWriter, r *http.Request) {\n\tid := r.URL.Query().Get(\"id\")\n\tif id == \"\" {\n\t\thttp.Error(w, \"missing id\", 400)\n\t\treturn\n\t}\n}\n"
	var b strings.Builder
	for b.Len() < size-300 {
		b.WriteString(code)
	}
	q := "Why does this handler return 400 for valid ids? Fix it in server.go.\n```go\n" + b.String() + "```"
	body := `{"model":"auto","messages":[{"role":"system","content":"You are a senior Go reviewer."},{"role":"user","content":` + jsonString(q) + `}]}`
	return []byte(body)
}

func jsonString(s string) string {
	return string(abi.AppendJSONString(nil, []byte(s)))
}

// TestRunAllocatesNothing proves the host side of a policy call allocates
// nothing in steady state: Input and Output reused, built-in (trusted)
// modules. Sandboxed modules add wazero's per-call termination watcher.
func TestRunAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	h := newHost(t, Options{PoolSize: 1})
	err := h.Configure([]PolicyConfig{
		{Name: "stripper", Module: "builtin:stripper"},
		{Name: "skills", Module: "builtin:skills"},
		{Name: "router", Module: "builtin:router", Config: allocRouterConfig},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	body := codingRequest(4 << 10)
	var in Input
	var out Output
	hname, hval := []byte("X-Gateway-Skill"), []byte("code-review")
	tests := []struct {
		name  string
		stage abi.Stage
	}{
		{"route", abi.StageRoute},
		{"request chain", abi.StageRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := func() {
				out.Reset()
				if err := InputFromOpenAI(body, &in); err != nil {
					t.Fatal(err)
				}
				in.AddHeader(hname, hval)
				if err := h.Run(ctx, tt.stage, &in, &out); err != nil || len(out.Failures) != 0 {
					t.Fatalf("%v %s", err, out.AppendText(nil))
				}
			}
			run() // warm the pool and grow the buffers
			if n := testing.AllocsPerRun(200, run); n != 0 {
				t.Fatalf("%v allocations per Run, want 0", n)
			}
		})
	}
}

func TestInputFromOpenAIAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	body := []byte(`{"model":"auto","messages":[{"role":"system","content":"s\nx"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"tools":[{"type":"function","function":{"name":"f"}}]}`)
	var in Input
	InputFromOpenAI(body, &in)
	if n := testing.AllocsPerRun(100, func() { InputFromOpenAI(body, &in) }); n != 0 {
		t.Fatalf("%v allocations per decode, want 0", n)
	}
}
