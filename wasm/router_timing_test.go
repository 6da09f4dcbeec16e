//go:build unix

package wasm

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aigateway/gateway/abi"
)

// processCPU is the process's user plus system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkRouterCPU is BenchmarkRouter's requests (and a 16 KiB system
// prompt that names no coding agent, "sys16KiB") with the process's CPU
// time per call next to the p50 of wall time: on a shared machine the CPU
// time is the steadier figure (a call preempted by a neighbour costs wall
// time, not CPU time). See bench/RESULTS.md, "Router inference, bounded",
// 2026-12-07 session 9.
func BenchmarkRouterCPU(b *testing.B) {
	plainSystem := strings.Repeat("Answer in the user's language. Keep answers short and cite the documentation you rely on.\n", 180)
	for _, tc := range []struct {
		name string
		size int
		in   func() *Input
	}{
		{name: "hello", in: func() *Input {
			return chatInput("system", "You are a helpful assistant.", "user", "Say hello in one sentence.")
		}},
		{name: "ide16KiB", in: func() *Input {
			return chatInput("system", ideSystemPrompt(), "user", "Why does the login handler return 500 when the session cookie is missing?")
		}},
		{name: "sys16KiB", in: func() *Input {
			return chatInput("system", plainSystem, "user", "Why does the login handler return 500 when the session cookie is missing?")
		}},
		{name: "1KiB", size: 1 << 10},
		{name: "16KiB", size: 16 << 10},
		{name: "256KiB", size: 256 << 10},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHost(b, Options{PoolSize: 1})
			if err := h.Configure([]PolicyConfig{{Name: "router", Module: "builtin:router", Config: benchRouterConfig}}); err != nil {
				b.Fatal(err)
			}
			var in *Input
			if tc.in != nil {
				in = tc.in()
			} else {
				in = codingRequest(tc.size).input()
			}
			out, ctx := new(Output), context.Background()
			times := make([]time.Duration, 0, 1<<16)
			b.ReportAllocs()
			cpu0 := processCPU()
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
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
			reportP50(b, times)
		})
	}
}
