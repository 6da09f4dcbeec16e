package wasm

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/internal/jsonscan"
)

// Options configures a Host. The zero value of every field selects its
// default; Options are read once by New.
type Options struct {
	// CacheDir holds wazero's on-disk compilation cache; empty keeps the
	// cache in memory only.
	CacheDir string
	// DataDir persists uploaded modules (DataDir/policies/NAME.wasm) so that a
	// restart keeps them; empty disables persistence.
	DataDir string
	// MaxModuleSize caps an uploaded module (default 16 MiB).
	MaxModuleSize int64
	// MaxFunctions caps the functions (imports included) of an uploaded or
	// file module, read from its section headers before it is decoded
	// (default 100,000; a Go policy has about 1,500).
	MaxFunctions int
	// CompileTimeout bounds the compilation of an uploaded or file module
	// (default 30s); past it the upload is refused and the compile
	// abandoned. GOMAXPROCS such compiles (at least 2) run at a time,
	// abandoned ones included; an upload waits at most CompileTimeout for
	// one of them to end, then is refused with ErrBusy.
	CompileTimeout time.Duration
	// CacheMaxBytes bounds the on-disk compilation cache of uploaded and
	// file modules under CacheDir, oldest entries deleted first (default
	// 256 MiB; negative: unbounded). The built-ins' entries are kept.
	CacheMaxBytes int64
	// PoolSize bounds the instances of one module version (default
	// GOMAXPROCS). Pools grow lazily, from the one instance that passed the
	// self-check, and shrink after IdleRelease.
	PoolSize int
	// IdleRelease closes an instance that has served no call for this long
	// (default 5m; negative disables); a built-in with no instance left
	// releases its compiled code too (with an on-disk cache), and its next
	// call compiles it again from the cache and instantiates (tens of ms).
	IdleRelease time.Duration
	// WarmStages (1<<abi.Stage bits) are the stages whose built-ins stay
	// compiled and instantiated after the load: every request runs them.
	// A built-in serving none of them (the router, the judge) is validated
	// at load and then released until its first call. 0 selects the request
	// stage.
	WarmStages uint32
	// IgnoreTriggers calls every request-stage policy for every request,
	// whatever trigger its self-check declared (set_trigger). For tests that
	// check a trigger against its policy, and for debugging one.
	IgnoreTriggers bool
	// DefaultTimeout is the per-call deadline of a policy without one
	// (default 100ms).
	DefaultTimeout time.Duration
	// InitTimeout bounds instantiation plus self-check of uploaded modules
	// (default 2s).
	InitTimeout time.Duration
	// DefaultMemoryMB is the memory cap of a policy without one (default 64).
	DefaultMemoryMB int
	// MaxMemoryMB is the largest memory_mb a policy may ask for (default 1024).
	MaxMemoryMB int
	// QuarantineAfter is K: a policy version that fails K calls in a row is
	// quarantined (default 5).
	QuarantineAfter int
	// QuarantineFor is how long a quarantine lasts before one probe call is
	// let through (default 30s).
	QuarantineFor time.Duration
	// RecycleAfterCalls retires an instance after that many calls (default
	// 1,000,000; negative disables).
	RecycleAfterCalls int
	// RecycleAboveFraction retires an instance whose memory exceeds this
	// fraction of its policy's cap after a call (default 0.75; negative
	// disables).
	RecycleAboveFraction float64
	// MaxReadBytes caps the bytes a call may copy out of the host (default
	// 64 MiB).
	MaxReadBytes int64
	// MaxWriteBytes caps the bytes a call may hand to setters (default
	// 8 MiB).
	MaxWriteBytes int64
	// RecentFailures is how many failed calls per policy Info keeps, with
	// their time, request and message (default 16).
	RecentFailures int
	// Metrics receives the gateway_policy_* metrics. Nil creates a Set that
	// is registered globally (metrics.RegisterSet) until Close.
	Metrics *metrics.Set

	// fakeClocks keeps wazero's default fake clocks; only the soak test's
	// control group sets it, to show why real clocks are required.
	fakeClocks bool
}

func (o Options) withDefaults() Options {
	if o.MaxModuleSize <= 0 {
		o.MaxModuleSize = 16 << 20
	}
	if o.MaxFunctions <= 0 {
		o.MaxFunctions = 100_000
	}
	if o.CompileTimeout <= 0 {
		o.CompileTimeout = 30 * time.Second
	}
	if o.CacheMaxBytes == 0 {
		o.CacheMaxBytes = 256 << 20
	}
	if o.PoolSize <= 0 {
		o.PoolSize = runtime.GOMAXPROCS(0)
	}
	if o.IdleRelease == 0 {
		o.IdleRelease = 5 * time.Minute
	}
	if o.WarmStages == 0 {
		o.WarmStages = 1 << abi.StageRequest
	}
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = 100 * time.Millisecond
	}
	if o.InitTimeout <= 0 {
		o.InitTimeout = 2 * time.Second
	}
	if o.DefaultMemoryMB <= 0 {
		o.DefaultMemoryMB = 64
	}
	if o.MaxMemoryMB <= 0 {
		o.MaxMemoryMB = 1024
	}
	if o.QuarantineAfter <= 0 {
		o.QuarantineAfter = 5
	}
	if o.QuarantineFor <= 0 {
		o.QuarantineFor = 30 * time.Second
	}
	if o.RecycleAfterCalls == 0 {
		o.RecycleAfterCalls = 1_000_000
	}
	if o.RecycleAboveFraction == 0 {
		o.RecycleAboveFraction = 0.75
	}
	if o.MaxReadBytes <= 0 {
		o.MaxReadBytes = 64 << 20
	}
	if o.MaxWriteBytes <= 0 {
		o.MaxWriteBytes = 8 << 20
	}
	if o.RecentFailures <= 0 {
		o.RecentFailures = 16
	}
	return o
}

