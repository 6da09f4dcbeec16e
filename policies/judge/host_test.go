package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/internal/policytest"
	"github.com/aigateway/gateway/wasm"
)

// cacheDir is the compilation cache the tests' hosts share: the module is
// compiled once per test binary (compiling it takes seconds under -race).
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "policy-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newHost returns a Host running the committed judge module (built by
// policies/build.sh) on the response stage with config.
func newHost(t testing.TB, config string) *wasm.Host {
	t.Helper()
	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Options{CacheDir: cacheDir, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	// A generous deadline: the race detector slows the first call's
	// instantiation down.
	if err := h.Configure([]wasm.PolicyConfig{{Name: "judge", Module: wasm.BuiltinPrefix + "judge",
		Stages: []string{"response"}, Config: config, Timeout: 5 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHostEndToEnd judges answers through the real Wasm host: a refusal
// escalates, a code answer to a code request is accepted, and the request
// stage (no response) is left alone.
func TestHostEndToEnd(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, `{"min_chars": 2}`)
	body, _ := json.Marshal(map[string]any{"model": "ollama/qwen2.5-coder", "messages": []map[string]any{
		{"role": "system", "content": "You are a coding assistant."},
		{"role": "user", "content": "Write a Go function that reverses a string."},
	}})
	for _, tt := range []struct {
		name, answer, finish string
		escalate             bool
		score                int
		reason               string
	}{
		{"refusal", "I'm sorry, but I can't help with that.", "stop", true, scoreRefusal, `refusal: "i can't help"`},
		{"truncated", "func reverse(s string) string {", "length", true, scoreTruncated, "truncated: the upstream stopped at its token limit (length)"},
		{"prose only", "Convert it to runes and swap from both ends.", "stop", true, scoreNoCode, "no code block for a code request"},
		{"code", "```go\nfunc reverse(s string) string {\n\tr := []rune(s)\n\tfor i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {\n\t\tr[i], r[j] = r[j], r[i]\n\t}\n\treturn string(r)\n}\n```", "stop", false, 800, "ok, code"},
		{"too short", "x", "stop", true, scoreShort, "too short: 1 chars < min_chars 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := policytest.RequestInput(t, body)
			in.Response = chat(tt.answer, tt.finish)
			var out wasm.Output
			if err := h.Run(ctx, abi.StageResponse, in, &out); err != nil {
				t.Fatal(err)
			}
			v := out.Verdict
			if out.Failed() || !v.Set || v.Policy != "judge" {
				t.Fatalf("no verdict: %s", out.AppendText(nil))
			}
			if v.Escalate != tt.escalate || v.Score != tt.score || string(v.Reason) != tt.reason {
				t.Fatalf("verdict escalate=%v score=%d reason=%q, want %v %d %q", v.Escalate, v.Score, v.Reason, tt.escalate, tt.score, tt.reason)
			}
			if len(out.Edits) != 0 {
				t.Fatalf("the judge edited the request: %s", out.AppendText(nil))
			}
		})
	}
	// The judge exports only the response stage: the request stage runs
	// nothing.
	in := policytest.RequestInput(t, body)
	var out wasm.Output
	if err := h.Run(ctx, abi.StageRequest, in, &out); err != nil || out.Verdict.Set || len(out.Tags) != 0 {
		t.Fatalf("request stage: %v %s", err, out.AppendText(nil))
	}
}

// TestHostMatchesGolden runs every golden case through the compiled module:
// it must behave exactly like the Go code the native tests check.
func TestHostMatchesGolden(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, "")
	for _, c := range policytest.Cases(t, "testdata") {
		t.Run(c.Name, func(t *testing.T) {
			err := h.Configure([]wasm.PolicyConfig{{Name: "judge", Module: wasm.BuiltinPrefix + "judge",
				Stages: []string{"response"}, Config: string(c.Config), Timeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			var out wasm.Output
			if err := h.Run(ctx, abi.StageResponse, c.Input(t), &out); err != nil {
				t.Fatal(err)
			}
			policytest.Golden(t, "testdata", c.Name, out.AppendText(nil))
		})
	}
}

// TestHostRefusesBadConfig checks the module's self-check at load.
func TestHostRefusesBadConfig(t *testing.T) {
	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Options{CacheDir: cacheDir, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	err = h.Configure([]wasm.PolicyConfig{{Name: "judge", Module: wasm.BuiltinPrefix + "judge", Config: `{"min_chars": "ten"}`}})
	if err == nil || !strings.Contains(err.Error(), "min_chars must be an integer") {
		t.Fatalf("Configure = %v, want the module's refusal", err)
	}
}
