// Command loadgen drives one HTTP target, closed-loop or open-loop, and
// prints latency percentiles (and, for streams, time to first byte and
// inter-chunk gaps). A run that saw any error or non-2xx answer is reported
// invalid and exits with status 3.
//
// Usage:
//
//	loadgen -url http://127.0.0.1:8080/v1/chat/completions -model gpt-4o-mini [-stream]
//	        [-c 64 | -rate 5000 -c 512] [-d 10s] [-warmup 1s] [-n 0] [-timeout 10s]
//	        [-body JSON | -body-file F | -prompt-bytes N] [-H "Name: value"]...
//	        [-expect TEXT] [-expect-header "Name: prefix"] [-json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aigateway/gateway/bench/hist"
	"github.com/aigateway/gateway/bench/load"
	"github.com/aigateway/gateway/bench/payload"
)

type headers []load.Header

func (h *headers) String() string { return fmt.Sprint(*h) }

func (h *headers) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want \"Name: value\"", v)
	}
	*h = append(*h, load.Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	return nil
}

func main() { os.Exit(run()) }

func run() int {
	var o load.Options
	var hs headers
	flag.StringVar(&o.URL, "url", "http://127.0.0.1:8080/v1/chat/completions", "target URL")
	flag.StringVar(&o.Method, "method", "", "HTTP method (default POST with a body, GET without)")
	body := flag.String("body", "", "request body (default: an OpenAI chat request for -model)")
	bodyFile := flag.String("body-file", "", "read the request body from this file")
	model := flag.String("model", "gpt-4o-mini", "model of the default chat request body")
	promptBytes := flag.Int("prompt-bytes", 0, "make the default body a coding prompt of about this many bytes")
	noBody := flag.Bool("no-body", false, "send no body (GET)")
	flag.Var(&hs, "H", "request header \"Name: value\" (repeatable)")
	flag.BoolVar(&o.Stream, "stream", false, "ask for and read a streamed answer")
	flag.IntVar(&o.Connections, "c", 64, "connections (closed loop) or most requests in flight (open loop)")
	flag.Float64Var(&o.Rate, "rate", 0, "open loop at this many requests per second (0: closed loop)")
	flag.DurationVar(&o.Duration, "d", 10*time.Second, "measured duration")
	flag.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured warm-up before the measured duration")
	flag.Int64Var(&o.MaxRequests, "n", 0, "stop the measured part after this many requests (0: no limit)")
	flag.DurationVar(&o.Timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.StringVar(&o.Expect, "expect", "", "text every answer must contain (streams: in their last 512 bytes; default [DONE] with -stream)")
	flag.StringVar(&o.ExpectHeader, "expect-header", "", "header every answer must carry, \"Name: prefix\"")
	flag.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a target that is not on loopback")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	speed := flag.Int("speed", 0, "instead of a load, run the CPU speed probe this many times and print the least thread CPU time of its unit of work, in ns (run it pinned: taskset -c N loadgen -speed 100)")
	flag.Parse()
	if *speed > 0 {
		fmt.Println(load.Speed(*speed).Nanoseconds())
		return 0
	}

	o.Headers = hs
	switch {
	case *noBody:
	case *bodyFile != "":
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 2
		}
		o.Body = b
	case *body != "":
		o.Body = []byte(*body)
	default:
		o.Body = payload.Chat(*model, o.Stream, *promptBytes)
	}
	if o.Stream && o.Expect == "" {
		o.Expect = "[DONE]"
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := load.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		printText(res)
	}
	if !res.Valid {
		return 3
	}
	return 0
}

func printText(r *load.Result) {
	mode := fmt.Sprintf("closed loop, %d connections", r.Connections)
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop at %.0f req/s, up to %d in flight", r.Rate, r.Connections)
	}
	fmt.Printf("%s, %.1fs: %.0f req/s, %d good answers, %.0f bytes each\n", mode, r.Seconds, r.RPS, r.Requests, r.BytesPerReply)
	if !r.Valid {
		fmt.Printf("INVALID RUN: %s\n", r.Invalid)
		for _, s := range r.ErrorSamples {
			fmt.Printf("  error: %s\n", s)
		}
	}
	line := func(name string, s *hist.Summary) {
		if s == nil || s.Count == 0 {
			return
		}
		fmt.Printf("  %-10s p50 %9.1f µs  p90 %9.1f  p99 %9.1f  p99.9 %9.1f  max %9.1f  (n=%d)\n", name, s.P50, s.P90, s.P99, s.P999, s.Max, s.Count)
	}
	line("latency", &r.Latency)
	line("ttfb", r.TTFB)
	line("gap", r.Gap)
	line("start lag", r.StartLag)
	if r.Stream {
		fmt.Printf("  %.1f events per stream\n", r.EventsPerReply)
	}
}
