// Package suite is the benchmark orchestrator behind `make bench`: it builds
// and starts the mock upstream and the gateway (pinned to their own CPUs when
// it can), runs every scenario with the load generator against the mock
// directly and through the gateway in the same run, measures the gateway's
// CPU time, peak RSS and allocations per request, and writes the results as
// markdown and JSON.
//
// Scenarios whose feature the gateway does not have yet (its probe answers
// non-2xx, or a cache never reports a hit) are reported as skipped with the
// reason; nothing is ever estimated or carried over from another run.
package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aigateway/gateway/bench/load"
	"github.com/aigateway/gateway/bench/payload"
)

type header = load.Header

// Config configures one orchestrated run.
type Config struct {
	// Root is the repository root (where go.mod is).
	Root string
	// Quick is the short development run (`make bench-quick`).
	Quick bool
	// Duration and Warmup of each load (0: 2s/0.5s quick, 10s/1s full).
	Duration, Warmup time.Duration
	// Pin is "auto" (gateway on CPU 0, mock and load generator on the rest,
	// when taskset exists and there are at least 2 CPUs), "off", or
	// "GATEWAY_CPUS:LOAD_CPUS" in taskset's list syntax ("0:1", "0-1:2-3").
	Pin string
	// Only restricts the run to these scenario IDs (and their baselines).
	Only []string
	// Compare, when set, runs the OpenAI-format scenarios against another
	// gateway too.
	Compare *CompareTarget
	// OutDir receives the per-run markdown and JSON (bench/results).
	OutDir string
	// ReadmeSection, when set, is regenerated from this run.
	ReadmeSection string
	// ResultsFile, when set, gets this run's summary in its "latest run"
	// section (other sections are kept).
	ResultsFile string
	// Command is the command line recorded with the results.
	Command string
	// NoBuild uses the binaries already in bin/.
	NoBuild bool
	// Nice runs every process of the benchmark (gateway, mock, Redis, load
	// generator, compared gateway) at this nice value, so that other work on
	// a shared machine disturbs it less; 0 leaves priorities alone. Negative
	// values need root (or CAP_SYS_NICE).
	Nice int
	// Repeat runs every row this many times (default 1) as paired rounds:
	// each round runs the row's direct load, then the gateway's (and the
	// floor's) back to back. Tables show each target's median attempt; a
	// row's ratio and added latencies are the medians of its rounds' own.
	Repeat int
	// Profile runs bin/gatewayprof (the gateway with a pprof listener) and
	// saves a CPU profile of the gateway during each of its loads.
	Profile bool
	// GatewaySettings are top-level gateway.toml lines added to the
	// generated configuration (e.g. `policy_quiet_release = "instances"`),
	// for a run that measures a setting against the default.
	GatewaySettings []string
	// Log receives progress lines.
	Log io.Writer
}

// CompareTarget is another OpenAI-compatible gateway.
type CompareTarget struct {
	// Name labels its columns ("portkey").
	Name string
	// URL is its OpenAI base URL, e.g. http://127.0.0.1:8787/v1.
	URL string
	// Model is the model name it expects.
	Model string
	// Headers are sent with every request; "{mock}" in a value is replaced
	// by the mock upstream's base URL (http://127.0.0.1:PORT).
	Headers []header
	// Cmd, when set, starts it (pinned like the gateway); its process tree's
	// CPU time and peak RSS are then measured too.
	Cmd string
}

// Report is one run's outcome, serialized as the run's JSON file.
type Report struct {
	Date     time.Time `json:"date"`
	Mode     string    `json:"mode"` // quick or full
	Command  string    `json:"command"`
	Commit   string    `json:"commit"`
	Machine  Machine   `json:"machine"`
	Pinning  string    `json:"pinning"`
	Duration string    `json:"duration_per_load"`
	Warmup   string    `json:"warmup_per_load"`
	Mock     string    `json:"mock"`
	Gateway  string    `json:"gateway_config"`
	// IdleRSSMB is the gateway's resident set once it answers /healthz,
	// before any load; StartSeconds how long it took to answer.
	IdleRSSMB    float64 `json:"gateway_idle_rss_mb"`
	StartSeconds float64 `json:"gateway_start_seconds"`
	// EmptyConfig is the footprint of a gateway started without a
	// configuration file, after one request (footprint.go).
	EmptyConfig *Footprint `json:"empty_config,omitempty"`
	Repeat      int        `json:"repeat"`
	Compare     string     `json:"compare,omitempty"`
	// Floor describes the bare reverse proxy of the floor runs, if any.
	Floor   string   `json:"floor,omitempty"`
	Rows    []*Row   `json:"scenarios"`
	Targets []Target `json:"targets"`
	Notes   []string `json:"notes,omitempty"`
	Seconds float64  `json:"wall_seconds"`
}

