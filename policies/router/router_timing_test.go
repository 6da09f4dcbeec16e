package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/router/routemodel"
	"github.com/aigateway/gateway/wasm"
)

// codingRequest is a request of about size bytes: a short system prompt and
// a user message with a question and pasted Go code (the same shape as the
// host's benchmarks).
func codingRequest(size int) *wasm.Input {
	code := "func handler(w http.ResponseWriter, r *http.Request) {\n\tid := r.URL.Query().Get(\"id\")\n\tif id == \"\" {\n\t\thttp.Error(w, \"missing id\", 400)\n\t\treturn\n\t}\n}\n"
	var b strings.Builder
	b.WriteString("Why does this handler return 400 for valid ids? Fix it in server.go.\n```go\n")
	for b.Len() < size-300 {
		b.WriteString(code)
	}
	b.WriteString("```")
	in := &wasm.Input{Model: []byte("auto")}
	in.AddMessage([]byte("system"), []byte("You are a senior Go reviewer."), 0)
	in.AddMessage([]byte("user"), []byte(b.String()), 0)
	return in
}

// BenchmarkRouterNative runs the router's Go code in-process, for comparison
// with the Wasm figures of wasm.BenchmarkRouter: "learned" is the default
// classifier (what the Wasm benchmark runs), "rules" the seed's heuristics,
// which read every message whole.
func BenchmarkRouterNative(b *testing.B) {
	for _, classifier := range []string{"learned", "rules"} {
		cfg := []byte(learnedConf(""))
		if classifier == "rules" {
			cfg = []byte(conf("local_first"))
		}
		for _, size := range []int{1 << 10, 16 << 10, 256 << 10} {
			b.Run(classifier+"/"+strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
				if err := wasm.ConfigureNative(cfg, abi.ConfigureHandler(configure)); err != nil {
					b.Fatal(err)
				}
				in := codingRequest(size)
				var out wasm.Output
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					out.Reset()
					wasm.RunNative("router", abi.StageRoute, cfg, in, &out, onRoute)
				}
			})
		}
	}
}

// BenchmarkLearned is the learned phase 1 alone: features and score of a
// coding request with the embedded weights.
func BenchmarkLearned(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10, 256 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			in := codingRequest(size)
			mi := routemodel.Input{Intent: in.Messages[1].Text, System: in.Messages[0].Text, Messages: 2, UserTurns: 1, TotalChars: size}
			var s routemodel.Scratch
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				builtinModel.Predict(&mi, &s)
			}
		})
	}
}
