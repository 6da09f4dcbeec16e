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

// newHost returns a Host running the committed dedup module (built by
// policies/build.sh) with config.
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
	if err := h.Configure([]wasm.PolicyConfig{{Name: "dedup", Module: wasm.BuiltinPrefix + "dedup",
		Stages: []string{"request"}, Config: config, Timeout: 5 * time.Second}}); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHostEndToEnd runs a Cursor-style request through the real Wasm host
// and checks the edit, the final messages and the tags.
func TestHostEndToEnd(t *testing.T) {
	h := newHost(t, "")
	file := strings.Repeat("export const x = 1; // a line of src/a.ts\n", 20)
	body, _ := json.Marshal(map[string]any{
		"model": "auto",
		"messages": []map[string]any{
			{"role": "system", "content": "You are a coding assistant."},
			{"role": "user", "content": "```typescript:src/a.ts\n" + file + "```\nExplain it."},
			{"role": "assistant", "content": "It exports x."},
			{"role": "user", "content": "Again:\n```typescript:src/a.ts\n" + file + "```\nAnd now?"},
		},
	})
	in := policytest.RequestInput(t, body)
	var out wasm.Output
	if err := h.Run(context.Background(), abi.StageRequest, in, &out); err != nil {
		t.Fatal(err)
	}
	if out.Failed() {
		t.Fatalf("policy failed: %s", out.AppendText(nil))
	}
	if len(out.Edits) != 1 {
		t.Fatalf("want 1 edit, got %s", out.AppendText(nil))
	}
	e := out.Edits[0]
	old := in.Messages[3].Text
	if e.Message != 3 || e.Kind != wasm.EditReplace || string(old[e.Start:e.Start+3]) != "```" || e.End != len(old)-len("\nAnd now?") {
		t.Fatalf("unexpected edit %+v", e)
	}
	final := out.Messages()
	for i := 0; i < 3; i++ {
		if final[i].Changed {
			t.Fatalf("message %d changed", i)
		}
	}
	want := "Again:\n[unchanged: src/a.ts (sha256 "
	if got := string(final[3].Text); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "…), identical to the copy in message 2]\nAnd now?") {
		t.Fatalf("message 3 = %q", got)
	}
	if got := string(out.TagValue("dedup.files")); got != "1" {
		t.Fatalf("dedup.files = %q", got)
	}
	removed := len([]rune("```typescript:src/a.ts\n"+file+"```")) - len([]rune(string(final[3].Text))) + len([]rune("Again:\n\nAnd now?"))
	if got := string(out.TagValue("dedup.removed_chars")); got != itoa(removed) {
		t.Fatalf("dedup.removed_chars = %s, want %d", got, removed)
	}
}

func itoa(n int) string { return string(abi.AppendInt(nil, int64(n))) }

// TestHostMatchesGolden runs every golden case through the compiled module:
// it must behave exactly like the Go code the native tests check.
func TestHostMatchesGolden(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, "")
	for _, c := range policytest.Cases(t, "testdata") {
		t.Run(c.Name, func(t *testing.T) {
			err := h.Configure([]wasm.PolicyConfig{{Name: "dedup", Module: wasm.BuiltinPrefix + "dedup",
				Stages: []string{"request"}, Config: string(c.Config), Timeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			var out wasm.Output
			if err := h.Run(ctx, abi.StageRequest, c.Input(t), &out); err != nil {
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
	err = h.Configure([]wasm.PolicyConfig{{Name: "dedup", Module: wasm.BuiltinPrefix + "dedup", Config: `{"min_size": 1}`}})
	if err == nil || !strings.Contains(err.Error(), `unknown config key "min_size"`) {
		t.Fatalf("Configure = %v, want the module's refusal", err)
	}
}
