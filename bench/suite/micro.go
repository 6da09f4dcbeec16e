package suite

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// MicroPatterns are the packages whose Go benchmarks `make bench-micro` runs.
var MicroPatterns = []string{"./providers/...", "./engine/...", "./wasm/...", "./bench/..."}

// MicroConfig configures a micro-benchmark run.
type MicroConfig struct {
	Root      string
	Patterns  []string
	Benchtime string // go test -benchtime; "" for the default 1s
	// ResultsFile gets a dated entry in its Micro-benchmarks section.
	ResultsFile string
	Log         io.Writer
}

// Bench is one benchmark line.
type Bench struct {
	Pkg, Name           string
	NsOp, MBs, BOp, Aop string
}

// Micro runs the micro-benchmarks and records them in RESULTS.md.
func Micro(ctx context.Context, cfg MicroConfig) error {
	if len(cfg.Patterns) == 0 {
		cfg.Patterns = MicroPatterns
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem"}
	if cfg.Benchtime != "" {
		args = append(args, "-benchtime", cfg.Benchtime)
	}
	args = append(args, cfg.Patterns...)
	cmdline := "go " + strings.Join(quoteArgs(args), " ")
	fmt.Fprintln(cfg.Log, "bench-micro:", cmdline)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = cfg.Root
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, cfg.Log)
	cmd.Stderr = io.MultiWriter(&out, cfg.Log)
	t0 := nowUTC()
	runErr := cmd.Run()
	benches, failures := ParseBench(out.String())
	if runErr != nil && len(failures) == 0 {
		failures = append(failures, "go test: "+runErr.Error())
	}
	m := machine()
	var b strings.Builder
	fmt.Fprintf(&b, "### %s · commit `%s`\n\n", t0.Format("2006-01-02 15:04 UTC"), gitCommit(cfg.Root))
	fmt.Fprintf(&b, "`%s` on %s, %d cores, %s (load average %.2f), %s.\n\n", cmdline, m.CPUModel, m.Cores, m.GoVersion, m.LoadStart[0], time.Since(t0.Add(0)).Round(time.Second))
	if len(benches) > 0 {
		b.WriteString("| package | benchmark | ns/op | MB/s | B/op | allocs/op |\n|---|---|---:|---:|---:|---:|\n")
		for _, x := range benches {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", x.Pkg, x.Name, x.NsOp, orDash(x.MBs), x.BOp, x.Aop)
		}
	} else {
		b.WriteString("No benchmark ran.\n")
	}
	if len(failures) > 0 {
		b.WriteString("\nFailures (their benchmarks are missing above):\n\n")
		for _, f := range failures {
			b.WriteString("- " + f + "\n")
		}
	}
	if cfg.ResultsFile != "" {
		old, err := os.ReadFile(cfg.ResultsFile)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		text := string(old)
		if strings.TrimSpace(text) == "" {
			text = resultsSkeleton
		}
		text = appendToSection(text, microHeading, "\n"+strings.TrimRight(b.String(), "\n"))
		if err := os.WriteFile(cfg.ResultsFile, []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(cfg.Log, "bench-micro: %d benchmarks recorded in %s\n", len(benches), cfg.ResultsFile)
	}
	if runErr != nil {
		return fmt.Errorf("go test reported failures (recorded): %v", runErr)
	}
	return nil
}

// ParseBench reads `go test -bench -benchmem` output: benchmark lines under
// their "pkg:" line, and failed packages.
func ParseBench(out string) ([]Bench, []string) {
	var benches []Bench
	var fails []string
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(strings.TrimPrefix(line, "pkg: "), "github.com/aigateway/gateway/")
		case strings.HasPrefix(line, "Benchmark"):
			f := strings.Fields(line)
			if len(f) < 4 || f[3] != "ns/op" {
				continue
			}
			x := Bench{Pkg: pkg, Name: f[0], NsOp: f[2]}
			for i := 3; i+1 < len(f); i++ {
				switch f[i+1] {
				case "MB/s":
					x.MBs = f[i]
				case "B/op":
					x.BOp = f[i]
				case "allocs/op":
					x.Aop = f[i]
				}
			}
			benches = append(benches, x)
		case strings.HasPrefix(line, "FAIL\t") || strings.HasPrefix(line, "--- FAIL"):
			fails = append(fails, strings.TrimSpace(strings.ReplaceAll(line, "\t", " ")))
		}
	}
	return benches, fails
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$* ") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}
