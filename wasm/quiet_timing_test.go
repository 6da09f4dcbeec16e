package wasm

import (
	"context"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
)

// BenchmarkRouteAfterQuietRelease is the first route call after a quiet
// release (ReleaseIdle closed the router's instances and its compiled
// code): compile from the on-disk cache, instantiate, self-check, call; or,
// when it released the instances only: instantiate, self-check, call.
func BenchmarkRouteAfterQuietRelease(b *testing.B) {
	for _, bc := range []struct {
		name string
		code bool
	}{
		{name: "code released", code: true},
		{name: "instances only", code: false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			h, err := New(ctx, Options{CacheDir: b.TempDir(), Metrics: metrics.NewSet(), IdleRelease: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(ctx)
			if err := h.Configure([]PolicyConfig{{Name: "router", Module: BuiltinPrefix + "router", Stages: []string{"route"}, Config: allocRouterConfig}}); err != nil {
				b.Fatal(err)
			}
			in, out := codingRequest(1<<10).input(), new(Output)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				h.ReleaseIdle(0, 0, bc.code)
				out.Reset()
				b.StartTimer()
				if err := h.Run(ctx, abi.StageRoute, in, out); err != nil || !out.Route.Set {
					b.Fatalf("route: %v %+v", err, out.Route)
				}
			}
		})
	}
}
