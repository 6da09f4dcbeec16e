package ledger

import (
	"context"
	"runtime"
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

// BenchmarkRecordSerial is Record from one goroutine: the uncontended cost.
func BenchmarkRecordSerial(b *testing.B) {
	w, err := New(nopSink{}, Config{FlushInterval: 100 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(context.Background())
	r := row(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Record(&r)
		if i&255 == 255 {
			runtime.Gosched()
		}
	}
}
