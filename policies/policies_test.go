package policies_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/policies/internal/policytest"
	"github.com/aigateway/gateway/wasm"
)

// routerConfig is the tier binding the router's golden files were made with
// (see policies/router/router_test.go).
const routerConfig = `{"mode":"local_first","tiers":{
 "local":{"model":"ollama/qwen2.5-coder","context_window":32768,"tools":false,"vision":false,"json":false},
 "fast":{"model":"groq/llama-3.3-70b-versatile","context_window":131072,"tools":true,"vision":false,"json":true},
 "strong":{"model":"anthropic/claude-sonnet-4-0","context_window":200000,"tools":true,"vision":true,"json":true},
 "reasoning":{"model":"openai/o3","context_window":200000,"tools":true,"vision":true,"json":true}}}`

// TestEmbeddedModulesMatchGolden runs every policy's golden cases through
// the committed Wasm module in a real Host: the compiled artifact must
// behave exactly like the Go code the native tests check.
func TestEmbeddedModulesMatchGolden(t *testing.T) {
	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, p := range []struct {
		name   string
		stage  abi.Stage
		config string
	}{
		{"skills", abi.StageRequest, ""},
		{"stripper", abi.StageRequest, ""},
		{"diff-first", abi.StageRequest, ""},
		{"router", abi.StageRoute, routerConfig},
	} {
		dir := filepath.Join(p.name, "testdata")
		for _, c := range policytest.Cases(t, dir) {
			t.Run(p.name+"/"+c.Name, func(t *testing.T) {
				cfg := string(c.ConfigOr([]byte(p.config)))
				err := h.Configure([]wasm.PolicyConfig{{Name: p.name, Module: wasm.BuiltinPrefix + p.name, Config: cfg, Timeout: 5e9}})
				if err != nil {
					t.Fatal(err)
				}
				var out wasm.Output
				if err := h.Run(ctx, p.stage, c.Input(t), &out); err != nil {
					t.Fatal(err)
				}
				policytest.Golden(t, dir, c.Name, out.AppendText(nil))
			})
		}
	}
}

func TestBuiltins(t *testing.T) {
	names := policies.Names()
	want := []string{"dedup", "diff-first", "judge", "router", "skills", "stripper"}
	if len(names) != len(want) {
		t.Fatalf("Names() = %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("Names() = %v, want %v", names, want)
		}
		if b, ok := policies.Module(want[i]); !ok || string(b[:4]) != "\x00asm" {
			t.Fatalf("Module(%s) missing or not Wasm", want[i])
		}
	}
	if _, ok := policies.Module("../embed.go"); ok {
		t.Fatal("Module must not read outside wasm/")
	}
	// Every module build.sh writes is embedded, byte for byte.
	entries, err := os.ReadDir("wasm")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".wasm")
		if !ok {
			continue
		}
		onDisk, err := os.ReadFile(filepath.Join("wasm", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if b, ok := policies.Module(name); !ok || !bytes.Equal(b, onDisk) {
			t.Fatalf("wasm/%s is not embedded (or differs): list it in embed.go", e.Name())
		}
	}
	skills := policies.DefaultSkills()
	if len(skills) != 8 {
		t.Fatalf("DefaultSkills() has %d skills, want 8", len(skills))
	}
	for _, s := range skills {
		if s.ID == "" || s.Template == "" || s.Description == "" {
			t.Fatalf("incomplete default skill %+v", s)
		}
	}
}

// TestModuleAllocs: handing out a built-in module copies nothing (it used
// to cost a 2 MB copy per read, kept as long as the policy version lived).
func TestModuleAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		if b, ok := policies.Module("router"); !ok || len(b) < 1<<20 {
			t.Fatal("router module missing")
		}
	}); n != 0 {
		t.Fatalf("Module allocates %.0f times per call, want 0", n)
	}
}
