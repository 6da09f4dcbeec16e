package wasm

import (
	"math"
	"testing"
)

func TestLatencyQuantile(t *testing.T) {
	t.Parallel()
	us := 1e-6
	tests := []struct {
		name string
		obs  []float64 // seconds
		q    float64
		want float64 // seconds
	}{
		{name: "empty", q: 0.99, want: 0},
		// Bucket (1µs, 2µs] holds all four: p50 is half-way through it.
		{name: "one bucket p50", obs: []float64{1.5 * us, 1.5 * us, 1.5 * us, 1.5 * us}, q: 0.5, want: 1.5 * us},
		{name: "one bucket p100", obs: []float64{1.5 * us, 1.5 * us}, q: 1, want: 2 * us},
		// A bound belongs to its own bucket (le): 1µs is in [0, 1µs].
		{name: "on the bound", obs: []float64{1 * us}, q: 1, want: 1 * us},
		// 99 fast calls and one slow one: p50 stays fast, p99 is the 99th
		// call, at the top of the fast bucket; p100 reaches the slow one.
		{name: "tail p50", obs: append(repeat(3*us, 99), 1e-3), q: 0.5, want: 2*us + 2*us*50/99},
		{name: "tail p99", obs: append(repeat(3*us, 99), 1e-3), q: 0.99, want: 4 * us},
		{name: "tail p100", obs: append(repeat(3*us, 99), 1e-3), q: 1, want: durationBuckets[10]},
		// Past the last bound: the last finite bound, as histogram_quantile.
		{name: "overflow", obs: []float64{10}, q: 0.99, want: durationBuckets[numDurationBuckets-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var l latency
			for _, d := range tt.obs {
				l.observe(d)
			}
			if got := l.quantile(tt.q); math.Abs(got-tt.want) > 1e-12 {
				t.Fatalf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestLatencyObserveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	var l latency
	if n := testing.AllocsPerRun(100, func() { l.observe(3e-6) }); n != 0 {
		t.Fatalf("observe allocates %v times", n)
	}
}