// Row is one scenario: the same load against the mock directly (the
// baseline), through the gateway, and optionally through another gateway.
type Row struct {
	ID       string  `json:"id"`
	Title    string  `json:"title"`
	Conns    int     `json:"connections"`
	Rate     float64 `json:"rate,omitempty"`
	Stream   bool    `json:"stream"`
	Baseline string  `json:"baseline,omitempty"` // ID of the row whose direct run is the baseline
	Direct   *Trial  `json:"direct,omitempty"`
	Gateway  *Trial  `json:"gateway,omitempty"`
	Compare  *Trial  `json:"compare,omitempty"`
	// Floor is the direct load through the bare reverse proxy: the cost of
	// the extra hop alone.
	Floor   *Trial `json:"floor,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	// Ratio is gateway/direct throughput; AddedP50/P99 gateway minus direct
	// latency, in µs (TTFB for streams is in the runs). With paired rounds
	// each is the median of the rounds' own figures; otherwise they compare
	// the median attempts.
	Ratio        float64 `json:"ratio,omitempty"`
	AddedP50     float64 `json:"added_p50_us,omitempty"`
	AddedP99     float64 `json:"added_p99_us,omitempty"`
	CompareRatio float64 `json:"compare_ratio,omitempty"`
	// FloorAddedP50/P99 are floor minus direct latency, in µs, the same way.
	FloorAddedP50 float64 `json:"floor_added_p50_us,omitempty"`
	FloorAddedP99 float64 `json:"floor_added_p99_us,omitempty"`
	// Rounds are the row's paired rounds (-repeat > 1): in each round the
	// direct load, the gateway's and the floor's ran back to back, so a
	// change in the machine's speed between rounds moves both sides of a
	// round's ratio together instead of one side only. The medians are
	// over the uncontended rounds when there is one (see Round).
	Rounds []Round `json:"rounds,omitempty"`
}

// ContendedWait is the share of a load's wall time the gateway (or the
// floor proxy) may wait for its CPU before its round counts as contended
// for it.
// Alone on its core it waits 1–3% (its few other threads: the Go runtime's
// monitor, timers); a round another process shared the core in has waited
// 15–75% in the runs recorded in bench/RESULTS.md, and its ratio measures
// that process, not the gateway.
const ContendedWait = 0.10

// Round is one pass of a row's loads, back to back.
type Round struct {
	Ratio         float64 `json:"ratio"`
	AddedP50      float64 `json:"added_p50_us"`
	AddedP99      float64 `json:"added_p99_us"`
	FloorAddedP50 float64 `json:"floor_added_p50_us,omitempty"`
	FloorAddedP99 float64 `json:"floor_added_p99_us,omitempty"`
	// WaitShare is the gateway's run-queue wait over its load's wall time,
	// FloorWaitShare the floor proxy's; Contended and FloorContended say
	// they are over ContendedWait. The gateway's figures are medians over
	// the rounds it was not contended in, the floor's over those it was not.
	WaitShare      float64 `json:"wait_share"`
	Contended      bool    `json:"contended,omitempty"`
	FloorWaitShare float64 `json:"floor_wait_share,omitempty"`
	FloorContended bool    `json:"floor_contended,omitempty"`
	// GatewayCPUNS and LoadCPUNS are the speed probe's CPU time per unit
	// of work on the gateway's CPUs and on the load's (load.Speed, the
	// slower of a probe before and one after the round); SlowCPU says one
	// of them needed more than SlowCPU× the least the run has seen on
	// those CPUs: the host ran that virtual CPU slower (a busy sibling
	// hyperthread, a lower clock), and the round measures the host. Slow
	// rounds are left out of every median like contended ones.
	GatewayCPUNS int64 `json:"gateway_cpu_probe_ns,omitempty"`
	LoadCPUNS    int64 `json:"load_cpu_probe_ns,omitempty"`
	SlowCPU      bool  `json:"slow_cpu,omitempty"`
}

// SlowCPU is how much more CPU time than the run's best the speed probe
// may need on a round's CPUs before the round counts as slow.
const SlowCPU = 1.25

// Trial is one load against one target.
type Trial struct {
	Target  string       `json:"target"`
	Result  *load.Result `json:"result,omitempty"`
	Usage   *Usage       `json:"server_usage,omitempty"`
	Skipped string       `json:"skipped,omitempty"`
	Error   string       `json:"error,omitempty"`
	// Profile is the gateway's CPU profile during the load (with -profile)
	// and ProfileTop its hottest functions, as go tool pprof -top shows them.
	Profile    string   `json:"profile,omitempty"`
	ProfileTop []string `json:"profile_top,omitempty"`
	// Attempts are every repetition's figures (with -repeat > 1); Result is
	// the median one.
	Attempts []Attempt `json:"attempts,omitempty"`
}

// Attempt is one repetition of a load.
type Attempt struct {
	RPS   float64 `json:"rps"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	Valid bool    `json:"valid"`
	// CPUPer1k and RunWaitSeconds are the measured process's (Usage), so
	// that an attempt that ran slow says whether its process needed more
	// CPU per request or waited for a CPU.
	CPUPer1k       float64 `json:"cpu_seconds_per_1k,omitempty"`
	RunWaitSeconds float64 `json:"run_queue_wait_seconds,omitempty"`
}

