// Package watrouter tests the WAT example router (router.wat): the module
// is built with wat2wasm and committed as router.wasm.
package watrouter

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/examples/internal/swaptest"
	"github.com/aigateway/gateway/wasm"
)

const routerConfig = `{"tiers":{"local":{"model":"ollama/qwen2.5-coder"},"strong":{"model":"anthropic/claude-sonnet-4-0","tools":true}}}`

func newHost(t *testing.T) *wasm.Host {
	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	if err := h.Configure([]wasm.PolicyConfig{{Name: "router", Module: "builtin:router", Config: routerConfig, Timeout: 5e9}}); err != nil {
		t.Fatal(err)
	}
	return h
}

func module(t *testing.T) []byte {
	b, err := os.ReadFile("router.wasm")
	if err != nil {
		t.Fatalf("%v (build it with policies/build.sh, which runs wat2wasm)", err)
	}
	return b
}

func input(priority, text string) *wasm.Input {
	in := &wasm.Input{Model: []byte("auto")}
	if priority != "" {
		in.AddHeader([]byte("X-Priority"), []byte(priority))
	}
	in.AddMessage([]byte("user"), []byte(text), 0)
	return in
}

func TestBranches(t *testing.T) {
	h := newHost(t)
	if _, err := h.Upload("router", module(t)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		in       *wasm.Input
		model    string
		tier     abi.Tier
		reason   string
		ambigous bool
	}{
		{"priority header", input("high", "What is a mutex?"), "openai/o3", abi.TierReasoning, "wat: priority header", false},
		{"other priority", input("low", "What is a mutex?"), "groq/llama-3.1-8b-instant", abi.TierFast, "wat: short prompt", false},
		{"long prompt", input("", strings.Repeat("x", 2001)), "anthropic/claude-sonnet-4-0", abi.TierStrong, "wat: long prompt", false},
		{"short prompt", input("", "hi"), "groq/llama-3.1-8b-instant", abi.TierFast, "wat: short prompt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out wasm.Output
			if err := h.Run(context.Background(), abi.StageRoute, tt.in, &out); err != nil || len(out.Failures) > 0 {
				t.Fatalf("%v %s", err, out.AppendText(nil))
			}
			if string(out.Route.Model) != tt.model || string(out.Route.Reason) != tt.reason || out.Route.Tier != tt.tier {
				t.Fatalf("got %s", out.AppendText(nil))
			}
		})
	}
}

// TestUploadUnderLoad replaces the built-in router with the WAT module while
// requests keep flowing: zero failed calls, and the routing changes.
func TestUploadUnderLoad(t *testing.T) {
	h := newHost(t)
	swaptest.Run(t, swaptest.Spec{
		Host: h, Stage: abi.StageRoute, Policy: "router", Module: module(t),
		Input:  func() *wasm.Input { return input("high", "What is a mutex?") },
		Before: swaptest.Decided(swaptest.Route(t, h, input("high", "What is a mutex?"))),
		After:  func(o *wasm.Output) bool { return string(o.Route.Model) == "openai/o3" },
	})
}
