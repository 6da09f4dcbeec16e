package ledger

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// A provisional row's segment outlives the commit of its other rows until
// the Hold is released; the provisional row never reaches the store, its
// final row does; nothing is left after Close.
func TestProvisionalKeepsItsSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink := newMemSink()
	w, err := New(sink, Config{SpillDir: dir, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	holding := func() bool {
		for _, p := range nonEmptySegments(t, dir) {
			b, _ := os.ReadFile(p)
			found := false
			decodeRecords(b, func(r store.UsageRow, provisional bool) { found = found || r.ID == "req-0" && provisional })
			if found {
				return true
			}
		}
		return false
	}
	pr := provisionalRow(0)
	h := w.Provisional(&pr)
	other := row(1)
	w.Record(&other)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sink.count() != 1 || !holding() {
		t.Fatalf("after the commit of the segment's other row: %d rows stored, provisional row on disk %v", sink.count(), holding())
	}
	fr := finalRow(0)
	w.Record(&fr)
	h.Release()
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if holding() {
		t.Fatal("the released segment was not deleted")
	}
	sink.mu.Lock()
	got := sink.rows["req-0"]
	sink.mu.Unlock()
	if got.Savings.IDEBoilerplate != 0.25 {
		t.Fatalf("stored %+v, want the final row", got)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if segs := nonEmptySegments(t, dir); len(segs) != 0 {
		t.Fatalf("after Close: %v", segs)
	}
	// Without the journal, Provisional holds nothing.
	w2, err := New(newMemSink(), Config{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close(context.Background())
	if h := w2.Provisional(&pr); h.seg != nil {
		t.Fatal("a Hold without a journal")
	}
}

func TestProvisionalAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	w, err := New(newMemSink(), Config{SpillDir: t.TempDir(), FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	r := provisionalRow(0)
	if n := testing.AllocsPerRun(100, func() { w.Provisional(&r).Release() }); n != 0 {
		t.Fatalf("Provisional allocates %v times", n)
	}
}