func (r *Trial) ok() bool { return r != nil && r.Result != nil && r.Result.Valid }

// Usage is what the server under test spent on one load.
type Usage struct {
	Completed  int64   `json:"completed"`
	CPUSeconds float64 `json:"cpu_seconds"`
	StartRSSMB float64 `json:"rss_at_start_mb"`
	CPUPer1k   float64 `json:"cpu_seconds_per_1k"`
	// RunWaitSeconds is how long the server's threads were runnable but not
	// running (from /proc/PID/task/TID/schedstat): high when other processes
	// took its CPU. CeilingRPS is 1000/CPUPer1k, what one core could serve at
	// this CPU cost per request.
	RunWaitSeconds float64 `json:"run_queue_wait_seconds"`
	// WallSeconds is how long the measurement ran (warm-up included), the
	// time RunWaitSeconds is a share of.
	WallSeconds  float64 `json:"wall_seconds"`
	CeilingRPS   float64 `json:"cpu_ceiling_rps_per_core"`
	PeakRSSMB    float64 `json:"peak_rss_mb"`
	AllocsPerReq float64 `json:"allocs_per_request,omitempty"`
	BytesPerReq  float64 `json:"alloc_bytes_per_request,omitempty"`
	OverheadUS   float64 `json:"reported_overhead_mean_us,omitempty"`
	Upstream     int64   `json:"upstream_requests"`
	GCCycles     float64 `json:"gc_cycles,omitempty"`
	Note         string  `json:"note,omitempty"`
}

// Target is one of the figures to beat (issues 16 and 6), checked against this run.
type Target struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured string `json:"measured"`
	Status   string `json:"status"` // met, missed, not measured
	Detail   string `json:"detail,omitempty"`
}

// env is the live state of a run.
type env struct {
	cfg      Config
	tmp      string
	bin      string
	gwCPUs   string
	loadCPUs string
	// bestGwNS, bestLoadNS: the least speed-probe CPU time seen on each
	// CPU set during the run.
	bestGwNS, bestLoadNS int64
	mock                 *proc
	mockURL              string
	slow                 *proc
	slowURL              string
	redis                *proc
	redisURL             string
	gw                   *gateway
	l2                   *gateway // the Redis-tier gateway, during the L2 row
	cmp                  *proc
	// floor is the bare reverse proxy (bench/cmd/floorproxy) in front of
	// the mock, pinned like the gateway; floorURL its base URL.
	floor    *proc
	floorURL string
	rep      *Report
	rows     map[string]*Row
	logf     func(string, ...any)
	// missing are the providers this gateway build lacks, with the reason.
	missing map[string]string
}

// Mock settings: a 600-byte answer, 20 content chunks per stream, no delay
// (the fast mock); the slow mock paces 20 chunks 50 ms apart.
const (
	replyBytes   = 600
	chunks       = 20
	slowInterval = 50 * time.Millisecond
	slowConns    = 1000
	openRate     = 5000
	openConns    = 512
)

