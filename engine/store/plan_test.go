package store

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/pgtest"
)

// planBackend records the SQL a store sends, to explain it afterwards.
type planBackend struct {
	backend
	mu   sync.Mutex
	seen []plannedQuery
}

type plannedQuery struct {
	sql  string
	args []any
}

func (p *planBackend) record(q string, args []any) {
	if strings.Contains(q, "usage_ledger") || strings.Contains(q, sqliteLedgerTable) {
		p.mu.Lock()
		p.seen = append(p.seen, plannedQuery{q, args})
		p.mu.Unlock()
	}
}

func (p *planBackend) exec(ctx context.Context, q string, args ...any) (int64, error) {
	p.record(q, args)
	return p.backend.exec(ctx, q, args...)
}

func (p *planBackend) query(ctx context.Context, q string, args ...any) (rows, error) {
	p.record(q, args)
	return p.backend.query(ctx, q, args...)
}

func (p *planBackend) queryRow(ctx context.Context, q string, args ...any) row {
	p.record(q, args)
	return p.backend.queryRow(ctx, q, args...)
}

// TestSQLiteLedgerQueryPlans runs every ledger read the admin API and the
// dashboard make (usage summaries in each grouping, series, request pages
// with each filter and a cursor, spend), each with a time range or a
// project, and asks SQLite how it runs them: every one must pass its
// bounds to the chunked ledger's table (no full scan), and a request page
// must come out of the table in its order (no sort). (Pruning is not SQL
// on SQLite: pruneUsage.)
func TestSQLiteLedgerQueryPlans(t *testing.T) {
	t.Parallel()
	s := open(t, Config{DataDir: t.TempDir()}, nil).(*sqlStore)
	pb := &planBackend{backend: s.b}
	s.b = pb
	var rows []UsageRow
	for i := range 50 {
		r := usageRow(i, t0.Add(time.Duration(i)*time.Minute))
		r.ProjectID = []string{"p1", "p2"}[i%2]
		rows = append(rows, r)
	}
	if _, err := s.InsertUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	from, to := t0, t0.Add(time.Hour)
	for _, g := range []string{GroupNone, GroupDay, GroupProject, GroupModel, GroupKey, GroupProvider, GroupEndpoint, GroupCache} {
		for _, p := range []string{"", "p1"} {
			must[[]UsageGroup](t)(s.UsageSummary(ctx, UsageQuery{From: from, To: to, GroupBy: g, Project: p}))
		}
		must[[]UsageGroup](t)(s.UsageSummary(ctx, UsageQuery{GroupBy: g, Project: "p1"}))
	}
	for _, p := range []string{"", "p1"} {
		must[[]SeriesPoint](t)(s.UsageSeries(ctx, SeriesQuery{From: from, To: to, Step: time.Minute, Project: p}))
	}
	for _, q := range []RequestQuery{
		{From: from, To: to},
		{From: from},
		{To: to},
		{Project: "p1"},
		{Project: "p1", From: from, To: to},
		{From: from, Key: "k1"},
		{From: from, Model: "gpt-4o-mini", Cache: "hit", StatusMin: 400, StatusMax: 499},
		{From: from, Cache: "miss"},
	} {
		q.Limit = 5
		page := must[RequestPage](t)(s.Requests(ctx, q))
		if page.Next != "" {
			q.Cursor = page.Next
			must[RequestPage](t)(s.Requests(ctx, q))
		}
	}
	must[float64](t)(s.Spend(ctx, "p1", t0))
	must[float64](t)(s.Spend(ctx, "p1", t0.Add(-time.Hour)))
	must[int64](t)(s.PruneUsage(ctx, t0.Add(10*time.Minute)))

	r := pb.backend.(*sqliteBackend).r
	explained := 0
	for _, q := range pb.seen {
		sql := sqliteSQL(q.sql)
		rs, err := r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sql, q.args...)
		if err != nil {
			t.Fatalf("explain %s: %v", sql, err)
		}
		var plan []string
		for rs.Next() {
			var id, parent, notused int
			var detail string
			if err := rs.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rs.Close()
		explained++
		text := strings.Join(plan, "\n")
		for _, d := range plan {
			// Every query bounds ts or names a project: the chunks are
			// chosen by it (the table's idxNum 0 would read them all).
			if strings.HasPrefix(d, "SCAN usage_ledger") || strings.Contains(d, "VIRTUAL TABLE INDEX 0:") {
				t.Errorf("full scan of the ledger:\n%s\nplan:\n%s", sql, text)
			}
		}
		if strings.Contains(sql, "ORDER BY ts DESC") && strings.Contains(text, "TEMP B-TREE FOR ORDER BY") {
			t.Errorf("request page sorted instead of read in key order:\n%s\nplan:\n%s", sql, text)
		}
		if testing.Verbose() {
			t.Logf("%s\n  → %s", strings.Join(strings.Fields(sql), " ")[:min(160, len(strings.Join(strings.Fields(sql), " ")))], strings.ReplaceAll(text, "\n", " | "))
		}
	}
	if explained < 29 {
		t.Fatalf("only %d ledger queries explained", explained)
	}
	var pageSize int
	if err := r.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil || pageSize != 16384 {
		t.Fatalf("page_size of a new database = %d (%v), want 16384", pageSize, err)
	}
}

