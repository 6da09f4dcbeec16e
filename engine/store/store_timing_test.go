package store

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aigateway/gateway/engine/internal/pgtest"
)

// BenchmarkInsertUsage is the ledger's flush path (AppendUsage): batches of new rows, one
// transaction per batch (a group commit; the ledger writes up to 1000 rows
// at once). It reports rows/s and the process's CPU time per row (user +
// system, from getrusage: on SQLite that is the whole cost, the engine runs
// in this process; on PostgreSQL only the client's share, the server works
// in its own processes).
func BenchmarkInsertUsage(b *testing.B) {
	for _, bc := range []struct {
		name  string
		batch int
		cfg   func(b *testing.B) Config
	}{
		{"sqlite/batch=100", 100, func(b *testing.B) Config { return Config{DataDir: b.TempDir()} }},
		{"sqlite/batch=1000", 1000, func(b *testing.B) Config { return Config{DataDir: b.TempDir()} }},
		{"postgres/batch=1000", 1000, func(b *testing.B) Config { return Config{URL: pgtest.URL(b)} }},
	} {
		b.Run(bc.name, func(b *testing.B) { benchInsert(b, bc.cfg(b), bc.batch) })
	}
}

func benchInsert(b *testing.B, cfg Config, batch int) {
	s, err := Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rows := make([]UsageRow, batch)
	for i := range rows {
		rows[i] = usageRow(i, t0)
		rows[i].KeyID = "key_0123456789012345678901"
	}
	// Request ids are a per-process random prefix and a counter, written
	// into one reused buffer: the store copies them before AppendUsage
	// returns, and a benchmark that kept every id (a growing slice of
	// strings) spent a third of the CPU it reported on that.
	idBuf := make([]byte, 0, batch*32)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	var n int
	for n = 0; b.Loop(); n++ {
		b.StopTimer()
		idBuf = idBuf[:0]
		for i := range rows {
			start := len(idBuf)
			idBuf = append(idBuf, "9f86d081884c7d65-"...)
			idBuf = strconv.AppendUint(idBuf, uint64(n*batch+i), 16)
			rows[i].ID = unsafe.String(&idBuf[start], len(idBuf)-start) // idBuf never grows: cap is enough
			rows[i].Time = t0.Add(time.Duration(n*batch+i) * 100 * time.Microsecond)
			rows[i].ProjectID = [...]string{"p1", "p2", "p3"}[i%3]
		}
		b.StartTimer()
		if got, err := s.AppendUsage(ctx, rows); err != nil || got != batch {
			b.Fatalf("inserted %d: %v", got, err)
		}
	}
	cpu := cpuTime() - cpu0 // includes the id setup, which is now small
	total := float64(n * batch)
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(cpu.Microseconds())/total, "cpu-µs/row")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLedgerReads is what the chunked SQLite ledger's reads cost with
// 200,000 rows in 200 chunks over a day: a day's usage summary and a day's
// series by the minute (each decodes every row), a request page of 50
// (stops after the newest chunks) and a project's spend since midnight
// plus an hour.
func BenchmarkLedgerReads(b *testing.B) {
	s, err := Open(ctx, Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const chunks, per = 200, 1000
	day := utcDay(t0)
	rows := make([]UsageRow, per)
	for c := range chunks {
		for i := range rows {
			n := c*per + i
			rows[i] = usageRow(n, day.Add(time.Duration(n)*(24*time.Hour/(chunks*per))))
			rows[i].ID = fmt.Sprintf("9f86d081884c7d65-%08x", n)
			rows[i].ProjectID = [...]string{"p1", "p2", "p3"}[n%3]
		}
		if _, err := s.AppendUsage(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("summary-day", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.UsageSummary(ctx, UsageQuery{From: day, To: day.Add(24 * time.Hour), GroupBy: GroupModel}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("series-day-minutes", func(b *testing.B) { // the dashboard's chart of a day
		for b.Loop() {
			if _, err := s.UsageSeries(ctx, SeriesQuery{From: day, To: day.Add(24 * time.Hour), Step: time.Minute}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("page-50", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Requests(ctx, RequestQuery{Project: "p2", Limit: 50}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("spend", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Spend(ctx, "p1", day.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
