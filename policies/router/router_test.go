package main

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/internal/policytest"
	"github.com/aigateway/gateway/wasm"
)

const fullTiers = `"tiers":{
 "local":{"model":"ollama/qwen2.5-coder","context_window":32768,"tools":false,"vision":false,"json":false},
 "fast":{"model":"groq/llama-3.3-70b-versatile","context_window":131072,"tools":true,"vision":false,"json":true},
 "strong":{"model":"anthropic/claude-sonnet-4-0","context_window":200000,"tools":true,"vision":true,"json":true},
 "reasoning":{"model":"openai/o3","context_window":200000,"tools":true,"vision":true,"json":true}}`

// conf is the seed's rules (the tests below pin them); learned tests use
// learnedConf.
func conf(mode string) string {
	return `{"classifier":"rules","mode":"` + mode + `",` + fullTiers + `}`
}

type msg struct{ role, text string }

func long(s string, n int) string {
	pad := " Here is more context about the request that does not match any pattern at all."
	for len(s) < n {
		s += pad
	}
	return s
}

func run(t *testing.T, config, model string, flags uint64, tools int, msgs ...msg) *wasm.Output {
	t.Helper()
	if err := wasm.ConfigureNative([]byte(config), abi.ConfigureHandler(configure)); err != nil {
		t.Fatal(err)
	}
	in := &wasm.Input{Model: []byte(model), Flags: flags}
	for _, m := range msgs {
		var f uint64
		if m.role == "tool" {
			f = abi.MsgToolResult
		}
		in.AddMessage([]byte(m.role), []byte(m.text), f)
	}
	for i := 0; i < tools; i++ {
		in.AddTool([]byte("tool"))
	}
	out := new(wasm.Output)
	if st := wasm.RunNative("router", abi.StageRoute, []byte(config), in, out, onRoute); st != abi.StatusOK {
		t.Fatalf("router failed: %v %s", st, out.AppendText(nil))
	}
	return out
}

