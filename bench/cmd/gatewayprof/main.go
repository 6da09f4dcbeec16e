// Command gatewayprof is bin/gateway with Go's pprof endpoints on a second,
// loopback-only listener, for profiling the gateway under the benchmark's
// load (`bench -profile`). It wires the engine exactly as cmd/gateway does.
//
// Usage:
//
//	gatewayprof -config gateway.toml [-pprof 127.0.0.1:6060] [-ledger off]
//
// -ledger off drops the usage rows instead of storing them (the ledger-off
// side of bench/ledgeronoff.sh); -pprof "" turns the pprof listener off.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/aigateway/gateway/engine"
	"github.com/aigateway/gateway/internal/memtrim"
)

func main() {
	configPath := flag.String("config", "", "path to gateway.toml")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "pprof listen address (loopback)")
	blockRate := flag.Int("block-rate", 0, "runtime.SetBlockProfileRate and SetMutexProfileFraction (0: off)")
	ledgerMode := flag.String("ledger", "on", "on: the usage ledger journals its rows and writes them to the store; off: no journal, rows dropped at the sink; sink: journaled, dropped at the sink")
	memRate := flag.Int("mem-rate", 0, "runtime.MemProfileRate: bytes per heap-profile sample (0: Go's default, 512 KiB; 1: every allocation, for per-object figures)")
	flag.Parse()
	if *memRate > 0 {
		runtime.MemProfileRate = *memRate
	}
	if *blockRate > 0 {
		runtime.SetBlockProfileRate(*blockRate)
		runtime.SetMutexProfileFraction(*blockRate)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := engine.Load(*configPath, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewayprof: config:", err)
		os.Exit(2)
	}
	switch *ledgerMode {
	case "on":
	case "off":
		// No durable ledger at all: rows are recorded and dropped at the
		// sink, and no journal is written.
		cfg.DiscardLedger()
		cfg.Store.Journal = false
	case "sink":
		// Only the store write is left out (rows are still journaled).
		cfg.DiscardLedger()
	default:
		fmt.Fprintln(os.Stderr, "gatewayprof: -ledger: want on, off or sink")
		os.Exit(2)
	}
	srv, err := engine.New(cfg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gatewayprof:", err)
		os.Exit(1)
	}
	go func() {
		if *pprofAddr == "" {
			return
		}
		ps := &http.Server{Addr: *pprofAddr, ReadHeaderTimeout: 5 * time.Second}
		fmt.Fprintln(os.Stderr, "gatewayprof: pprof on", *pprofAddr, ps.ListenAndServe())
	}()
	errc := make(chan error, 1)
	iv := cfg.MemoryTrimInterval.D()
	go memtrim.Run(context.Background(), iv, func() { srv.ReleaseIdle(iv) }) // as cmd/gateway does
	go func() { errc <- srv.ListenAndServe() }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "gatewayprof:", err)
		os.Exit(1)
	case <-sig:
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout.D())
	defer cancel()
	_ = srv.Shutdown(ctx)
}
