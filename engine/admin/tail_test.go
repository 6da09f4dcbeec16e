package admin

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/aigateway/gateway/engine/store"
)

// TestTailRing: the ring keeps the last n rows in order across its growth
// and its wrap-around, and a poll from before it finds what it still holds.
func TestTailRing(t *testing.T) {
	tr := NewTail(5)
	for i := 1; i <= 12; i++ {
		tr.Add([]store.UsageRow{{ID: "r" + strconv.Itoa(i)}})
		rows, next, _ := tr.Since(0, TailFilter{}, 100)
		want := min(i, 5)
		if len(rows) != want || next != int64(i) || rows[len(rows)-1].ID != "r"+strconv.Itoa(i) || rows[0].Seq != int64(i-want+1) {
			t.Fatalf("after %d rows: %d rows, next %d, last %+v", i, len(rows), next, rows[len(rows)-1])
		}
	}
	if rows, _, _ := tr.Since(10, TailFilter{}, 100); len(rows) != 2 || rows[0].ID != "r11" {
		t.Fatalf("since 10: %+v", rows)
	}
}

// TestEmptyTailAllocs: an empty tail holds no ring; it grows with the rows
// (the full ring of 1,000 rows is ~680 KB).
func TestEmptyTailAllocs(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tr := NewTail(0)
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<10 {
		t.Fatalf("an empty tail allocates %d bytes, budget 1 KiB", n)
	}
	runtime.KeepAlive(tr)
}
