package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/abi/abitest"
	"github.com/aigateway/gateway/examples/internal/swaptest"
	"github.com/aigateway/gateway/wasm"
)

// TestDocumented: abi/ABI.md's twenty-line example is this directory's
// main.go, byte for byte.
func TestDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../abi/ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, _ := bytes.Cut(doc, []byte("## A policy in twenty lines"))
	_, block, _ := bytes.Cut(after, []byte("```go\n"))
	block, _, _ = bytes.Cut(block, []byte("```\n"))
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(block, src) {
		t.Fatalf("ABI.md's example and examples/urgent/main.go differ:\n--- ABI.md\n%s\n--- main.go\n%s", block, src)
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text, model string
	}{
		{"urgent", "URGENT: prod is down", "anthropic/claude-sonnet-4-0"},
		{"not urgent", "What is a mutex?", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := abitest.Run(abi.StageRoute, abitest.Chat("auto", "user", tt.text), route)
			if !res.OK() || res.Route.Model != tt.model || (tt.model != "" && res.Route.Tier != abi.TierStrong) {
				t.Fatalf("got %s", res)
			}
		})
	}
}

const routerConfig = `{"tiers":{"local":{"model":"ollama/qwen2.5-coder"},"strong":{"model":"openai/gpt-4.1","tools":true}}}`

func newHost(t *testing.T) *wasm.Host {
	t.Helper()
	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet(), CompileTimeout: 5 * 60e9})
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
	b, err := os.ReadFile("urgent.wasm")
	if err != nil {
		t.Fatalf("%v (build it with policies/build.sh)", err)
	}
	return b
}

func input(text string) *wasm.Input {
	in := &wasm.Input{Model: []byte("auto")}
	in.AddMessage([]byte("user"), []byte(text), 0)
	return in
}

// TestReplacesBuiltinRouter uploads the documented example under the
// built-in router's name while requests flow, as ABI.md shows: accepted
// (the router's config is not checked: a warning), every call succeeds, and
// urgent requests go to its model.
func TestReplacesBuiltinRouter(t *testing.T) {
	h := newHost(t)
	swaptest.Run(t, swaptest.Spec{
		Host: h, Stage: abi.StageRoute, Policy: "router", Module: module(t),
		Input:  func() *wasm.Input { return input("urgent: prod is down") },
		Before: swaptest.Decided(swaptest.Route(t, h, input("urgent: prod is down"))),
		After: func(o *wasm.Output) bool {
			return string(o.Route.Model) == "anthropic/claude-sonnet-4-0" && o.Route.Tier == abi.TierStrong
		},
	})
	info, _ := h.Get("router")
	if info.Origin != "upload" || len(info.Warnings) != 1 || !strings.Contains(info.Warnings[0], "not checked") {
		t.Fatalf("after the upload: %+v", info)
	}
	var out wasm.Output
	if err := h.Run(context.Background(), abi.StageRoute, input("What is a mutex?"), &out); err != nil || out.Route.Set {
		t.Fatalf("a request it makes no decision for: %v %s", err, out.AppendText(nil))
	}
}

// TestBeforeBuiltinRouter uploads it under its own name before the built-in
// router: it decides urgent requests, the built-in router the rest.
func TestBeforeBuiltinRouter(t *testing.T) {
	h := newHost(t)
	// The built-in router's own decision for a request urgent leaves alone.
	mutex, _ := swaptest.Route(t, h, input("What is a mutex?"))
	pos, _ := wasm.ParsePosition("before:router")
	info, err := h.UploadAt("urgent", module(t), pos)
	if err != nil || len(info.Placement) != 1 || info.Placement[0] != "route: 1 of 2, decides first" {
		t.Fatalf("upload: %+v %v", info, err)
	}
	for text, want := range map[string]string{"urgent: prod is down": "anthropic/claude-sonnet-4-0", "What is a mutex?": mutex} {
		var out wasm.Output
		if err := h.Run(context.Background(), abi.StageRoute, input(text), &out); err != nil || string(out.Route.Model) != want {
			t.Fatalf("%q: %v %s", text, err, out.AppendText(nil))
		}
	}
}
