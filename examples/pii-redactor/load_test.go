package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/examples/internal/swaptest"
	"github.com/aigateway/gateway/wasm"
)

// TestUploadUnderLoad adds the redactor as a new policy while requests keep
// flowing through the built-in stripper: zero failed calls, and e-mail
// addresses stop leaving the gateway.
func TestUploadUnderLoad(t *testing.T) {
	module, err := os.ReadFile("pii-redactor.wasm")
	if err != nil {
		t.Fatalf("%v (build it with policies/build.sh)", err)
	}
	ctx := context.Background()
	h, err := wasm.New(ctx, wasm.Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if err := h.Configure([]wasm.PolicyConfig{{Name: "stripper", Module: "builtin:stripper", Timeout: 5e9}}); err != nil {
		t.Fatal(err)
	}
	const text = "<|im_start|>user\nPlease email the invoice to jane.doe@example.com<|im_end|>"
	userText := func(o *wasm.Output) []byte {
		for _, m := range o.Messages() {
			if m.Orig == 0 {
				return m.Text
			}
		}
		return nil
	}
	swaptest.Run(t, swaptest.Spec{
		Host: h, Stage: abi.StageRequest, Policy: "pii", Module: module,
		Input: func() *wasm.Input {
			in := &wasm.Input{Model: []byte("auto")}
			in.AddMessage([]byte("user"), []byte(text), 0)
			return in
		},
		Before: func(o *wasm.Output) bool {
			return bytes.Equal(userText(o), []byte("Please email the invoice to jane.doe@example.com"))
		},
		After: func(o *wasm.Output) bool {
			return bytes.Equal(userText(o), []byte("Please email the invoice to [EMAIL]")) && string(o.TagValue("pii.redacted")) == "1"
		},
	})
}