func TestRules(t *testing.T) {
	fileList := "Update a.go, b.go, c.py, d.ts, e.rs and f.java and g.go to use the new logger."
	tests := []struct {
		name      string
		mode      string
		model     string
		flags     uint64
		tools     int
		msgs      []msg
		wantModel string
		wantAmbig bool
		reason    string
	}{
		{name: "1 simple question", msgs: []msg{{"user", "Can you explain what a goroutine is?"}},
			wantModel: "ollama/qwen2.5-coder", reason: "local: simple question or local task"},
		{name: "1 applies with tools, capability moves it up", tools: 3, msgs: []msg{{"user", "explain this code please"}},
			wantModel: "groq/llama-3.3-70b-versatile", reason: "fast: simple question or local task (local lacks a capability)"},
		{name: "2 active tool loop", msgs: []msg{{"user", long("Implement the parser and wire it into the CLI.", 600)}, {"assistant", ""}, {"tool", "file contents"}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: active tool loop"},
		{name: "3 tools defined", tools: 2, msgs: []msg{{"user", long("Implement the parser and wire it into the CLI.", 600)}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: 2 tools defined"},
		{name: "4 long context", msgs: []msg{{"user", long("Review the attached log.", 31000)}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "chars of context, over the local limit"},
		{name: "5 many messages", msgs: append(make([]msg, 0), repeatMsgs(16)...),
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: 16 messages, more than 15"},
		{name: "6 IDE system prompt", msgs: []msg{{"system", long("You are an AI assistant running inside Cursor.", 1200)}, {"user", long("Make the tests pass.", 600)}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: IDE system prompt"},
		{name: "7 deep keywords go to reasoning", msgs: []msg{{"user", long("We must plan the migration of our Kubernetes infrastructure without downtime.", 600)}},
			wantModel: "openai/o3", reason: "reasoning: 3 deep-reasoning keywords"},
		{name: "8 many files", msgs: []msg{{"user", long(fileList, 600)}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: 7 source-file mentions"},
		{name: "9 multi-file phrase", msgs: []msg{{"user", long("Rename the Config type across multiple files and keep the API stable.", 600)}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: multi-file change"},
		{name: "10 single local task", msgs: []msg{{"user", long("Please translate these error messages to German.", 900)}},
			wantModel: "ollama/qwen2.5-coder", reason: "local: single local task"},
		{name: "11 single-file edit", msgs: []msg{{"user", "hi"}, {"assistant", "hello"}, {"user", long("In main.go fix the typo in the usage string.", 700)}},
			wantModel: "ollama/qwen2.5-coder", reason: "local: single-file edit"},
		{name: "12 ambiguous leaning local", msgs: []msg{{"user", long("Implement a small parser for our settings files.", 700)}},
			wantModel: "ollama/qwen2.5-coder", wantAmbig: true, reason: "local: ambiguous local=0.50 claude=0.00"},
		{name: "12 ambiguous leaning claude", msgs: []msg{{"user", "a"}, {"assistant", "b"}, {"user", "c"}, {"user", long("We had an incident; implement retries in the client.", 5200)}},
			wantModel: "anthropic/claude-sonnet-4-0", wantAmbig: true, reason: "strong: ambiguous local=0.00 claude=0.40"},
		{name: "vision needs a vision model", flags: abi.FlagImages, msgs: []msg{{"user", "What is this diagram?"}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: simple question or local task (local lacks a capability)"},
		{name: "json needs a json model", flags: abi.FlagJSON, msgs: []msg{{"user", "What is a monad? Answer in JSON."}},
			wantModel: "groq/llama-3.3-70b-versatile", reason: "fast: simple question"},
		{name: "context window filter", model: "local", msgs: []msg{{"user", long("Summarize this log.", 120000)}},
			wantModel: "groq/llama-3.3-70b-versatile", reason: "fast: alias local (local lacks a capability)"},
		{name: "balanced mode uses fast", mode: "balanced", msgs: []msg{{"user", "What is a monad?"}},
			wantModel: "groq/llama-3.3-70b-versatile", reason: "fast: simple question"},
		{name: "quality mode uses strong", mode: "quality", msgs: []msg{{"user", "What is a monad?"}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: simple question"},
		{name: "quality mode decides ambiguous", mode: "quality", msgs: []msg{{"user", long("Implement a small parser for our settings files.", 700)}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: ambiguous"},
		{name: "keyword mode", mode: "keyword", msgs: []msg{{"user", "Design the distributed system architecture and the database schema for production."}},
			wantModel: "openai/o3", reason: "reasoning: keyword score 0.57"},
		{name: "keyword mode simple", mode: "keyword", msgs: []msg{{"user", "quick typo fix"}},
			wantModel: "anthropic/claude-sonnet-4-0", reason: "strong: keyword score -0.20"},
		{name: "alias opus", model: "opus", msgs: []msg{{"user", "hi"}}, wantModel: "openai/o3", reason: "reasoning: alias opus"},
		{name: "alias smartroute", model: "SmartRoute", msgs: []msg{{"user", "what is this"}}, wantModel: "ollama/qwen2.5-coder", reason: "local:"},
		{name: "smart routing header on explicit model", model: "openai/gpt-4o", flags: abi.FlagSmartRouting, msgs: []msg{{"user", "what is this"}},
			wantModel: "ollama/qwen2.5-coder", reason: "local:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := tt.mode
			if mode == "" {
				mode = "local_first"
			}
			model := tt.model
			if model == "" {
				model = "auto"
			}
			out := run(t, conf(mode), model, tt.flags, tt.tools, tt.msgs...)
			if !out.Route.Set || string(out.Route.Model) != tt.wantModel || out.Route.Ambiguous != tt.wantAmbig ||
				!strings.Contains(string(out.Route.Reason), tt.reason) {
				t.Fatalf("got %s, want model %s ambiguous=%v reason containing %q", out.AppendText(nil), tt.wantModel, tt.wantAmbig, tt.reason)
			}
		})
	}
}

func repeatMsgs(n int) []msg {
	out := make([]msg, n)
	for i := range out {
		out[i] = msg{"user", long("Continue with the implementation of the next step.", 600)}
		if i%2 == 1 {
			out[i].role = "assistant"
		}
	}
	out[n-1].role = "user"
	return out
}

func TestExplicitModelUntouched(t *testing.T) {
	out := run(t, conf("local_first"), "openai/gpt-4o", 0, 0, msg{"user", "what is this"})
	if out.Route.Set || len(out.Tags) != 0 {
		t.Fatalf("explicit model was routed: %s", out.AppendText(nil))
	}
}

func TestMissingTiersFallBack(t *testing.T) {
	only := `{"classifier":"rules","tiers":{"strong":{"model":"anthropic/claude-sonnet-4-0","tools":true}}}`
	out := run(t, only, "auto", 0, 0, msg{"user", "What is a monad?"})
	if string(out.Route.Model) != "anthropic/claude-sonnet-4-0" || !strings.Contains(string(out.Route.Reason), "(local not configured)") {
		t.Fatalf("got %s", out.AppendText(nil))
	}
	down := `{"classifier":"rules","tiers":{"fast":{"model":"groq/llama","tools":true}}}`
	out = run(t, down, "auto", 0, 0, msg{"user", long("We must plan the migration of our Kubernetes infrastructure without downtime.", 600)})
	if string(out.Route.Model) != "groq/llama" || !strings.Contains(string(out.Route.Reason), "(reasoning not configured)") {
		t.Fatalf("a missing upper tier must fall back down: %s", out.AppendText(nil))
	}
}

func TestNoCapableModel(t *testing.T) {
	localOnly := `{"classifier":"rules","tiers":{"local":{"model":"ollama/qwen2.5-coder"}}}`
	out := run(t, localOnly, "auto", 0, 2, msg{"user", "Implement the feature."})
	if out.Route.Set || !out.Response.Set || out.Response.Status != 400 || !strings.Contains(string(out.Response.Body), "no_capable_model") {
		t.Fatalf("got %s", out.AppendText(nil))
	}
	out = run(t, `{}`, "auto", 0, 0, msg{"user", "what is this"})
	if out.Route.Set || out.Response.Set || string(out.TagValue("router.tier")) != "local" {
		t.Fatalf("with no tiers the router must only tag the tier: %s", out.AppendText(nil))
	}
}

func TestConfigure(t *testing.T) {
	tests := []struct{ cfg, wantErr string }{
		{``, ""},
		{conf("balanced"), ""},
		{`{"mode":"fastest"}`, "mode must be"},
		{`{"tiers":{"huge":{"model":"x"}}}`, "unknown tier huge"},
		{`{"tiers":{"local":{"context_window":5}}}`, "model is required"},
		{`{"tiers":{"local":{"model":"a b"}}}`, "printable ASCII"},
		{`{"tiers":{"local":{"model":"x","tools":"yes"}}}`, "tools must be a boolean"},
		{`{"tiers":{"local":{"model":"x","context_window":-1}}}`, "non-negative"},
		{`{"tiers":{"local":{"model":"x","color":1}}}`, "unknown key color"},
		{`{"reasoning_threshold":2}`, "reasoning_threshold"},
		{`{"local_context_chars":0}`, "local_context_chars"},
		{`{"classifier":"bayes"}`, "classifier must be"},
		{`{"threshold":1}`, "threshold must be"},
		{`{"ambiguous_margin":0.7}`, "ambiguous_margin"},
		{`{"weights":"bm90IHdlaWdodHM="}`, "not a router weights file"},
		{`{"weights":12}`, "base64 string"},
		{`{"rules":[{"keywords":["sql"]}]}`, ""},
		{`[]`, "JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg, func(t *testing.T) {
			got := configure([]byte(tt.cfg))
			if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Fatalf("configure = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestCountExtensions(t *testing.T) {
	tests := []struct {
		text string
		want int
	}{
		{"edit main.go and util.py", 2},
		{"see example.com and index.html", 0},
		{"a.ts b.tsx c.h d.c e.cpp f.java g.rs h.js", 8},
		{"end of sentence. go on", 0},
		{"x.GO", 1},
		{".go at start", 0},
	}
	for _, tt := range tests {
		if got := countExtensions([]byte(tt.text)); got != tt.want {
			t.Errorf("countExtensions(%q) = %d, want %d", tt.text, got, tt.want)
		}
	}
}

func TestGolden(t *testing.T) {
	for _, c := range policytest.Cases(t, "testdata") {
		t.Run(c.Name, func(t *testing.T) {
			// The default classifier (the learned one), as the embedded
			// module runs it in policies' TestEmbeddedModulesMatchGolden:
			// both tests share these golden files.
			cfg := `{"mode":"local_first",` + fullTiers + `}`
			got := policytest.RunNative(t, "router", abi.StageRoute, c, []byte(cfg), abi.ConfigureHandler(configure), onRoute)
			policytest.Golden(t, "testdata", c.Name, got)
		})
	}
}
