package policyinput

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
)

// Benchmarks of the input path of a policy call. Run them with
//
//	go test ./engine/policyinput -run '^$' -bench . -benchmem
//
// and see bench/RESULTS.md, section "Wasm policies"; the policy calls alone
// are ./wasm's BenchmarkRouter and BenchmarkChain64KiB.

// codingRequest is a system prompt and a user question with pasted Go code
// in a fence, about size bytes (the wasm benchmarks' request, as JSON).
func codingRequest(size int) []byte {
	code := "func handler(w http.ResponseWriter, r *http.Request) {\n\tid := r.URL.Query().Get(\"id\")\n\tif id == \"\" {\n\t\thttp.Error(w, \"missing id\", 400)\n\t\treturn\n\t}\n}\n"
	var b strings.Builder
	for b.Len() < size-300 {
		b.WriteString(code)
	}
	q := "Why does this handler return 400 for valid ids? Fix it in server.go.\n```go\n" + b.String() + "```"
	body := `{"model":"auto","messages":[{"role":"system","content":"You are a senior Go reviewer."},{"role":"user","content":` +
		string(abi.AppendJSONString(nil, []byte(q))) + `}]}`
	return []byte(body)
}

// BenchmarkDecodeFill is what the engine pays to give policies a request:
// the server's decode of the body, then Fill.
func BenchmarkDecodeFill(b *testing.B) {
	h := header(b, "X-Gateway-Skill: code-review")
	for _, size := range []int{1 << 10, 16 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			body := codingRequest(size)
			var r providers.Request
			var in wasm.Input
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset()
				if err := r.Decode(body); err != nil {
					b.Fatal(err)
				}
				Fill(&in, &r, "acme", h)
			}
		})
	}
}

// BenchmarkChain64KiB runs the built-in chain on a 64 KiB request, input
// path included: decode, Fill, the request stage (stripper, skills,
// diff-first), then the route stage (router).
func BenchmarkChain64KiB(b *testing.B) {
	ctx := context.Background()
	host, err := wasm.New(ctx, wasm.Options{PoolSize: 1, CacheDir: b.TempDir(), Metrics: metrics.NewSet()})
	if err != nil {
		b.Fatal(err)
	}
	defer host.Close(ctx)
	err = host.Configure([]wasm.PolicyConfig{
		{Name: "stripper", Module: "builtin:stripper"},
		{Name: "skills", Module: "builtin:skills"},
		{Name: "diff-first", Module: "builtin:diff-first"},
		{Name: "router", Module: "builtin:router", Config: `{"mode":"local_first","tiers":{
 "local":{"model":"ollama/qwen2.5-coder","context_window":32768},
 "strong":{"model":"anthropic/claude-sonnet-4-0","context_window":200000,"tools":true,"vision":true,"json":true}}}`},
	})
	if err != nil {
		b.Fatal(err)
	}
	body := codingRequest(64 << 10)
	h := header(b, "X-Gateway-Skill: code-review")
	var r providers.Request
	var in wasm.Input
	var out wasm.Output
	times := make([]time.Duration, 0, 1<<16)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		r.Reset()
		if err := r.Decode(body); err != nil {
			b.Fatal(err)
		}
		Fill(&in, &r, "acme", h)
		out.Reset()
		if err := host.Run(ctx, abi.StageRequest, &in, &out); err != nil {
			b.Fatal(err)
		}
		if err := host.Run(ctx, abi.StageRoute, &in, &out); err != nil || !out.Route.Set || !out.Modified() {
			b.Fatalf("%v %s", err, out.AppendText(nil))
		}
		if len(times) < cap(times) {
			times = append(times, time.Since(start))
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds()), "p50-ns")
}