// Run performs a whole benchmark run and writes its results.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	t0 := time.Now()
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
		if cfg.Quick {
			cfg.Duration = 2 * time.Second
		}
	}
	if cfg.Warmup <= 0 {
		cfg.Warmup = time.Second
		if cfg.Quick {
			cfg.Warmup = 500 * time.Millisecond
		}
	}
	e := &env{cfg: cfg, rows: map[string]*Row{}, missing: map[string]string{}}
	e.logf = func(f string, a ...any) { fmt.Fprintf(cfg.Log, "bench: "+f+"\n", a...) }
	mode := "full"
	if cfg.Quick {
		mode = "quick"
	}
	if len(cfg.Only) > 0 {
		// A partial run is kept under results/ and in the history, but does
		// not replace the README section or the latest-run sections.
		mode += "-partial"
		e.cfg.ReadmeSection = ""
	}
	e.rep = &Report{
		Date: nowUTC(), Mode: mode, Command: cfg.Command, Commit: gitCommit(cfg.Root), Machine: machine(),
		Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(),
		Mock: fmt.Sprintf("mockupstream: %d-byte answer, %d content chunks per stream, each event its own flushed HTTP chunk, no delay; slow streams: %v between events", replyBytes, chunks, slowInterval),
	}
	tmp, err := os.MkdirTemp("", "gateway-bench-")
	if err != nil {
		return nil, err
	}
	e.tmp = tmp
	defer e.cleanup()
	if err := e.setup(ctx); err != nil {
		return nil, err
	}
	for _, sc := range scenarios() {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !e.selected(sc.id) {
			continue
		}
		e.runScenario(ctx, sc)
	}
	e.rep.Machine.LoadEnd = loadavg()
	e.rep.Targets = targets(e.rows, e.rep.EmptyConfig)
	e.rep.Seconds = time.Since(t0).Round(time.Second).Seconds()
	if e.rep.Machine.LoadStart[0] > 0.5*float64(e.rep.Machine.Cores) {
		e.rep.Notes = append(e.rep.Notes, fmt.Sprintf("The machine was busy when the run started (load average %.2f on %d cores): other processes competed for the CPUs, so absolute figures are pessimistic; the ratios compare loads measured minutes apart in the same conditions.", e.rep.Machine.LoadStart[0], e.rep.Machine.Cores))
	}
	if err := e.write(); err != nil {
		return e.rep, err
	}
	return e.rep, nil
}

func (e *env) selected(id string) bool {
	if len(e.cfg.Only) == 0 {
		return true
	}
	for _, o := range e.cfg.Only {
		if o == id || (strings.HasSuffix(o, "*") && strings.HasPrefix(id, strings.TrimSuffix(o, "*"))) {
			return true
		}
	}
	return false
}

func (e *env) cleanup() {
	if e.gw != nil {
		e.gw.p.stop(5 * time.Second)
	}
	for _, p := range []*proc{e.cmp, e.floor, e.mock, e.slow, e.redis} {
		p.stop(3 * time.Second)
	}
	if os.Getenv("BENCH_KEEP_TMP") == "" {
		_ = os.RemoveAll(e.tmp)
	} else {
		e.logf("kept %s", e.tmp)
	}
}

func (e *env) setup(ctx context.Context) error {
	cfg := e.cfg
	e.bin = filepath.Join(cfg.Root, "bin")
	if !cfg.NoBuild {
		builds := [][2]string{{"gateway", "./cmd/gateway"}, {"mockupstream", "./bench/cmd/mockupstream"}, {"loadgen", "./bench/cmd/loadgen"}, {"floorproxy", "./bench/cmd/floorproxy"}}
		if cfg.Profile {
			builds = append(builds, [2]string{"gatewayprof", "./bench/cmd/gatewayprof"})
		}
		for _, b := range builds {
			e.logf("go build -o bin/%s %s", b[0], b[1])
			cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(e.bin, b[0]), b[1])
			cmd.Dir = cfg.Root
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("build %s: %v\n%s", b[1], err, out)
			}
		}
	}
	if err := e.pinning(); err != nil {
		return err
	}
	e.priority()
	var err error
	if e.mock, e.mockURL, err = e.startMock("mock", "-chunks", strconv.Itoa(chunks), "-reply-bytes", strconv.Itoa(replyBytes)); err != nil {
		return err
	}
	if e.slow, e.slowURL, err = e.startMock("mock-slow", "-chunks", strconv.Itoa(chunks), "-reply-bytes", strconv.Itoa(replyBytes), "-interval", slowInterval.String()); err != nil {
		return err
	}
	e.startRedis()
	if e.floor, e.floorURL, err = e.startFloor(); err != nil {
		// A build without it (-no-build on an older bin/) runs without the
		// floor rows.
		e.logf("floor proxy not started: %v", err)
		e.floor, e.floorURL = nil, ""
	} else {
		e.rep.Floor = "bin/floorproxy: a bare fasthttp reverse proxy to the mock (no policy, no decode, kept-alive upstream connections, bodies relayed as they arrive), pinned like the gateway"
	}
	gw, err := e.startGateway("gateway", "")
	if err != nil {
		return err
	}
	e.gw = gw
	e.logf("empty configuration: start, one request, resident set")
	e.rep.EmptyConfig = e.emptyConfigFootprint()
	e.rep.IdleRSSMB = round(float64(gw.idleRSSKB)/1024, 1)
	e.rep.StartSeconds = round(gw.started.Seconds(), 1)
	e.rep.Repeat = max(cfg.Repeat, 1)
	e.rep.Gateway = "bin/gateway -config gateway.toml: the default configuration plus providers openai, anthropic, gemini, ollama (base URLs at the mock) and \"slow\" (kind openai, at the slow mock); access log on (to a file)"
	if len(e.cfg.GatewaySettings) > 0 {
		e.rep.Gateway += "; set: `" + strings.Join(e.cfg.GatewaySettings, "`, `") + "`"
	}
	for name, why := range e.missing {
		e.rep.Notes = append(e.rep.Notes, fmt.Sprintf("Provider %s left out of gateway.toml: %s", name, why))
	}
	if c := cfg.Compare; c != nil {
		e.rep.Compare = fmt.Sprintf("%s at %s, model %s", c.Name, c.URL, c.Model)
		if c.Cmd != "" {
			e.logf("starting %s: %s", c.Name, c.Cmd)
			p, err := startProc(e.tmp, c.Name, e.wrap(e.gwCPUs), os.Environ(), nil, "sh", "-c", c.Cmd)
			if err != nil {
				return err
			}
			e.cmp = p
			if err := waitTCP(p, c.URL, 180*time.Second); err != nil {
				return err
			}
			// Let it finish starting (a JIT warms up, npx may still be busy)
			// before the first load shares its CPU with it.
			time.Sleep(5 * time.Second)
			e.rep.Compare += ", started by the run: " + c.Cmd
		}
	}
	return nil
}

