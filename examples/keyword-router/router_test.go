package main

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

const config = `{"mode":"local_first",
 "tiers":{"local":{"model":"ollama/qwen2.5-coder"},"fast":{"model":"groq/llama-3.3-70b-versatile","tools":true}},
 "rules":[{"keywords":["postgres","sql"],"tier":"fast"},{"keywords":["threat model"],"model":"openai/o3"}]}`

func TestRules(t *testing.T) {
	if err := wasm.ConfigureNative([]byte(config), abi.ConfigureHandler(configure)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text, model string
		tier        abi.Tier
		reason      string
	}{
		{"How do I tune this Postgres query?", "groq/llama-3.3-70b-versatile", abi.TierFast, "keyword rule: postgres"},
		{"Write the THREAT MODEL for the login flow", "openai/o3", abi.TierNone, "keyword rule: threat model"},
		{"What is a mutex?", "", abi.TierNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			in := &wasm.Input{Model: []byte("auto")}
			in.AddMessage([]byte("user"), []byte(tt.text), 0)
			var out wasm.Output
			if st := wasm.RunNative("kw", abi.StageRoute, []byte(config), in, &out, route); st != abi.StatusOK {
				t.Fatal(st)
			}
			if string(out.Route.Model) != tt.model || string(out.Route.Reason) != tt.reason || out.Route.Tier != tt.tier {
				t.Fatalf("got %s", out.AppendText(nil))
			}
		})
	}
	for cfg, want := range map[string]string{
		`{"rules":[{"keywords":[]}]}`:                  "keywords",
		`{"rules":[{"keywords":["a"],"tier":"fast"}]}`: "no model",
		`{"rules":{}}`: "array",
		`{"rules":[{"keywords":["a"],"tier":"huge","model":"m"}]}`: "unknown tier",
	} {
		if msg := configure([]byte(cfg)); !strings.Contains(msg, want) {
			t.Errorf("configure(%s) = %q, want %q", cfg, msg, want)
		}
	}
}

// TestUploadUnderLoad replaces the built-in router with this module while
// requests keep flowing: zero failed calls, and the routing changes.
func TestUploadUnderLoad(t *testing.T) {
	module, err := os.ReadFile("keyword-router.wasm")
	if err != nil {
		t.Fatalf("%v (build it with policies/build.sh)", err)
	}
	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if err := h.Configure([]wasm.PolicyConfig{{Name: "router", Module: "builtin:router", Config: config, Timeout: 5e9}}); err != nil {
		t.Fatal(err)
	}
	input := func() *wasm.Input {
		in := &wasm.Input{Model: []byte("auto")}
		in.AddMessage([]byte("user"), []byte("How do I tune this postgres query?"), 0)
		return in
	}
	swaptest.Run(t, swaptest.Spec{
		Host: h, Stage: abi.StageRoute, Policy: "router", Module: module,
		Input:  input,
		Before: swaptest.Decided(swaptest.Route(t, h, input())),
		After: func(o *wasm.Output) bool {
			return string(o.Route.Model) == "groq/llama-3.3-70b-versatile" && string(o.Route.Reason) == "keyword rule: postgres"
		},
	})
}
