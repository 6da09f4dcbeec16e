package wasm

import (
	"context"
	"crypto/sha256"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies"
)

// Benchmarks of the policy host. Run them with
//
//	go test ./wasm -run '^$' -bench . -benchmem
//
// and see bench/RESULTS.md, section "Wasm policies", for figures.

const benchRouterConfig = `{"mode":"local_first","tiers":{
 "local":{"model":"ollama/qwen2.5-coder","context_window":32768},
 "fast":{"model":"groq/llama-3.3-70b-versatile","context_window":131072,"tools":true,"json":true},
 "strong":{"model":"anthropic/claude-sonnet-4-0","context_window":200000,"tools":true,"vision":true,"json":true},
 "reasoning":{"model":"openai/o3","context_window":200000,"tools":true,"vision":true,"json":true}}}`

// trust marks a test module as trusted, as the embedded built-ins are: no
// termination checks, so the figure is the host's own overhead.
func trust(h *Host, module []byte) { h.trusted[sha256.Sum256(module)] = true }

// reportP50 reports the median of per-iteration durations.
func reportP50(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
}

func BenchmarkNoopCall(b *testing.B) {
	for _, mode := range []string{"trusted", "sandboxed"} {
		b.Run(mode, func(b *testing.B) {
			h := newHost(b, Options{PoolSize: 1})
			if mode == "trusted" {
				trust(h, readTestdata(b, "noop.wasm"))
			}
			if err := h.Configure([]PolicyConfig{{Name: "noop", Module: testdata("noop.wasm"), Stages: []string{"route"}}}); err != nil {
				b.Fatal(err)
			}
			in, out, ctx := chatInput("user", "hi"), new(Output), context.Background()
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				if err := h.Run(ctx, abi.StageRoute, in, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// ideSystemPrompt is a coding agent's system prompt of about 16 KiB that
// names the agent in its first line.
func ideSystemPrompt() string {
	var b strings.Builder
	b.WriteString("You are a powerful agentic AI coding assistant. You operate exclusively in Cursor, the world's best IDE.\n")
	for b.Len() < 16<<10 {
		b.WriteString("When making code changes, never output code to the USER unless requested. Instead use one of the code edit tools to implement the change.\n")
	}
	return b.String()
}

// BenchmarkRouter is the built-in router (learned classifier, the
// default) through the host: "hello" is the bench harness's `auto` row
// request (bench/payload: a one-line system prompt and "Say hello in one
// sentence."), "ide16KiB" a coding agent's request (ideSystemPrompt and a
// one-line question), the others a coding question with pasted Go code of
// about that size. See bench/RESULTS.md, "Router inference through Wasm".
func BenchmarkRouter(b *testing.B) {
	for _, size := range []int{0, -1, 1 << 10, 16 << 10, 256 << 10} {
		name := strconv.Itoa(size>>10) + "KiB"
		switch size {
		case 0:
			name = "hello"
		case -1:
			name = "ide16KiB"
		}
		b.Run(name, func(b *testing.B) {
			h := newHost(b, Options{PoolSize: 1})
			if err := h.Configure([]PolicyConfig{{Name: "router", Module: "builtin:router", Config: benchRouterConfig}}); err != nil {
				b.Fatal(err)
			}
			req := codingRequest(max(size, 0))
			in := req.input()
			switch size {
			case 0:
				in = chatInput("system", "You are a helpful assistant.", "user", "Say hello in one sentence.")
				req.body = in.Body
			case -1:
				in = chatInput("system", ideSystemPrompt(), "user", "Why does the login handler return 500 when the session cookie is missing?")
				req.body = in.Body
			}
			out, ctx := new(Output), context.Background()
			times := make([]time.Duration, 0, 1<<16)
			b.SetBytes(int64(len(req.body)))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				start := time.Now()
				if err := h.Run(ctx, abi.StageRoute, in, out); err != nil || !out.Route.Set {
					b.Fatalf("%v %s", err, out.AppendText(nil))
				}
				if len(times) < cap(times) {
					times = append(times, time.Since(start))
				}
			}
			reportP50(b, times)
		})
	}
}

// BenchmarkChain64KiB runs the whole built-in chain on a 64 KiB request:
// request stage (stripper, skills, diff-first) then route stage (router), on
// an Input built once, as the engine builds it once per request. The same
// chain with the engine's input path (decode and policyinput.Fill) on every
// request is engine/policyinput's BenchmarkChain64KiB.
func BenchmarkChain64KiB(b *testing.B) {
	h := newHost(b, Options{PoolSize: 1})
	err := h.Configure([]PolicyConfig{
		{Name: "stripper", Module: "builtin:stripper"},
		{Name: "skills", Module: "builtin:skills"},
		{Name: "diff-first", Module: "builtin:diff-first"},
		{Name: "router", Module: "builtin:router", Config: benchRouterConfig},
	})
	if err != nil {
		b.Fatal(err)
	}
	req := codingRequest(64 << 10)
	in := req.input()
	in.AddHeader([]byte("X-Gateway-Skill"), []byte("code-review"))
	out, ctx := new(Output), context.Background()
	times := make([]time.Duration, 0, 1<<16)
	b.SetBytes(int64(len(req.body)))
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		out.Reset()
		if err := h.Run(ctx, abi.StageRequest, in, out); err != nil {
			b.Fatal(err)
		}
		if err := h.Run(ctx, abi.StageRoute, in, out); err != nil || !out.Route.Set || !out.Modified() {
			b.Fatalf("%v %s", err, out.AppendText(nil))
		}
		if len(times) < cap(times) {
			times = append(times, time.Since(start))
		}
	}
	reportP50(b, times)
}

// BenchmarkInstantiate measures making a module ready to serve: cold (compile
// with an empty cache), from the on-disk compilation cache (a restart), and
// one more instance of an already compiled module (pool growth).
func BenchmarkInstantiate(b *testing.B) {
	module, _ := policies.Module("router")
	cfg := []PolicyConfig{{Name: "router", Module: "builtin:router", Config: benchRouterConfig}}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			h := newHost(b, Options{CacheDir: b.TempDir()})
			if err := h.Configure(cfg); err != nil {
				b.Fatal(err)
			}
			h.Close(context.Background())
		}
	})
	b.Run("cached", func(b *testing.B) {
		dir := b.TempDir()
		warm := newHost(b, Options{CacheDir: dir})
		if err := warm.Configure(cfg); err != nil {
			b.Fatal(err)
		}
		warm.Close(context.Background())
		for b.Loop() {
			h := newHost(b, Options{CacheDir: dir})
			if err := h.Configure(cfg); err != nil {
				b.Fatal(err)
			}
			h.Close(context.Background())
		}
	})
	b.Run("instance", func(b *testing.B) {
		h := newHost(b, Options{})
		if err := h.Configure(cfg); err != nil {
			b.Fatal(err)
		}
		v := h.reg.Load().byName["router"].cur.Load()
		b.ReportMetric(float64(len(module)), "module-bytes")
		for b.Loop() {
			inst, err := v.newInstance()
			if err != nil {
				b.Fatal(err)
			}
			inst.close()
		}
	})
}

// BenchmarkInstanceMemory reports the linear memory of one warm instance of
// each built-in (the Go runtime's heap and stacks live in it).
func BenchmarkInstanceMemory(b *testing.B) {
	for _, name := range policies.Names() {
		b.Run(name, func(b *testing.B) {
			h := newHost(b, Options{PoolSize: 1})
			cfg := ""
			if name == "router" {
				cfg = benchRouterConfig
			}
			if err := h.Configure([]PolicyConfig{{Name: name, Module: "builtin:" + name, Config: cfg}}); err != nil {
				b.Fatal(err)
			}
			in := codingRequest(16 << 10).input()
			out, ctx := new(Output), context.Background()
			stage := abi.StageRequest
			if name == "router" {
				stage = abi.StageRoute
			}
			for b.Loop() {
				out.Reset()
				if err := h.Run(ctx, stage, in, out); err != nil {
					b.Fatal(err)
				}
			}
			info, _ := h.Get(name)
			b.ReportMetric(float64(info.MemoryBytes), "bytes/instance")
		})
	}
}