func (e *env) pinning() error {
	pin := e.cfg.Pin
	if pin == "" {
		pin = "auto"
	}
	_, tsErr := exec.LookPath("taskset")
	n := runtime.NumCPU()
	switch {
	case pin == "off":
		e.rep.Pinning = "off: every process may run on any CPU"
		return nil
	case pin == "auto":
		if tsErr != nil || n < 2 {
			e.rep.Pinning = fmt.Sprintf("off (auto: taskset %v, %d CPUs)", tsErr == nil, n)
			return nil
		}
		e.gwCPUs, e.loadCPUs = "0", "1"
		if n > 2 {
			e.loadCPUs = "1-" + strconv.Itoa(n-1)
		}
	default:
		g, l, ok := strings.Cut(pin, ":")
		if !ok || g == "" || l == "" {
			return fmt.Errorf("pin %q: want auto, off or GATEWAY_CPUS:LOAD_CPUS", pin)
		}
		if tsErr != nil {
			return errNoTaskset
		}
		e.gwCPUs, e.loadCPUs = g, l
	}
	e.rep.Pinning = fmt.Sprintf("taskset: gateway on CPU %s; mock upstream, Redis and load generator on CPU %s", e.gwCPUs, e.loadCPUs)
	return nil
}

// priority checks that the nice value can be applied and records it.
func (e *env) priority() {
	if e.cfg.Nice == 0 {
		return
	}
	if err := exec.Command("nice", "-n", strconv.Itoa(e.cfg.Nice), "true").Run(); err != nil {
		e.logf("nice %d unavailable (%v): priorities left alone", e.cfg.Nice, err)
		e.cfg.Nice = 0
		return
	}
	out, _ := exec.Command("nice", "-n", strconv.Itoa(e.cfg.Nice), "nice").Output()
	if strings.TrimSpace(string(out)) != strconv.Itoa(e.cfg.Nice) {
		e.logf("nice %d not granted (got %q): priorities left alone", e.cfg.Nice, strings.TrimSpace(string(out)))
		e.cfg.Nice = 0
		return
	}
	e.rep.Pinning += fmt.Sprintf("; every benchmark process at nice %d", e.cfg.Nice)
}

// wrap is the command prefix that pins a process to cpus and sets its
// priority.
func (e *env) wrap(cpus string) []string {
	var w []string
	if e.cfg.Nice != 0 {
		w = append(w, "nice", "-n", strconv.Itoa(e.cfg.Nice))
	}
	if cpus != "" {
		w = append(w, "taskset", "-c", cpus)
	}
	return w
}

func (e *env) startMock(name string, args ...string) (*proc, string, error) {
	lw := newLineWaiter("listening on ")
	argv := append([]string{filepath.Join(e.bin, "mockupstream"), "-listen", "127.0.0.1:0"}, args...)
	p, err := startProc(e.tmp, name, e.wrap(e.loadCPUs), os.Environ(), lw, argv...)
	if err != nil {
		return nil, "", err
	}
	addr, err := lw.wait(p, 10*time.Second)
	if err != nil {
		return nil, "", err
	}
	return p, "http://" + addr, nil
}

