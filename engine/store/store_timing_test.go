package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/pgtest"
)

// BenchmarkInsertUsage writes batches of 500 new ledger rows, the size of
// a group commit under load: one transaction per batch.
func BenchmarkInsertUsage(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  func(b *testing.B) Config
	}{
		{"sqlite", func(b *testing.B) Config { return Config{DataDir: b.TempDir()} }},
		{"postgres", func(b *testing.B) Config { return Config{URL: pgtest.URL(b)} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(ctx, bc.cfg(b))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const batch = 500
			rows := make([]UsageRow, batch)
			for i := range rows {
				rows[i] = usageRow(i, t0)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; b.Loop(); n++ {
				b.StopTimer() // the ids are the benchmark's allocations, not the store's
				for i := range rows {
					rows[i].ID = fmt.Sprintf("req_%09d_%03d", n, i)
					rows[i].Time = t0.Add(time.Duration(n*batch+i) * time.Microsecond)
				}
				b.StartTimer()
				if got, err := s.InsertUsage(ctx, rows); err != nil || got != batch {
					b.Fatalf("inserted %d: %v", got, err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
