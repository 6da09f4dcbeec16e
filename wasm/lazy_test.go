package wasm

import (
	"context"
	"math"
	"runtime"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
)

// compiledCount is how many compiled modules the host holds.
func compiledCount(h *Host) int {
	h.compileMu.Lock()
	defer h.compileMu.Unlock()
	return len(h.compiled)
}

// instanceBytes sums the linear memory of every pooled instance.
func instanceBytes(h *Host) (n int64, instances int) {
	for _, i := range h.List() {
		n += i.MemoryBytes
		instances += i.Instances
	}
	return n, instances
}

// TestLazyBuiltinsAllocs: with the default policies, a Host holds no
// compiled code and no instance after Configure: the request-stage
// built-ins declare triggers (set_trigger) and are validated at load, then
// released until the first request that matches; the disabled diff-first is
// not compiled at all; the router and the judge are validated at load and
// compiled again on their first call; idle pools give everything back.
// Memory is measured in bytes of linear memory and in compiled modules held
// (each Go-guest built-in is ~7 MB of machine code and ~3 MB of decoded
// module).
func TestLazyBuiltinsAllocs(t *testing.T) {
	ctx := context.Background()
	h, err := New(ctx, Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet(), IdleRelease: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	pcs := append(DefaultPolicies(), PolicyConfig{Name: "judge", Module: BuiltinPrefix + "judge", Stages: []string{"response"}})
	for i := range pcs {
		if pcs[i].Name == "router" {
			pcs[i].Config = allocRouterConfig
		}
	}
	if err := h.Configure(pcs); err != nil {
		t.Fatal(err)
	}
	check := func(when string, compiled, instances int) {
		t.Helper()
		if n := compiledCount(h); n != compiled {
			t.Fatalf("%s the host holds %d compiled modules, want %d", when, n, compiled)
		}
		const perInstance = 8 << 20 // a Go guest's memory after its self-check is ~2.5 MiB
		if mem, n := instanceBytes(h); n != instances || mem > int64(instances)*perInstance {
			t.Fatalf("%s %d instances hold %d bytes of linear memory, want %d instances within %d bytes", when, n, mem, instances, instances*perInstance)
		}
	}
	check("after Configure", 0, 0)

	// A request no trigger matches (a plain coding question) runs the
	// request stage without compiling anything.
	c := codingRequest(1 << 10)
	in, out := c.input(), new(Output)
	if err := h.Run(ctx, abi.StageRequest, in, out); err != nil || len(out.Failures) > 0 {
		t.Fatalf("request stage: err %v, failures %+v", err, out.Failures)
	}
	check("after a plain request", 0, 0)
	for _, name := range []string{"stripper", "skills"} {
		if i, _ := h.Get(name); !i.Trigger || i.Untriggered != 1 || i.Calls != 0 {
			t.Fatalf("%s: trigger %v, %d requests passed by, %d calls; want a trigger, 1, 0", name, i.Trigger, i.Untriggered, i.Calls)
		}
	}

	// One with a chat-template marker brings the stripper (only) in.
	ide := codingRequest(1 << 10)
	ide.question = append([]byte("<|im_start|>user\n"), ide.question...)
	out.Reset()
	if err := h.Run(ctx, abi.StageRequest, ide.input(), out); err != nil || len(out.Failures) > 0 || !out.Modified() {
		t.Fatalf("request stage with a marker: err %v, failures %+v, modified %v", err, out.Failures, out.Modified())
	}
	check("after a request with a marker", 1, 1)

	// The router's first call compiles it again (from the cache) and
	// answers as usual.
	out.Reset()
	if err := h.Run(ctx, abi.StageRoute, in, out); err != nil || !out.Route.Set || len(out.Failures) > 0 {
		t.Fatalf("route after a cold start: err %v, route %+v, failures %+v", err, out.Route, out.Failures)
	}
	if n := compiledCount(h); n != 2 {
		t.Fatalf("after the router's first call the host holds %d compiled modules, want 2", n)
	}

	// Idle: every instance closed, every built-in's code released; the
	// next call brings them back.
	h.shrink(math.MaxInt64)
	if mem, instances := instanceBytes(h); mem != 0 || instances != 0 {
		t.Fatalf("after idle release: %d instances, %d bytes", instances, mem)
	}
	if n := compiledCount(h); n != 0 {
		t.Fatalf("after idle release the host holds %d compiled modules, want 0", n)
	}
	out.Reset()
	if err := h.Run(ctx, abi.StageRoute, in, out); err != nil || !out.Route.Set || len(out.Failures) > 0 {
		t.Fatalf("route after idle release: err %v, route %+v, failures %+v", err, out.Route, out.Failures)
	}
	out.Reset()
	if err := h.Run(ctx, abi.StageRequest, ide.input(), out); err != nil || len(out.Failures) > 0 || !out.Modified() {
		t.Fatalf("request stage after idle release: err %v, failures %+v", err, out.Failures)
	}
}

// TestDisabledBuiltinCheckedWhenEnabled: a disabled built-in is not compiled,
// so its config is checked when a Configure enables it, and a bad one is
// refused then, as at start-up.
func TestDisabledBuiltinCheckedWhenEnabled(t *testing.T) {
	ctx := context.Background()
	h, err := New(ctx, Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	off, on := false, true
	bad := PolicyConfig{Name: "router", Module: BuiltinPrefix + "router", Stages: []string{"route"}, Config: `{"tiers":"none"}`, Enabled: &off}
	if err := h.Configure([]PolicyConfig{bad}); err != nil {
		t.Fatalf("a disabled built-in is not loaded, its config not checked: %v", err)
	}
	if n := compiledCount(h); n != 0 {
		t.Fatalf("a disabled built-in was compiled (%d modules)", n)
	}
	bad.Enabled = &on
	if err := h.Configure([]PolicyConfig{bad}); err == nil {
		t.Fatal("enabling a built-in with a config its self-check refuses was accepted")
	}
	good := bad
	good.Config = allocRouterConfig
	if err := h.Configure([]PolicyConfig{good}); err != nil {
		t.Fatalf("enabling it with a good config: %v", err)
	}
}

// TestInstanceMemoryOffHeapAllocs: a Go guest's linear memory (2.5 MiB and
// up) is mapped outside the Go heap on Linux, so a new instance allocates
// little on the heap: its memory neither doubles in capacity as it grows nor
// raises the collector's goal.
func TestInstanceMemoryOffHeapAllocs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("guest memory is mapped outside the Go heap on Linux only")
	}
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	ctx := context.Background()
	h, err := New(ctx, Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet(), IdleRelease: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if err := h.Configure([]PolicyConfig{{Name: "stripper", Module: BuiltinPrefix + "stripper", Stages: []string{"request"}}}); err != nil {
		t.Fatal(err)
	}
	c := codingRequest(16 << 10)
	c.question = append([]byte("<|im_start|>user\n"), c.question...) // the stripper's trigger
	in, out := c.input(), new(Output)
	if err := h.Run(ctx, abi.StageRequest, in, out); err != nil || len(out.Failures) > 0 {
		t.Fatalf("run: %v %+v", err, out.Failures)
	}
	// Close the pooled instance (keep the compiled code): the next Run
	// instantiates one.
	v := h.reg.Load().byName["stripper"].cur.Load()
	v.shrink(math.MaxInt64, 0, false)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out.Reset()
	if err := h.Run(ctx, abi.StageRequest, in, out); err != nil || len(out.Failures) > 0 {
		t.Fatalf("run: %v %+v", err, out.Failures)
	}
	runtime.ReadMemStats(&after)
	guest, _ := instanceBytes(h)
	heap := after.TotalAlloc - before.TotalAlloc
	t.Logf("new instance: %d bytes of guest memory, %d bytes allocated on the Go heap", guest, heap)
	if guest < 1<<20 {
		t.Fatalf("guest memory %d bytes: not a Go guest?", guest)
	}
	if heap > uint64(guest)/2 {
		t.Fatalf("a new instance allocated %d bytes on the Go heap for %d bytes of guest memory", heap, guest)
	}
}