// startFloor starts bin/floorproxy in front of the mock, pinned like the
// gateway.
func (e *env) startFloor() (*proc, string, error) {
	bin := filepath.Join(e.bin, "floorproxy")
	if _, err := os.Stat(bin); err != nil {
		return nil, "", err
	}
	lw := newLineWaiter("listening on ")
	p, err := startProc(e.tmp, "floorproxy", e.wrap(e.gwCPUs), os.Environ(), lw, bin, "-listen", "127.0.0.1:0", "-upstream", strings.TrimPrefix(e.mockURL, "http://"))
	if err != nil {
		return nil, "", err
	}
	addr, err := lw.wait(p, 10*time.Second)
	if err != nil {
		p.stop(time.Second)
		return nil, "", err
	}
	return p, "http://" + addr, nil
}

func (e *env) startRedis() {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return
	}
	port, err := freePort()
	if err != nil {
		return
	}
	p, err := startProc(e.tmp, "redis", e.wrap(e.loadCPUs), os.Environ(), nil, path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no")
	if err != nil {
		e.logf("redis: %v", err)
		return
	}
	if err := waitTCP(p, "redis://127.0.0.1:"+strconv.Itoa(port), 10*time.Second); err != nil {
		e.logf("redis: %v", err)
		p.stop(time.Second)
		return
	}
	e.redis, e.redisURL = p, "redis://127.0.0.1:"+strconv.Itoa(port)
}

// gateway is a running gateway process.
type gateway struct {
	p    *proc
	base string // http://127.0.0.1:PORT
	// scrapeAllocs is what one /metrics scrape itself allocates.
	scrapeAllocs float64
	// pprof is the pprof listener of a gatewayprof build ("" otherwise).
	pprof     string
	started   time.Duration
	idleRSSKB int64
}

var kindMissing = regexp.MustCompile(`provider (\S+): kind "([^"]+)" is not available in this build`)

