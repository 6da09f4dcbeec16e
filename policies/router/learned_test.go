package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/router/routemodel"
	"github.com/aigateway/gateway/wasm"
)

// learnedConf is the default classifier with the full tiers and extra
// top-level keys.
func learnedConf(extra string) string {
	if extra != "" {
		extra += ","
	}
	return `{"mode":"local_first",` + extra + fullTiers + `}`
}

type req struct {
	msgs    []msg
	tools   int
	headers map[string]string
}

func route(t *testing.T, config string, r req) *wasm.Output {
	t.Helper()
	if err := wasm.ConfigureNative([]byte(config), abi.ConfigureHandler(configure)); err != nil {
		t.Fatal(err)
	}
	in := &wasm.Input{Model: []byte("auto")}
	for _, m := range r.msgs {
		in.AddMessage([]byte(m.role), []byte(m.text), 0)
	}
	for i := 0; i < r.tools; i++ {
		in.AddTool([]byte("tool"))
	}
	for k, v := range r.headers {
		in.AddHeader([]byte(k), []byte(v))
	}
	out := new(wasm.Output)
	if st := wasm.RunNative("router", abi.StageRoute, []byte(config), in, out, onRoute); st != abi.StatusOK {
		t.Fatalf("router failed: %v %s", st, out.AppendText(nil))
	}
	return out
}

// constModel is a model whose every weight is zero: P(strong) is the
// logistic of bias for any request.
func constModel(bias float32) string {
	m := &routemodel.Model{Bits: routemodel.MinBits, Threshold: 0.5, Bias: bias, W: make([]float32, 1<<routemodel.MinBits)}
	return base64.StdEncoding.EncodeToString(m.Encode())
}

func TestLearnedThresholdAndHeader(t *testing.T) {
	q := req{msgs: []msg{{"user", "Write a haiku about autumn."}}}
	tests := []struct {
		name, extra string
		headers     map[string]string
		wantTier    string
	}{
		{name: "threshold 0.001 sends to strong", extra: `"threshold":0.001`, wantTier: "strong"},
		{name: "threshold 0.999 keeps local", extra: `"threshold":0.999`, wantTier: "local"},
		{name: "header lowers the threshold", extra: `"threshold":0.999`, headers: map[string]string{"X-Gateway-Route-Threshold": "0"}, wantTier: "strong"},
		{name: "header raises the threshold", extra: `"threshold":0.001`, headers: map[string]string{"X-Gateway-Route-Threshold": "1"}, wantTier: "local"},
		{name: "bad header ignored", extra: `"threshold":0.001`, headers: map[string]string{"X-Gateway-Route-Threshold": "high"}, wantTier: "strong"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q.headers = tt.headers
			out := route(t, learnedConf(tt.extra), q)
			if string(out.Route.Tier.String()) != tt.wantTier || !strings.Contains(string(out.Route.Reason), "learned p=") || out.Route.Ambiguous {
				t.Fatalf("got %s, want tier %s", out.AppendText(nil), tt.wantTier)
			}
		})
	}
}

func TestLearnedWeightsFromConfig(t *testing.T) {
	q := req{msgs: []msg{{"user", "Write a haiku about autumn."}}}
	for _, tt := range []struct {
		bias     float32
		wantTier string
	}{{6, "strong"}, {-6, "local"}} {
		out := route(t, learnedConf(`"weights":"`+constModel(tt.bias)+`"`), q)
		if string(out.Route.Tier.String()) != tt.wantTier {
			t.Fatalf("bias %v: got %s, want %s", tt.bias, out.AppendText(nil), tt.wantTier)
		}
	}
}

// The example: two tools, "what is" in the prompt. Whatever the
// model says, the local tier cannot serve tools, so the request goes to a
// tier whose model can.
func TestLearnedToolsGoToToolCapableTier(t *testing.T) {
	q := req{msgs: []msg{{"user", "What is the weather and the local time in Paris?"}}, tools: 2}
	for _, extra := range []string{`"threshold":0.999`, `"weights":"` + constModel(-6) + `"`, ""} {
		out := route(t, learnedConf(extra), q)
		tier := string(out.Route.Tier.String())
		if tier == "local" || !out.Route.Set {
			t.Fatalf("%s: a tool request went to %s: %s", extra, tier, out.AppendText(nil))
		}
	}
	// A tool-capable local tier may take it.
	capable := strings.Replace(fullTiers, `"context_window":32768,"tools":false`, `"context_window":32768,"tools":true`, 1)
	out := route(t, `{"threshold":0.999,`+capable+`}`, q)
	if string(out.Route.Tier.String()) != "local" {
		t.Fatalf("a tool-capable local tier was skipped: %s", out.AppendText(nil))
	}
}

func TestLearnedAmbiguousOnlyWithinMargin(t *testing.T) {
	q := req{msgs: []msg{{"user", "Write a haiku about autumn."}}}
	// P(strong) = 0.5 exactly with a zero model.
	w := `"weights":"` + constModel(0) + `"`
	for _, tt := range []struct {
		extra string
		want  bool
	}{
		{w + `,"threshold":0.52`, false},                         // no margin: never ambiguous
		{w + `,"threshold":0.52,"ambiguous_margin":0.05`, true},  // within
		{w + `,"threshold":0.60,"ambiguous_margin":0.05`, false}, // outside
	} {
		out := route(t, learnedConf(tt.extra), q)
		if out.Route.Ambiguous != tt.want {
			t.Fatalf("%s: ambiguous=%v, want %v: %s", tt.extra, out.Route.Ambiguous, tt.want, out.AppendText(nil))
		}
	}
}

// The embedded weights decode, and the module's default config uses them.
func TestEmbeddedWeights(t *testing.T) {
	if builtinErr != nil {
		t.Fatal(builtinErr)
	}
	if builtinModel.Threshold <= 0 || builtinModel.Threshold >= 1 || len(builtinModel.W) != 1<<builtinModel.Bits {
		t.Fatalf("embedded model: threshold %v, %d weights for %d bits", builtinModel.Threshold, len(builtinModel.W), builtinModel.Bits)
	}
}
