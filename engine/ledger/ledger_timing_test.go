package ledger

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// nopSink accepts every batch at once.
type nopSink struct{}

func (nopSink) InsertUsage(_ context.Context, rows []store.UsageRow) (int, error) {
	return len(rows), nil
}

// BenchmarkRecord measures the request path's cost of the ledger: one
// Record of a realistic row, from every core at once, the flusher's work
// (copy, batch, write to a sink that costs nothing) included since it
// shares the cores. Each goroutine yields every 256 rows, as a request
// does many times at its network reads and writes: a loop that never
// yields starves the flusher for a whole scheduler slice and measures a
// backlog of ~10^5 rows (and its GC scans) that never builds in serving.
func BenchmarkRecord(b *testing.B) {
	w, err := New(nopSink{}, Config{FlushInterval: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(context.Background())
	r := row(1)
	r.RequestedModel, r.Provider, r.Cache, r.KeyID = "gpt-4o-mini", "openai", "miss", "key_0123456789012345678901"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			w.Record(&r)
			if i&255 == 255 {
				runtime.Gosched()
			}
		}
	})
}

// TestRecordAllocs: Record allocates nothing in steady state.
func TestRecordAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	w, err := New(nopSink{}, Config{FlushInterval: time.Hour, BatchRows: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	r := row(1)
	for range 2000 { // grow the queue first
		w.Record(&r)
	}
	_ = w.Flush(context.Background())
	for range 2000 {
		w.Record(&r)
	}
	_ = w.Flush(context.Background())
	if n := testing.AllocsPerRun(1000, func() { w.Record(&r) }); n != 0 {
		t.Fatalf("Record allocates %v times per call", n)
	}
}

// BenchmarkRecordSerial is Record from one goroutine: the uncontended cost,
// without and with the journal (one write(2) of the row per Record).
func BenchmarkRecordSerial(b *testing.B) {
	for _, journal := range []bool{false, true} {
		name := "memory"
		if journal {
			name = "journal"
		}
		b.Run(name, func(b *testing.B) {
			w := benchWriter(b, journal)
			r := benchRow()
			b.ReportAllocs()
			c0 := processCPU()
			for i := 0; b.Loop(); i++ {
				w.Record(&r)
				if i&255 == 255 {
					runtime.Gosched()
				}
			}
			// The process's CPU time per row: the flusher's and the
			// journal toucher's work included, and, unlike ns/op, not
			// inflated by other processes on a loaded machine.
			b.ReportMetric(float64(processCPU()-c0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkRecordJournal is BenchmarkRecord with the journal on: every
// core recording at once, each Record a write(2) to the shared segment.
func BenchmarkRecordJournal(b *testing.B) {
	w := benchWriter(b, true)
	r := benchRow()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			w.Record(&r)
			if i&255 == 255 {
				runtime.Gosched()
			}
		}
	})
}

// BenchmarkAppendRow is the journal's encoding of one row.
func BenchmarkAppendRow(b *testing.B) {
	r := benchRow()
	buf := appendRow(nil, &r)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendRow(buf[:0], &r)
	}
}

func benchRow() store.UsageRow {
	r := row(1)
	r.RequestedModel, r.Provider, r.Cache, r.KeyID = "gpt-4o-mini", "openai", "miss", "key_0123456789012345678901"
	r.ID = "01JEXAMPLE0REQUEST0ID0000000"
	r.LatencyMS, r.UpstreamMS = 12.3456, 11.9876
	return r
}

// benchWriter is a Writer over a sink that costs nothing; with the
// journal, in a spill directory of b's own.
func benchWriter(b *testing.B, journal bool) *Writer {
	cfg := Config{FlushInterval: 100 * time.Millisecond}
	if journal {
		cfg.SpillDir = b.TempDir()
	}
	w, err := New(nopSink{}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.Close(context.Background()) })
	return w
}

// TestRecordJournalAllocs: with the journal, Record still allocates
// nothing in steady state.
func TestRecordJournalAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	w, err := New(nopSink{}, Config{FlushInterval: time.Hour, BatchRows: 1 << 20, SpillDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	r := benchRow()
	for range 2000 {
		w.Record(&r)
	}
	_ = w.Flush(context.Background())
	for range 2000 {
		w.Record(&r)
	}
	_ = w.Flush(context.Background())
	if n := testing.AllocsPerRun(1000, func() { w.Record(&r) }); n != 0 {
		t.Fatalf("Record with the journal allocates %v times per call", n)
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
