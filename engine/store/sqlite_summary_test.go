package store

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// On SQLite, UsageSummary aggregates the chunks in Go; it must give what
// the SQL over ledger_rows gives (the PostgreSQL path's query) for every
// grouping, time range and project, over random rows spread across days
// and chunks. Float sums may differ in their last bits (SQLite's SUM
// compensates rounding), nothing else.
func TestSQLiteSummaryMatchesSQL(t *testing.T) {
	t.Parallel()
	st := open(t, Config{DataDir: t.TempDir()}, nil)
	s := st.(*sqlStore)
	r := rand.New(rand.NewPCG(7, 8))
	for b := range 20 {
		batch := make([]UsageRow, 50+r.IntN(100))
		for i := range batch {
			at := t0.Add(time.Duration(b)*3*time.Hour + time.Duration(r.Int64N(int64(5*time.Hour))))
			batch[i] = randomUsageRow(r, b*1000+i, at.Truncate(time.Microsecond))
		}
		must[int](t)(s.AppendUsage(ctx, batch))
	}
	day := time.Date(t0.Year(), t0.Month(), t0.Day()+1, 0, 0, 0, 0, time.UTC)
	ranges := [][2]time.Time{{}, {day, {}}, {{}, day}, {day.Add(90 * time.Minute), day.Add(26*time.Hour + 7*time.Microsecond)}}
	// Rows exactly on every bound and a microsecond either side of it.
	var edges []UsageRow
	for _, rg := range ranges {
		for _, at := range rg {
			for _, d := range []time.Duration{-time.Microsecond, 0, time.Microsecond} {
				if !at.IsZero() {
					edges = append(edges, randomUsageRow(r, 90000+len(edges), at.Add(d)))
				}
			}
		}
	}
	must[int](t)(s.AppendUsage(ctx, edges))
	for _, g := range []string{GroupNone, GroupDay, GroupProject, GroupModel, GroupKey, GroupProvider, GroupEndpoint, GroupCache} {
		for _, rg := range ranges {
			for _, p := range []string{"", "p1", "проект", "nobody"} {
				q := UsageQuery{GroupBy: g, From: rg[0], To: rg[1], Project: p}
				t.Run(fmt.Sprintf("%s/%d-%d/%s", g, rg[0].Unix(), rg[1].Unix(), p), func(t *testing.T) {
					got := must[[]UsageGroup](t)(s.UsageSummary(ctx, q))
					key, err := s.groupExpr(g)
					if err != nil {
						t.Fatal(err)
					}
					var f filter
					if err := f.timeRange(q.From, q.To); err != nil {
						t.Fatal(err)
					}
					want := must[[]UsageGroup](t)(s.summarySQL(ctx, q, key, f))
					if len(got) != len(want) || (got == nil) != (want == nil) {
						t.Fatalf("%d groups, SQL %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
					}
					for i := range got {
						if !summaryClose(got[i], want[i]) {
							t.Fatalf("group %d:\n got %+v\nwant %+v", i, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

// The same for UsageSeries: every step, bounded range and filter.
func TestSQLiteSeriesMatchesSQL(t *testing.T) {
	t.Parallel()
	st := open(t, Config{DataDir: t.TempDir()}, nil)
	s := st.(*sqlStore)
	r := rand.New(rand.NewPCG(9, 10))
	for b := range 10 {
		batch := make([]UsageRow, 50+r.IntN(100))
		for i := range batch {
			at := t0.Add(time.Duration(b)*3*time.Hour + time.Duration(r.Int64N(int64(5*time.Hour))))
			batch[i] = randomUsageRow(r, b*1000+i, at.Truncate(time.Microsecond))
			// Latencies on and around the histogram's bounds.
			switch i % 4 {
			case 0:
				batch[i].LatencyMS = LatencyBounds[r.IntN(len(LatencyBounds))]
			case 1:
				batch[i].LatencyMS = math.Nextafter(LatencyBounds[r.IntN(len(LatencyBounds))], math.Inf(1))
			case 2:
				batch[i].LatencyMS = r.Float64() * 2 * LatencyBounds[len(LatencyBounds)-1]
			}
		}
		must[int](t)(s.AppendUsage(ctx, batch))
	}
	from := t0.Add(-time.Hour)
	for _, q := range []SeriesQuery{
		{From: from, To: from.Add(40 * time.Hour), Step: time.Minute},
		{From: from, To: from.Add(40 * time.Hour), Step: time.Hour, Project: "p1"},
		{From: from.Add(7 * time.Second), To: from.Add(19*time.Hour + 3*time.Microsecond), Step: 7 * time.Second, Provider: "openai"},
		{From: from, To: from.Add(80 * time.Hour), Step: 24 * time.Hour, Project: "проект", Provider: "anthropic"},
		{From: from, To: from.Add(time.Hour), Step: time.Second, Project: "nobody"},
	} {
		t.Run(fmt.Sprintf("%v/%s/%s", q.Step, q.Project, q.Provider), func(t *testing.T) {
			got := must[[]SeriesPoint](t)(s.UsageSeries(ctx, q))
			f, step, err := seriesFilter(q)
			if err != nil {
				t.Fatal(err)
			}
			want := must[[]SeriesPoint](t)(s.seriesSQL(ctx, f, step))
			if len(got) != len(want) || (got == nil) != (want == nil) {
				t.Fatalf("%d points (nil %v), SQL %d (nil %v)", len(got), got == nil, len(want), want == nil)
			}
			for i := range got {
				if !got[i].Start.Equal(want[i].Start) || got[i].Latency != want[i].Latency || !summaryClose(got[i].UsageGroup, want[i].UsageGroup) {
					t.Fatalf("point %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

// summaryClose compares two groups: integers exactly, floats to 1e-9
// relative.
func summaryClose(a, b UsageGroup) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*math.Max(1, math.Max(math.Abs(x), math.Abs(y))) }
	fa := []float64{a.CostUSD, a.Savings.ResponseCache, a.Savings.ProviderPromptCache, a.Savings.IDEBoilerplate, a.Savings.FileDedup, a.Savings.Routing}
	fb := []float64{b.CostUSD, b.Savings.ResponseCache, b.Savings.ProviderPromptCache, b.Savings.IDEBoilerplate, b.Savings.FileDedup, b.Savings.Routing}
	for i := range fa {
		if !near(fa[i], fb[i]) {
			return false
		}
	}
	a.CostUSD, a.Savings, b.CostUSD, b.Savings = 0, Savings{}, 0, Savings{}
	return a == b
}

// The ledger's commits do not fsync (synchronous NORMAL for their own
// transaction only); the WAL is fsynced within ledgerSyncEvery, and the
// writer connection is back to FULL for every other write.
func TestSQLiteLedgerCommitsSyncWithinASecond(t *testing.T) {
	st := open(t, Config{DataDir: t.TempDir()}, nil)
	b := st.(*sqlStore).b.(*sqliteBackend)
	before := walSyncs.Load()
	must[int](t)(st.AppendUsage(ctx, []UsageRow{usageRow(1, t0)}))
	if !b.walDirty.Load() && walSyncs.Load() == before {
		t.Fatal("a ledger commit left no fsync to do")
	}
	var mode int
	if err := b.w.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("writer connection synchronous = %d (%v), want 2 (FULL)", mode, err)
	}
	deadline := time.Now().Add(3 * ledgerSyncEvery)
	for walSyncs.Load() == before || b.walDirty.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("the WAL was not fsynced within %v of the commit", 3*ledgerSyncEvery)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := must[RequestPage](t)(st.Requests(ctx, RequestQuery{Limit: 10})); len(got.Rows) != 1 {
		t.Fatalf("%d rows", len(got.Rows))
	}
}
