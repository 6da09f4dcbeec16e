// Command mockupstream is the benchmark's upstream: it answers in the
// OpenAI, Anthropic, Gemini and Ollama wire formats from prebuilt bytes.
//
// Usage:
//
//	mockupstream [-listen 127.0.0.1:18081] [-latency 0s] [-ttft 0s]
//	             [-interval 0s] [-chunks 20] [-reply-bytes 600] [-coalesce]
//
// It prints "listening on ADDR" once it accepts connections and exits on
// SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/aigateway/gateway/bench/mockup"
)

func main() {
	var cfg mockup.Config
	listen := flag.String("listen", "127.0.0.1:18081", "listen address (port 0 picks a free port)")
	flag.DurationVar(&cfg.Latency, "latency", 0, "delay before the response headers")
	flag.DurationVar(&cfg.TTFT, "ttft", 0, "delay before a stream's first event")
	flag.DurationVar(&cfg.Interval, "interval", 0, "delay between stream events")
	flag.IntVar(&cfg.Chunks, "chunks", 20, "content deltas per stream")
	flag.IntVar(&cfg.ReplyBytes, "reply-bytes", 600, "size of the answer's text in bytes")
	flag.BoolVar(&cfg.Coalesce, "coalesce", false, "send a stream as one write when it has no pauses (default: one flushed HTTP chunk per event)")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mockupstream:", err)
		os.Exit(1)
	}
	s := mockup.New(cfg)
	srv := s.Server()
	fmt.Printf("listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "mockupstream:", err)
		os.Exit(1)
	case <-sig:
		_ = srv.Shutdown()
	}
}
