package policies_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/bench/payload"
	"github.com/aigateway/gateway/policies/internal/policytest"
	"github.com/aigateway/gateway/wasm"
)

// TestTriggersNeverSkipAnEdit proves the built-ins' triggers (set_trigger,
// ABI v1.2) safe: over every policy's golden cases, the benchmark's
// requests and a few hundred generated ones built from the markers the
// policies act on, the committed module run with its trigger gives
// byte-for-byte the output of the same module called for every request.
// It also checks that the triggers skip something (the benchmark's plain
// and 100 KiB requests) and let something through.
func TestTriggersNeverSkipAnEdit(t *testing.T) {
	ctx := context.Background()
	var corpus []policytest.Case
	for _, dir := range []string{"stripper", "dedup", "skills", "diff-first", "router", "judge"} {
		corpus = append(corpus, policytest.Cases(t, filepath.Join(dir, "testdata"))...)
	}
	for i, body := range [][]byte{payload.Chat("mock/echo", false, 0), payload.Chat("mock/lorem", false, 100<<10), payload.Chat("auto", true, 8<<10)} {
		corpus = append(corpus, policytest.Case{Name: "bench-" + strconv.Itoa(i), Request: body})
	}
	corpus = append(corpus, generated(400)...)

	for _, p := range []struct{ name, config string }{
		{"stripper", ""},
		{"skills", ""},
		{"dedup", ""},
		{"dedup", `{"min_bytes":16}`},
		{"dedup", `{"min_bytes":0,"files":false}`},
		{"dedup", `{"tool_results":false}`},
	} {
		t.Run(p.name+p.config, func(t *testing.T) {
			var hosts [2]*wasm.Host
			for i := range hosts {
				h, err := wasm.New(ctx, wasm.Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet(), IgnoreTriggers: i == 1})
				if err != nil {
					t.Fatal(err)
				}
				defer h.Close(ctx)
				if err := h.Configure([]wasm.PolicyConfig{{Name: p.name, Module: wasm.BuiltinPrefix + p.name, Config: p.config, Timeout: 5e9}}); err != nil {
					t.Fatal(err)
				}
				hosts[i] = h
			}
			edited := 0
			for _, c := range corpus {
				var got [2][]byte
				for i, h := range hosts {
					var out wasm.Output
					if err := h.Run(ctx, abi.StageRequest, c.Input(t), &out); err != nil {
						t.Fatal(err)
					}
					if out.Failed() {
						t.Fatalf("%s: %s", c.Name, out.AppendText(nil))
					}
					got[i] = out.AppendText(nil)
					if i == 1 && (out.Modified() || out.Response.Set) {
						edited++
					}
				}
				if string(got[0]) != string(got[1]) {
					t.Fatalf("%s: the trigger skipped an edit:\n--- with the trigger\n%s\n--- called for every request\n%s\n--- request\n%s",
						c.Name, got[0], got[1], c.Request)
				}
			}
			info, _ := hosts[0].Get(p.name)
			all, _ := hosts[1].Get(p.name)
			t.Logf("%s: called for %d of %d requests, %d of which it changes", p.name, info.Calls, all.Calls, edited)
			if edited == 0 {
				t.Fatal("no request of the corpus is one the policy changes: the comparison proves nothing")
			}
			if info.Calls == all.Calls || info.Calls == 0 && p.config != `{"min_bytes":0,"files":false}` {
				t.Fatalf("the trigger let %d of %d requests through: it skips nothing or everything", info.Calls, all.Calls)
			}
		})
	}
}

// generated builds n requests from the pieces the request-stage built-ins
// act on (chat-template markers, IDE tags, repeated paragraphs, fenced and
// tagged files, tool results, "@skill" mentions, the skill header and
// field) and pieces they do not, in random roles and orders.
func generated(n int) []policytest.Case {
	r := rand.New(rand.NewPCG(16, 2026))
	code := payload.Code(700)
	small := payload.Code(40)
	para := "Always answer in English and keep code changes minimal; explain every change you make in one line."
	pieces := []string{
		"hello", "Fix the bug below.", para, para + "\n\n" + para, "a\n\n\nb", "You are Continue.\nHelp.",
		"<|im_start|>user\nhi<|im_end|>", "<|eot_id|>", "<attached_files>\n</attached_files>\nq",
		"<cursor_rules>\n" + para + "\n</cursor_rules>", "<environment_details>\n# Files\na.go\n</environment_details>",
		"```go src/a.go\n" + code + "\n```", "```go\n" + code + "\n```", "~~~ src/b.go\n" + code + "\n~~~",
		"File: src/c.go\n```\n" + code + "\n```", "<file_content path=\"src/d.go\">\n" + code + "\n</file_content>",
		"```go src/e.go\n" + small + "\n```", code, small, "@code review this", "@unknown x", "see @code",
		"<source>\n" + code + "\n</source>", "<reminder>\n" + para + "\n</reminder>",
	}
	roles := []string{"system", "developer", "user", "assistant", "tool", "user", "user"}
	var out []policytest.Case
	for i := range n {
		var msgs []map[string]any
		for range 1 + r.IntN(5) {
			var text strings.Builder
			for k := range 1 + r.IntN(3) {
				if k > 0 {
					text.WriteString("\n\n")
				}
				text.WriteString(pieces[r.IntN(len(pieces))])
			}
			m := map[string]any{"role": roles[r.IntN(len(roles))], "content": text.String()}
			if m["role"] == "tool" {
				m["tool_call_id"] = "c1"
			}
			msgs = append(msgs, m)
		}
		req := map[string]any{"model": "mock/echo", "messages": msgs}
		c := policytest.Case{Name: "generated-" + strconv.Itoa(i)}
		switch r.IntN(8) {
		case 0:
			c.Headers = map[string]string{"X-Gateway-Skill": "code"}
		case 1:
			req["skill"] = "debug"
		}
		c.Request, _ = json.Marshal(req)
		out = append(out, c)
	}
	return out
}
