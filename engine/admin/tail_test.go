package admin

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

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

// TestTailAddAllocs: the tail copies a row's strings (they may point into
// the writer's reused buffers) but shares the fields that repeat from the
// previous row: a batch of rows that differ only in their request id costs
// one copy per row and the batch's wake channel. The copies outlive the
// buffer they came from.
func TestTailAddAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	buf := []byte("req-0000proj-akey-1/v1/chat/completionsautoopenai/gpt-4o-miniopenaibypassrouter: local tier")
	at := func(i, j int) string { return unsafe.String(&buf[i], j-i) }
	const batch = 10
	rows := make([]store.UsageRow, batch)
	fill := func() {
		for i := range rows {
			buf[7] = byte('0' + i)
			rows[i] = store.UsageRow{ID: at(0, 8), ProjectID: at(8, 14), KeyID: at(14, 19), Endpoint: at(19, 39),
				RequestedModel: at(39, 43), ServedModel: at(43, 61), Provider: at(61, 67), Cache: at(67, 73), RouteReason: at(73, len(buf))}
			rows[i].ID = strings.Clone(rows[i].ID) // each row its own id, as the writer's are
		}
	}
	fill()
	tr := NewTail(100)
	tr.Add(rows)
	n := testing.AllocsPerRun(100, func() { tr.Add(rows) })
	if n > batch+1 {
		t.Errorf("Add of %d rows allocates %.0f times, want at most %d (one id each and the wake channel)", batch, n, batch+1)
	}
	for i := range buf {
		buf[i] = 'x' // the writer reuses its buffer
	}
	got, _, _ := tr.Since(0, TailFilter{}, 1)
	r := got[0]
	if r.ProjectID != "proj-a" || r.ServedModel != "openai/gpt-4o-mini" || r.RouteReason != "router: local tier" || r.Cache != "bypass" {
		t.Fatalf("the tail's row changed with the writer's buffer: %+v", r.UsageRow)
	}
}
