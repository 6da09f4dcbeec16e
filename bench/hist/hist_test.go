package hist

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

func TestIndexBoundsRoundTrip(t *testing.T) {
	t.Parallel()
	vals := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 123456789, 1<<40 + 12345, math.MaxUint64 / 3, math.MaxUint64}
	for _, v := range vals {
		i := index(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("index(%d) = %d out of range", v, i)
		}
		lo, w := bounds(i)
		if v < lo || v-lo >= w {
			t.Fatalf("value %d not in bucket %d [%d, %d+%d)", v, i, lo, lo, w)
		}
		if v >= subCount && float64(w)/float64(lo) > 1.0/half+1e-12 {
			t.Fatalf("bucket %d too wide: %d at %d", i, w, lo)
		}
	}
	// Buckets are contiguous and increasing.
	prevEnd := uint64(0)
	for i := 0; i < numBuckets-1; i++ {
		lo, w := bounds(i)
		if lo != prevEnd {
			t.Fatalf("bucket %d starts at %d, want %d", i, lo, prevEnd)
		}
		prevEnd = lo + w
	}
}

func TestQuantiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []uint64
	}{
		{name: "uniform-us", values: seq(1, 100000, 1000)},
		{name: "small-exact", values: seq(1, 100, 1)},
		{name: "random-lognormal", values: lognormal(50000)},
		{name: "single", values: []uint64{42_000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := New()
			for _, v := range tc.values {
				h.RecordValue(v)
			}
			sorted := append([]uint64(nil), tc.values...)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
				rank := int(math.Ceil(q*float64(len(sorted)))) - 1
				want := float64(sorted[rank])
				got := float64(h.Quantile(q))
				if rel := math.Abs(got-want) / want; rel > 0.008 {
					t.Errorf("q%.3f = %.0f, want %.0f (rel err %.4f)", q, got, want, rel)
				}
			}
			if h.Min() != time.Duration(sorted[0]) || h.Max() != time.Duration(sorted[len(sorted)-1]) {
				t.Errorf("min/max = %v/%v, want %d/%d", h.Min(), h.Max(), sorted[0], sorted[len(sorted)-1])
			}
			if h.Count() != uint64(len(sorted)) {
				t.Errorf("count = %d", h.Count())
			}
		})
	}
}

func TestMergeAndEmpty(t *testing.T) {
	t.Parallel()
	a, b, all := New(), New(), New()
	for i, v := range lognormal(10000) {
		all.RecordValue(v)
		if i%2 == 0 {
			a.RecordValue(v)
		} else {
			b.RecordValue(v)
		}
	}
	a.Merge(b)
	a.Merge(New())
	for _, q := range []float64{0, 0.5, 0.99, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged q%v = %v, want %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Mean() != all.Mean() {
		t.Errorf("merged mean %v, want %v", a.Mean(), all.Mean())
	}
	e := New()
	if e.Quantile(0.5) != 0 || e.Min() != 0 || e.Max() != 0 || e.Mean() != 0 {
		t.Error("empty histogram should answer zeros")
	}
	e.Record(-time.Second)
	if e.Max() != 0 {
		t.Error("negative duration should count as 0")
	}
	if s := all.Summarize(); s.Count != 10000 || s.P50 <= 0 || s.P999 < s.P99 || s.Max < s.P999 {
		t.Errorf("summary not monotone: %+v", s)
	}
}

func TestRecordAllocs(t *testing.T) {
	h := New()
	if n := testing.AllocsPerRun(1000, func() { h.Record(1234 * time.Microsecond) }); n != 0 {
		t.Fatalf("Record allocates %v per call", n)
	}
}

func seq(from, to, step uint64) []uint64 {
	var out []uint64
	for v := from; v <= to; v += step {
		out = append(out, v)
	}
	return out
}

func lognormal(n int) []uint64 {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(math.Exp(r.NormFloat64()*1.5 + 11)) // around 60 µs, heavy tail
	}
	return out
}

func BenchmarkRecord(b *testing.B) {
	h := New()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.RecordValue(uint64(i))
	}
}
