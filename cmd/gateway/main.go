// Command gateway is the AI gateway: one OpenAI-compatible endpoint in front
// of every LLM provider.
//
// Usage:
//
//	gateway [-config gateway.toml] [-listen 127.0.0.1:8080]
//	gateway policy check FILE.wasm
//	gateway policy run FILE.wasm -stage route < request.json
//	gateway router train -data labelled.jsonl -out weights.bin
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aigateway/gateway/engine"
	"github.com/aigateway/gateway/internal/memtrim"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "policy" {
		os.Exit(policyMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "router" {
		os.Exit(routerMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:]))
}

const usage = `usage:
  gateway [-config gateway.toml] [-listen ADDR]   serve
  gateway policy check|run FILE.wasm ...          test a policy module before uploading it
                                                  (gateway policy -h: its flags)
  gateway router train|eval|alpacaeval ...        train and score the router's model (docs/routing.md)
flags:
`

// flags defines the server's flags on a set that prints its usage to w.
func flags(w io.Writer) (fs *flag.FlagSet, configPath, listen, level *string) {
	fs = flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(w, usage)
		fs.PrintDefaults()
	}
	configPath = fs.String("config", "", "path to gateway.toml (empty: built-in defaults)")
	listen = fs.String("listen", "", "listen address, overrides the config and PORT")
	level = fs.String("log-level", "info", "operational log level: debug, info, warn or error")
	return fs, configPath, listen, level
}

func run(args []string) int {
	fs, configPath, listen, level := flags(os.Stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintln(os.Stderr, "gateway: -log-level:", err)
		return 2
	}
	// Access-log lines are batched: one write per 200 ms, not per request.
	logw := engine.NewLogWriter(os.Stderr, 200*time.Millisecond)
	defer logw.Close()
	logger := slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: lv}))
	// go-redis and the log package would write plain text into stderr.
	engine.RouteLibraryLogs(logger)
	cfg, err := engine.Load(*configPath, os.Getenv)
	if err == nil && *listen != "" {
		cfg.Listen = *listen
		err = cfg.Validate(os.Getenv)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway: config:", err)
		return 2
	}
	srv, err := engine.New(cfg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
	srv.SetConfigSource(*configPath, os.Getenv)
	srv.SetAccessLog(logw)
	trimCtx, stopTrim := context.WithCancel(context.Background())
	defer stopTrim()
	// A quiet trim also closes the policy instances idle since the last
	// interval (policy_quiet_release): their memory is outside the Go heap.
	iv := cfg.MemoryTrimInterval.D()
	go memtrim.Run(trimCtx, iv, func() { srv.ReleaseIdle(iv) })
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		if err != nil {
			fmt.Fprintln(os.Stderr, "gateway:", err)
			return 1
		}
		return 0
	case s := <-sig:
		logger.Info("shutting down", "signal", s.String(), "drain_timeout", cfg.DrainTimeout.D().String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout.D())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "gateway: shutdown:", err)
		return 1
	}
	logger.Info("stopped")
	return 0
}
