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

// codingReq is a coding request of about a given size: a system prompt and a
// user question with pasted Go code in a ``` fence, as JSON and as the
// texts the engine's decode would hand policies. The engine's input path
// (decode, then engine/policyinput.Fill) has its own tests and benchmarks;
// here the host is measured on an Input built by hand.
type codingReq struct {
	body, system, question []byte
}

func codingRequest(size int) codingReq {
	code := "func handler(w http.ResponseWriter, r *http.Request) {\n\tid := r.URL.Query().Get(\"id\")\n\tif id == \"\" {\n\t\thttp.Error(w, \"missing id\", 400)\n\t\treturn\n\t}\n}\n"
	var b strings.Builder
	for b.Len() < size-300 {
		b.WriteString(code)
	}
	system := "You are a senior Go reviewer."
	q := "Why does this handler return 400 for valid ids? Fix it in server.go.\n```go\n" + b.String() + "```"
	body := `{"model":"auto","messages":[{"role":"system","content":` + jsonString(system) + `},{"role":"user","content":` + jsonString(q) + `}]}`
	return codingReq{body: []byte(body), system: []byte(system), question: []byte(q)}
}

var (
	modelAuto  = []byte("auto")
	roleSystem = []byte("system")
	roleUser   = []byte("user")
)

// fill resets in and fills it with c's view; nothing is allocated once in's
// slices have grown.
func (c codingReq) fill(in *Input) {
	in.Reset()
	in.Model = modelAuto
	in.Body = c.body
	in.AddMessage(roleSystem, c.system, 0)
	in.AddMessage(roleUser, c.question, 0)
}

// input returns a new Input with c's view.
func (c codingReq) input() *Input {
	in := new(Input)
	c.fill(in)
	return in
}

func jsonString(s string) string {
	return string(abi.AppendJSONString(nil, []byte(s)))
}

// TestRunAllocs proves the host side of a policy call allocates nothing in
// steady state: Input and Output reused, built-in (trusted) modules.
// Sandboxed modules add wazero's per-call termination watcher.
func TestRunAllocs(t *testing.T) {
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
	req := codingRequest(4 << 10)
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
				req.fill(&in)
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

// TestJoinTextAllocs: joining content parts in the Input's own buffer
// allocates nothing once the buffer has grown.
func TestJoinTextAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	var in Input
	run := func() {
		in.Reset()
		for range 4 {
			var text []byte
			for _, p := range []string{"first part", "second", "third"} {
				text = in.JoinText(text, '\n', p)
			}
			in.AddMessage(roleUser, text, abi.MsgParts)
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocations per fill, want 0", n)
	}
}