// gatewayEnv is the environment without the variables that would change
// the gateway's configuration (keys, base URLs, the seed's switches).
func gatewayEnv() []string {
	drop := map[string]bool{}
	for _, k := range []string{"PORT", "GATEWAY_API_KEY", "GATEWAY_ADMIN_KEY", "REDIS_URL", "LOCAL_LLM_BASE_URL",
		"ENABLE_SMART_ROUTING", "SMART_ROUTING_MODE", "ENABLE_CASCADE_ROUTING", "ENABLE_ANTHROPIC_CACHE_CONTROL",
		"ENABLE_FILE_HASH_CACHE", "STRIP_IDE_BOILERPLATE", "ENFORCE_DIFF_FIRST", "CIRCUIT_BREAKER_ENABLED",
		"RETRY_ENABLED", "RATE_LIMIT_ENABLED", "RATE_LIMIT_RPM"} {
		drop[k] = true
	}
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if drop[k] || strings.HasPrefix(k, "OPENAI_") || strings.HasPrefix(k, "ANTHROPIC_") ||
			strings.HasPrefix(k, "GEMINI_") || strings.HasPrefix(k, "GROQ_") || strings.HasPrefix(k, "GATEWAY_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// startGateway writes a gateway.toml and starts bin/gateway on it. Providers
// whose kind this build lacks are dropped (and noted) and the start retried.
func (e *env) startGateway(name, extra string) (*gateway, error) {
	for attempt := 0; attempt < 8; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(e.tmp, name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
			return nil, err
		}
		toml := e.gatewayTOML(port, filepath.Join(dir, "data")) + extra
		cfgPath := filepath.Join(dir, "gateway.toml")
		if err := os.WriteFile(cfgPath, []byte(toml), 0o644); err != nil {
			return nil, err
		}
		argv := []string{filepath.Join(e.bin, "gateway"), "-config", cfgPath}
		pprofAddr := ""
		if e.cfg.Profile {
			pp, err := freePort()
			if err != nil {
				return nil, err
			}
			pprofAddr = "127.0.0.1:" + strconv.Itoa(pp)
			argv = []string{filepath.Join(e.bin, "gatewayprof"), "-config", cfgPath, "-pprof", pprofAddr}
		}
		p, err := startProc(e.tmp, name, e.wrap(e.gwCPUs), gatewayEnv(), nil, argv...)
		if err != nil {
			return nil, err
		}
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		t0 := time.Now()
		if err := waitHTTP(p, base+"/healthz", 90*time.Second); err != nil {
			p.stop(time.Second)
			if m := kindMissing.FindStringSubmatch(p.tail(4000)); m != nil {
				e.missing[m[1]] = fmt.Sprintf("kind %q is not available in this build", m[2])
				continue
			}
			return nil, err
		}
		g := &gateway{p: p, base: base, pprof: pprofAddr, started: time.Since(t0)}
		if st, err := readStat(p.pid()); err == nil {
			g.idleRSSKB = st.rssKB
		}
		m1, err1 := scrape(base + "/metrics")
		m2, err2 := scrape(base + "/metrics")
		if err1 == nil && err2 == nil {
			g.scrapeAllocs = m2["go_memstats_mallocs_total"] - m1["go_memstats_mallocs_total"]
		}
		return g, nil
	}
	return nil, errors.New("gateway: too many providers missing")
}

func (e *env) gatewayTOML(port int, dataDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by bench/cmd/bench.\nlisten = %q\ndata_dir = %q\n", "127.0.0.1:"+strconv.Itoa(port), dataDir)
	// Every load connection comes from one address, up to 1,000 at once.
	b.WriteString("max_conns_per_ip = 0\n")
	for _, line := range e.cfg.GatewaySettings {
		b.WriteString(line + "\n")
	}
	b.WriteString("\n")
	prov := func(name, kind, base, key string) {
		if _, gone := e.missing[name]; gone {
			return
		}
		fmt.Fprintf(&b, "[providers.%s]\n", name)
		if kind != "" {
			fmt.Fprintf(&b, "kind = %q\n", kind)
		}
		fmt.Fprintf(&b, "base_url = %q\n", base)
		if key != "" {
			fmt.Fprintf(&b, "api_key = %q\n", key)
		}
		b.WriteString("\n")
	}
	prov("openai", "", e.mockURL+"/v1", "sk-bench")
	prov("anthropic", "", e.mockURL, "sk-ant-bench")
	prov("gemini", "", e.mockURL, "bench")
	prov("ollama", "", e.mockURL, "")
	prov("slow", "openai", e.slowURL+"/v1", "sk-bench")
	return b.String()
}

// measure runs fn (a load against the process) and returns what the
// process spent on it.
func (e *env) measure(pid int, metricsURL string, fn func() *load.Result) (*load.Result, *Usage) {
	var notes []string
	if err := resetPeak(pid); err != nil {
		notes = append(notes, "peak RSS not reset: "+err.Error())
	}
	s0, _ := readStat(pid)
	t0 := time.Now()
	var m0 map[string]float64
	if metricsURL != "" {
		m0, _ = scrape(metricsURL)
	}
	up0 := e.upstreamCount()
	res := fn()
	s1, _ := readStat(pid)
	u := &Usage{Upstream: e.upstreamCount() - up0, WallSeconds: round(time.Since(t0).Seconds(), 3)}
	if res != nil {
		u.Completed = res.Completed
	}
	u.CPUSeconds = round(float64(s1.cpu-s0.cpu)/float64(time.Second), 3)
	u.StartRSSMB = round(float64(s0.rssKB)/1024, 1)
	u.PeakRSSMB = round(float64(s1.hwmKB)/1024, 1)
	u.RunWaitSeconds = round(float64(s1.wait-s0.wait)/float64(time.Second), 3)
	if u.Completed > 0 {
		u.CPUPer1k = round(u.CPUSeconds*1000/float64(u.Completed), 4)
	}
	if u.CPUPer1k > 0 {
		u.CeilingRPS = round(1000/u.CPUPer1k, 0)
	}
	if m0 != nil {
		if m1, err := scrape(metricsURL); err == nil && u.Completed > 0 {
			scrapeCost := 0.0
			if e.gw != nil {
				scrapeCost = e.gw.scrapeAllocs
			}
			n := float64(u.Completed)
			u.AllocsPerReq = round((m1["go_memstats_mallocs_total"]-m0["go_memstats_mallocs_total"]-scrapeCost)/n, 1)
			u.BytesPerReq = round((m1["go_memstats_alloc_bytes_total"]-m0["go_memstats_alloc_bytes_total"])/n, 0)
			if dc := m1["gateway_overhead_seconds_count"] - m0["gateway_overhead_seconds_count"]; dc > 0 {
				u.OverheadUS = round((m1["gateway_overhead_seconds_sum"]-m0["gateway_overhead_seconds_sum"])/dc*1e6, 1)
			}
			u.GCCycles = m1["go_gc_duration_seconds_count"] - m0["go_gc_duration_seconds_count"]
		}
	}
	u.Note = strings.Join(notes, "; ")
	return res, u
}

func (e *env) upstreamCount() int64 {
	var n int64
	for _, base := range []string{e.mockURL, e.slowURL} {
		status, body, _, err := httpDo("GET", base+"/stats", nil, nil, 2*time.Second)
		if err != nil || status != 200 {
			continue
		}
		var c struct{ OpenAI, Anthropic, Gemini, Ollama int64 }
		if json.Unmarshal(body, &c) == nil {
			n += c.OpenAI + c.Anthropic + c.Gemini + c.Ollama
		}
	}
	return n
}

// loadSpec is one load generator invocation.
type loadSpec struct {
	url          string
	body         []byte
	headers      []header
	stream       bool
	conns        int
	rate         float64
	duration     time.Duration
	expect       string
	expectHeader string
	timeout      time.Duration
}

// runLoad runs bin/loadgen pinned to the load CPUs and parses its JSON.
func (e *env) runLoad(ctx context.Context, l loadSpec) (*load.Result, error) {
	bodyFile := filepath.Join(e.tmp, "body.json")
	if err := os.WriteFile(bodyFile, l.body, 0o644); err != nil {
		return nil, err
	}
	d := l.duration
	if d == 0 {
		d = e.cfg.Duration
	}
	timeout := l.timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	args := []string{filepath.Join(e.bin, "loadgen"), "-json", "-url", l.url, "-body-file", bodyFile,
		"-c", strconv.Itoa(l.conns), "-d", d.String(), "-warmup", e.cfg.Warmup.String(), "-timeout", timeout.String()}
	if l.rate > 0 {
		args = append(args, "-rate", strconv.FormatFloat(l.rate, 'f', -1, 64))
	}
	if l.stream {
		args = append(args, "-stream")
	}
	if l.expect != "" {
		args = append(args, "-expect", l.expect)
	}
	if l.expectHeader != "" {
		args = append(args, "-expect-header", l.expectHeader)
	}
	for _, h := range l.headers {
		args = append(args, "-H", h.Name+": "+h.Value)
	}
	if e.cfg.Compare != nil && !isLoopbackURL(l.url) {
		args = append(args, "-allow-remote")
	}
	args = append(e.wrap(e.loadCPUs), args...)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var res load.Result
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		if err == nil {
			err = jerr
		}
		return nil, fmt.Errorf("loadgen: %v: %s", err, clipStr(stderr.String(), 500))
	}
	return &res, nil
}

