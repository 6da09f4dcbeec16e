// Command bench is the benchmark orchestrator behind `make bench`,
// `make bench-quick` and `make bench-micro`.
//
// Usage:
//
//	bench [-quick] [-d 10s] [-warmup 1s] [-pin auto|off|G:L] [-only id,id…]
//	      [-compare-name N -compare-url URL -compare-model M [-compare-header "K: V"]… [-compare-cmd CMD]]
//	bench -micro [-benchtime 1s]
//
// Run it from the repository root (or anywhere inside it).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aigateway/gateway/bench/load"
	"github.com/aigateway/gateway/bench/suite"
)

type headerList []load.Header

func (h *headerList) String() string { return fmt.Sprint(*h) }

func (h *headerList) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q: want \"Name: value\"", v)
	}
	*h = append(*h, load.Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	return nil
}

func main() { os.Exit(run()) }

func run() int {
	var cfg suite.Config
	var only, cmpName, cmpURL, cmpModel, cmpCmd, command string
	var cmpHeaders headerList
	micro := flag.Bool("micro", false, "run the Go micro-benchmarks and record them in bench/RESULTS.md")
	benchtime := flag.String("benchtime", "", "go test -benchtime for -micro")
	flag.BoolVar(&cfg.Quick, "quick", false, "short run (2 s per load): under two minutes")
	flag.DurationVar(&cfg.Duration, "d", 0, "measured duration per load (default 10s, 2s with -quick)")
	flag.DurationVar(&cfg.Warmup, "warmup", 0, "warm-up per load (default 1s, 500ms with -quick)")
	flag.StringVar(&cfg.Pin, "pin", "auto", "CPU pinning: auto, off, or GATEWAY_CPUS:LOAD_CPUS (taskset lists, e.g. 0:1)")
	flag.Func("set", "a top-level gateway.toml line added to the generated configuration, e.g. -set 'policy_quiet_release = \"instances\"' (repeatable)", func(v string) error {
		cfg.GatewaySettings = append(cfg.GatewaySettings, v)
		return nil
	})
	flag.StringVar(&only, "only", "", "comma-separated scenario IDs to run (a trailing * matches a prefix)")
	flag.StringVar(&cmpName, "compare-name", "other", "name of the gateway to compare with")
	flag.StringVar(&cmpURL, "compare-url", "", "OpenAI base URL of another gateway to run the same scenarios against, e.g. http://127.0.0.1:8787/v1")
	flag.StringVar(&cmpModel, "compare-model", "gpt-4o-mini", "model name to send to the compared gateway")
	flag.Var(&cmpHeaders, "compare-header", "header for the compared gateway, \"Name: value\"; {mock} is replaced by the mock's URL (repeatable)")
	flag.StringVar(&cmpCmd, "compare-cmd", "", "shell command that starts the compared gateway (pinned like ours; its CPU and RSS are then measured)")
	flag.BoolVar(&cfg.NoBuild, "no-build", false, "use the binaries already in bin/")
	defNice := 0
	if os.Geteuid() == 0 {
		defNice = -20
	}
	flag.IntVar(&cfg.Nice, "nice", defNice, "nice value for every benchmark process (default -20 as root, so that a shared machine disturbs the run less; 0 to leave priorities alone)")
	flag.IntVar(&cfg.Repeat, "repeat", 1, "run every load this many times and report the median attempt (all attempts are in the JSON)")
	flag.BoolVar(&cfg.Profile, "profile", false, "run the gateway with a pprof listener (bin/gatewayprof) and save a CPU profile of each gateway load under bench/results/profiles/")
	flag.StringVar(&command, "command", "", "command line to record with the results (default: this one)")
	flag.Parse()

	wd, _ := os.Getwd()
	root, err := suite.FindRoot(wd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: run inside the repository (no go.mod above", wd+")")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	results := filepath.Join(root, "bench", "RESULTS.md")
	if *micro {
		if err := suite.Micro(ctx, suite.MicroConfig{Root: root, Benchtime: *benchtime, ResultsFile: results}); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		return 0
	}
	cfg.Root = root
	cfg.OutDir = filepath.Join(root, "bench", "results")
	cfg.ReadmeSection = filepath.Join(root, "bench", "README_SECTION.md")
	cfg.ResultsFile = results
	cfg.Command = recordedCommand(command, os.Args[1:])
	if only != "" {
		cfg.Only = strings.Split(only, ",")
	}
	if cmpURL != "" {
		cfg.Compare = &suite.CompareTarget{Name: cmpName, URL: cmpURL, Model: cmpModel, Headers: cmpHeaders, Cmd: cmpCmd}
	}
	t0 := time.Now()
	rep, err := suite.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Println()
	fmt.Print(suite.MainTable(rep))
	fmt.Println()
	fmt.Print(suite.TargetsTable(rep))
	fmt.Printf("\nbench: done in %v\n", time.Since(t0).Round(time.Second))
	return 0
}

// recordedCommand is the command line written into the results: the make
// target (from -command) with the other flags as BENCH_FLAGS, or the go run
// line itself.
func recordedCommand(command string, args []string) string {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-command" || a == "--command":
			i++
			continue
		case strings.HasPrefix(a, "-command=") || strings.HasPrefix(a, "--command="):
			continue
		case a == "-quick" && strings.Contains(command, "bench-quick"):
			continue // the make target passes it
		}
		rest = append(rest, shellQuote(a))
	}
	flags := strings.Join(rest, " ")
	command = strings.TrimSpace(command)
	switch {
	case command == "":
		return strings.TrimSpace("go run ./bench/cmd/bench " + flags)
	case flags == "":
		return command
	}
	return command + " BENCH_FLAGS=" + shellQuote(flags)
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,@+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
