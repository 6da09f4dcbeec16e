package wasm

import (
	"context"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
)

// TestReleaseIdleAfterBurst: after a burst of route calls, ReleaseIdle (what
// the engine runs when the process goes quiet) closes the router's pooled
// instances, all of them when the route stage is not warm (and the
// built-in's compiled code with them), all but keep when it is; the
// bytes it reports are the linear memory that left; the next call
// instantiates again and routes as before.
func TestReleaseIdleAfterBurst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		warm         uint32
		keep         int
		code         bool
		wantKept     int
		wantCompiled int
	}{
		{name: "router not warm: instances and code go", warm: 0, keep: 1, code: true, wantKept: 0, wantCompiled: 0},
		{name: "router not warm, instances only", warm: 0, keep: 1, wantKept: 0, wantCompiled: 1},
		{name: "router warm: keep one", warm: 1 << abi.StageRoute, keep: 1, code: true, wantKept: 1, wantCompiled: 1},
		{name: "router warm, keep 2", warm: 1 << abi.StageRoute, keep: 2, code: true, wantKept: 2, wantCompiled: 1},
		{name: "router warm, keep none: its code stays", warm: 1 << abi.StageRoute, keep: 0, code: true, wantKept: 0, wantCompiled: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h, err := New(ctx, Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet(), IdleRelease: -1,
				PoolSize: 4, WarmStages: tc.warm})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(ctx)
			if err := h.Configure([]PolicyConfig{{Name: "router", Module: BuiltinPrefix + "router", Stages: []string{"route"}, Config: allocRouterConfig}}); err != nil {
				t.Fatal(err)
			}
			route := func(when string) {
				t.Helper()
				in, out := codingRequest(1<<10).input(), new(Output)
				if err := h.Run(ctx, abi.StageRoute, in, out); err != nil || !out.Route.Set || len(out.Failures) > 0 {
					t.Fatalf("route %s: err %v, route %+v, failures %+v", when, err, out.Route, out.Failures)
				}
			}
			// The burst: three calls at once hold three instances, then
			// more calls reuse them.
			v := h.reg.Load().byName["router"].cur.Load()
			var held []*instance
			for range 3 {
				inst, err := v.acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, inst)
			}
			for _, inst := range held {
				v.release(inst)
			}
			for range 10 {
				route("during the burst")
			}
			before, n := instanceBytes(h)
			if n != 3 || before < 1<<20 {
				t.Fatalf("after the burst: %d instances, %d bytes; want 3 Go-guest instances", n, before)
			}
			closed, freed := h.ReleaseIdle(0, tc.keep, tc.code)
			after, left := instanceBytes(h)
			if left != tc.wantKept || closed != 3-tc.wantKept {
				t.Fatalf("ReleaseIdle closed %d, left %d instances; want %d left", closed, left, tc.wantKept)
			}
			if freed != before-after || (tc.wantKept == 0 && after != 0) {
				t.Fatalf("ReleaseIdle reported %d bytes freed; linear memory went from %d to %d", freed, before, after)
			}
			if c := compiledCount(h); c != tc.wantCompiled {
				t.Fatalf("after ReleaseIdle the host holds %d compiled modules, want %d", c, tc.wantCompiled)
			}
			route("after the release")
			if _, n := instanceBytes(h); n != max(tc.wantKept, 1) {
				t.Fatalf("after the next call: %d instances, want %d", n, max(tc.wantKept, 1))
			}
			// A call within idle keeps its instance.
			if closed, _ := h.ReleaseIdle(1<<62, tc.keep, tc.code); closed != 0 {
				t.Fatalf("ReleaseIdle closed %d instances used within idle", closed)
			}
		})
	}
}