func isLoopbackURL(u string) bool {
	return strings.Contains(u, "://127.") || strings.Contains(u, "://localhost") || strings.Contains(u, "://[::1]")
}

func round(v float64, digits int) float64 {
	p := 1.0
	for i := 0; i < digits; i++ {
		p *= 10
	}
	if v < 0 {
		return -float64(int64(-v*p+0.5)) / p
	}
	return float64(int64(v*p+0.5)) / p
}

// probe sends one request and returns a skip reason when the answer is not
// 2xx ("" when it is).
func probe(url string, body []byte, headers []header) (string, map[string]string) {
	status, resp, hs, err := httpDo("POST", url, body, headers, 30*time.Second)
	if err != nil {
		return "feature not available (" + err.Error() + ")", nil
	}
	if status < 200 || status > 299 {
		msg := clipStr(string(resp), 160)
		var env struct {
			Error struct{ Message string } `json:"error"`
		}
		if json.Unmarshal(resp, &env) == nil && env.Error.Message != "" {
			msg = clipStr(env.Error.Message, 160)
		}
		return fmt.Sprintf("feature not available (HTTP %d: %s)", status, msg), hs
	}
	return "", hs
}

var chatBody = payload.Chat

// speed runs the speed probe (loadgen -speed) pinned to cpus and returns
// its CPU time per unit in ns, 0 when it cannot run.
func (e *env) speed(cpus string) int64 {
	argv := append(e.wrap(cpus), filepath.Join(e.bin, "loadgen"), "-speed", "100")
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		return 0
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0
	}
	return ns
}

// probeCPUs measures both CPU sets and keeps the run's best of each.
func (e *env) probeCPUs() (gw, ld int64) {
	gw, ld = e.speed(e.gwCPUs), e.speed(e.loadCPUs)
	if gw > 0 && (e.bestGwNS == 0 || gw < e.bestGwNS) {
		e.bestGwNS = gw
	}
	if ld > 0 && (e.bestLoadNS == 0 || ld < e.bestLoadNS) {
		e.bestLoadNS = ld
	}
	return gw, ld
}