// TestLedgerMigration5 upgrades a database with ledger rows from the
// schema before migration 5 (every migration below it) and checks that the
// rows survive with the new key: readable in order, and replays still
// skipped. It swaps the package's migration list, so it is not parallel.
func TestLedgerMigration5(t *testing.T) {
	for _, bc := range []struct {
		name string
		cfg  func(t *testing.T) Config
	}{
		{"sqlite", func(t *testing.T) Config { return Config{DataDir: t.TempDir()} }},
		{"postgres", func(t *testing.T) Config { return Config{URL: pgtest.URL(t)} }},
	} {
		t.Run(bc.name, func(t *testing.T) {
			cfg := bc.cfg(t)
			all := migrations
			var before []migration
			for _, m := range all {
				if m.version < 5 {
					before = append(before, m)
				}
			}
			migrations = before
			s, err := Open(ctx, cfg)
			migrations = all
			if err != nil {
				t.Fatal(err)
			}
			var rows []UsageRow
			for i := range 20 {
				// Stored times have microsecond precision.
				rows = append(rows, usageRow(i, t0.Add(time.Duration(i)*time.Second).Truncate(time.Microsecond)))
			}
			// The old schema's insert, as the release before migration 6
			// ran it: the columns of usageColumnsV5 and the daily rollup.
			insertV5(t, s, bc.name == "sqlite", rows)
			s.Close()

			s = open(t, cfg, nil)
			if v := must[int](t)(s.SchemaVersion(ctx)); v != migrations[len(migrations)-1].version {
				t.Fatalf("SchemaVersion = %d after the upgrade", v)
			}
			page := must[RequestPage](t)(s.Requests(ctx, RequestQuery{Limit: 100}))
			if len(page.Rows) != 20 || page.Rows[0] != rows[19] || page.Rows[19] != rows[0] {
				t.Fatalf("after migration 5: %d rows, newest %+v", len(page.Rows), page.Rows[0])
			}
			if n := must[int](t)(s.InsertUsage(ctx, append(rows[:5:5], usageRow(20, t0)))); n != 1 {
				t.Fatalf("replay after migration 5 inserted %d, want 1", n)
			}
			if got := must[float64](t)(s.Spend(ctx, "p1", utcDay(t0))); got != 21*0.25 {
				t.Fatalf("spend after migration 5 = %v, want %v", got, 21*0.25)
			}
		})
	}
}

// TestMigrationVersionsAscend: migrate applies the list in its order, and
// branches add versions independently (4 and 5 were written apart), so a
// merge must keep the list sorted and its versions unique; gaps are fine.
func TestMigrationVersionsAscend(t *testing.T) {
	for i := 1; i < len(migrations); i++ {
		if migrations[i].version <= migrations[i-1].version {
			t.Fatalf("migration %d (%s) follows %d: keep the list in ascending, unique versions",
				migrations[i].version, migrations[i].name, migrations[i-1].version)
		}
	}
}

// insertV5 writes rows as a release before migration 6 did: the columns it
// had, and the daily rollup, in one transaction.
func insertV5(t *testing.T, s Store, sqlite bool, rows []UsageRow) {
	t.Helper()
	ts := func(at time.Time) any {
		if sqlite {
			return at.UnixMicro()
		}
		return at
	}
	ph := make([]string, 25)
	for i := range ph {
		ph[i] = "$" + strconv.Itoa(i+1)
	}
	ins := "INSERT INTO usage_ledger (" + usageColumnsV5 + ") VALUES (" + strings.Join(ph, ", ") + ")"
	err := s.(*sqlStore).b.write(ctx, func(q querier) error {
		cost := 0.0
		for _, u := range rows {
			if _, err := q.exec(ctx, ins, u.ID, ts(u.Time), u.ProjectID, u.KeyID, u.Endpoint, u.RequestedModel, u.ServedModel,
				u.Provider, u.Status, u.ErrorCode, u.PromptTokens, u.CachedTokens, u.CacheWriteTokens, u.CompletionTokens,
				u.CostUSD, u.Savings.ResponseCache, u.Savings.ProviderPromptCache, u.Savings.IDEBoilerplate, u.Savings.FileDedup,
				u.Savings.Routing, u.LatencyMS, u.UpstreamMS, u.Cache, u.RouteReason, u.Stream); err != nil {
				return err
			}
			cost += u.CostUSD
		}
		_, err := q.exec(ctx, "INSERT INTO usage_daily (project_id, day, requests, cost_usd) VALUES ($1, $2, $3, $4)",
			rows[0].ProjectID, ts(utcDay(rows[0].Time)), int64(len(rows)), cost)
		return err
	})
	if err != nil {
		t.Fatalf("insert as before migration 6: %v", err)
	}
}