// PolicyConfig binds a policy name to a module and its settings. The engine's
// TOML decoder embeds it under [[policies]].
type PolicyConfig struct {
	// Name identifies the policy in gateway.toml, metrics and the admin API:
	// [a-z0-9][a-z0-9_-]{0,63}.
	Name string `toml:"name" json:"name"`
	// Module is "builtin:NAME" or the path of a .wasm file.
	Module string `toml:"module" json:"module"`
	// Stages lists "request", "route", "response"; empty means every stage
	// the module exports.
	Stages []string `toml:"stages" json:"stages,omitempty"`
	// Config is JSON handed to the module's self-check and getters.
	Config string `toml:"config" json:"config,omitempty"`
	// Timeout is the per-call deadline; zero selects Options.DefaultTimeout.
	Timeout time.Duration `toml:"timeout" json:"timeout,omitempty"`
	// MemoryMB caps one instance's linear memory; zero selects
	// Options.DefaultMemoryMB.
	MemoryMB int `toml:"memory_mb" json:"memory_mb,omitempty"`
	// Fail is "open" (default: skip the policy, count it, go on) or "closed"
	// (the request fails with a 5xx naming the policy).
	Fail string `toml:"fail" json:"fail,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `toml:"enabled" json:"enabled,omitempty"`
}

// BuiltinPrefix marks a built-in module in PolicyConfig.Module.
const BuiltinPrefix = "builtin:"

// spec is a validated, defaulted PolicyConfig.
type spec struct {
	name     string
	module   string
	stages   uint32 // 1<<abi.Stage; 0 = what the module exports
	config   []byte
	timeout  time.Duration
	memoryMB int
	closed   bool
	enabled  bool
	position Position // uploads of names gateway.toml does not configure
	raw      PolicyConfig
}

func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '_' || c == '-')) {
			continue
		}
		return false
	}
	return true
}

func configErr(name, format string, args ...any) error {
	return fmt.Errorf("%w: policy %q: %s", ErrInvalidConfig, name, fmt.Sprintf(format, args...))
}

func (o *Options) spec(c PolicyConfig) (spec, error) {
	s := spec{name: c.Name, module: c.Module, timeout: c.Timeout, memoryMB: c.MemoryMB, enabled: true, raw: c}
	if !validName(c.Name) {
		return s, configErr(c.Name, "name must match [a-z0-9][a-z0-9_-]{0,63}")
	}
	switch {
	case strings.HasPrefix(c.Module, BuiltinPrefix):
		if _, ok := Builtin(strings.TrimPrefix(c.Module, BuiltinPrefix)); !ok {
			return s, configErr(c.Name, "unknown built-in module %q (built-ins: %s)", c.Module, strings.Join(BuiltinNames(), ", "))
		}
	case c.Module == "":
		return s, configErr(c.Name, "module is required (\"builtin:NAME\" or a .wasm path)")
	default:
		if _, err := os.Stat(c.Module); err != nil {
			return s, configErr(c.Name, "module: %v", err)
		}
	}
	for _, st := range c.Stages {
		stage, ok := abi.ParseStage(st)
		if !ok {
			return s, configErr(c.Name, "unknown stage %q (want request, route or response)", st)
		}
		s.stages |= 1 << stage
	}
	if strings.TrimSpace(c.Config) != "" {
		if err := jsonscan.Validate([]byte(c.Config)); err != nil {
			return s, configErr(c.Name, "config is not valid JSON: %v", err)
		}
		s.config = []byte(c.Config)
	}
	switch {
	case c.Timeout < 0 || c.Timeout > 10*time.Second:
		return s, configErr(c.Name, "timeout %v outside (0, 10s]", c.Timeout)
	case c.Timeout == 0:
		s.timeout = o.DefaultTimeout
	}
	switch {
	case c.MemoryMB < 0 || c.MemoryMB > o.MaxMemoryMB:
		return s, configErr(c.Name, "memory_mb %d outside [1, %d]", c.MemoryMB, o.MaxMemoryMB)
	case c.MemoryMB == 0:
		s.memoryMB = o.DefaultMemoryMB
	}
	switch c.Fail {
	case "", "open":
	case "closed":
		s.closed = true
	default:
		return s, configErr(c.Name, "fail must be \"open\" or \"closed\", not %q", c.Fail)
	}
	if c.Enabled != nil {
		s.enabled = *c.Enabled
	}
	return s, nil
}

// uploadSpec is the spec of a policy that exists only through an upload.
func (o *Options) uploadSpec(name string) spec {
	return spec{name: name, module: "upload", timeout: o.DefaultTimeout, memoryMB: o.DefaultMemoryMB, enabled: true,
		raw: PolicyConfig{Name: name, Module: "upload"}}
}

// emptyConfig reports whether config is empty: a module without a configure
// export given anything else loads with a warning.
func emptyConfig(c []byte) bool {
	s := strings.TrimSpace(string(c))
	return s == "" || s == "{}" || s == "null"
}

func stageNames(mask uint32) []string {
	var out []string
	for st := abi.StageRequest; st <= abi.StageResponse; st++ {
		if mask&(1<<st) != 0 {
			out = append(out, st.String())
		}
	}
	return out
}
