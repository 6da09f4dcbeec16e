package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newDB returns the Config of a fresh, empty database of one backend.
type newDB func(t *testing.T) Config

func TestSQLite(t *testing.T) {
	t.Parallel()
	runSuite(t, func(t *testing.T) Config { return Config{DataDir: t.TempDir()} })
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	runSuite(t, func(t *testing.T) Config { return Config{URL: pgtest.URL(t)} })
}

// runSuite is the contract of Store, run against every backend.
func runSuite(t *testing.T, db newDB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db newDB)
	}{
		{"Migrations", testMigrations},
		{"Projects", testProjects},
		{"ProjectPatchJSON", testProjectPatchJSON},
		{"StaticProjects", testStaticProjects},
		{"Keys", testKeys},
		{"Changes", testChanges},
		{"UsageInsert", testUsageInsert},
		{"UsageSummary", testUsageSummary},
		{"UsageSeries", testUsageSeries},
		{"RequestsCacheFilter", testRequestsCacheFilter},
		{"Sessions", testSessions},
		{"Responses", testResponses},
		{"RequestsPaging", testRequestsPaging},
		{"RequestsFilters", testRequestsFilters},
		{"Spend", testSpend},
		{"Thresholds", testThresholds},
		{"Webhooks", testWebhooks},
		{"Outbox", testOutbox},
		{"OutboxConcurrentClaims", testOutboxConcurrentClaims},
		{"Audit", testAudit},
		{"Prune", testPrune},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, db)
		})
	}
}

var t0 = time.Date(2026, 3, 14, 10, 0, 0, 123456789, time.UTC)

// clock is a settable clock shared by the stores of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// open opens a store on cfg and closes it when the test ends.
func open(t *testing.T, cfg Config, c *clock) Store {
	t.Helper()
	if c != nil {
		cfg.Now = c.Now
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func ptr[T any](v T) *T { return &v }

var ctx = context.Background()

func testMigrations(t *testing.T, db newDB) {
	cfg := db(t)
	// Replicas starting together on an empty database: one migrates, the
	// others wait and find the schema complete.
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, cfg)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open %d: %v", i, err)
		}
	}
	s := open(t, cfg, nil)
	p := must[Project](t)(s.CreateProject(ctx, Project{Name: "kept"}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Migrating again is a no-op that keeps the data.
	s = open(t, cfg, nil)
	if v := must[int](t)(s.SchemaVersion(ctx)); v != migrations[len(migrations)-1].version {
		t.Fatalf("SchemaVersion = %d, want %d", v, migrations[len(migrations)-1].version)
	}
	if got := must[Project](t)(s.Project(ctx, p.ID)); got.Name != "kept" {
		t.Fatalf("project after reopen = %+v", got)
	}
}

func testProjects(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)

	p := must[Project](t)(s.CreateProject(ctx, Project{Name: " Team A ", RPM: 60, Models: []string{"gpt-4o", " fast ", "gpt-4o"}}))
	want := Project{
		ID: p.ID, Name: "Team A", RPM: 60, BudgetPeriod: PeriodMonth, Models: []string{"gpt-4o", "fast"},
		CacheNamespace: p.ID, CreatedAt: utc(t0), UpdatedAt: utc(t0),
	}
	if !strings.HasPrefix(p.ID, "proj_") || len(p.ID) != len("proj_")+22 {
		t.Fatalf("generated id %q", p.ID)
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("created\n got %+v\nwant %+v", p, want)
	}
	if got := must[Project](t)(s.Project(ctx, p.ID)); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored\n got %+v\nwant %+v", got, want)
	}

	c.Advance(time.Second)
	q := must[Project](t)(s.CreateProject(ctx, Project{ID: "team-b", Name: "B", BudgetUSD: 12.5, BudgetPeriod: PeriodDay,
		Skills: ptr(true), StripBoilerplate: ptr(false), CacheNamespace: "shared", DefaultModel: "claude-sonnet-4-0", TPM: 1000}))
	if _, err := s.CreateProject(ctx, Project{ID: "team-b", Name: "again"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate id: %v", err)
	}
	list := must[[]Project](t)(s.ListProjects(ctx))
	if len(list) != 2 || list[0].ID != p.ID || list[1].ID != "team-b" || !reflect.DeepEqual(list[1], q) {
		t.Fatalf("list = %+v", list)
	}

	for _, bad := range []Project{
		{Name: ""}, {Name: "x", RPM: -1}, {Name: "x", BudgetPeriod: "week"}, {Name: "x", BudgetUSD: -1},
		{Name: "x", Models: []string{""}}, {ID: "no spaces", Name: "x"}, {Name: "x", Static: true},
	} {
		if _, err := s.CreateProject(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateProject(%+v) = %v, want ErrInvalid", bad, err)
		}
	}

	// PATCH: only the fields set change.
	c.Advance(time.Second)
	up := must[Project](t)(s.UpdateProject(ctx, "team-b", ProjectPatch{RPM: SetTo[int64](30), Skills: SetTo[*bool](nil), Models: SetTo([]string{"tier:cheap"})}))
	want = q
	want.RPM, want.Skills, want.Models, want.UpdatedAt = 30, nil, []string{"tier:cheap"}, utc(c.Now())
	if !reflect.DeepEqual(up, want) {
		t.Fatalf("patched\n got %+v\nwant %+v", up, want)
	}
	if got := must[Project](t)(s.Project(ctx, "team-b")); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored patch\n got %+v\nwant %+v", got, want)
	}
	// Clearing the namespace falls back to the id; a bad value changes nothing.
	up = must[Project](t)(s.UpdateProject(ctx, "team-b", ProjectPatch{CacheNamespace: SetTo(""), Models: SetTo[[]string](nil)}))
	if up.CacheNamespace != "team-b" || up.Models != nil {
		t.Fatalf("cleared: %+v", up)
	}
	if _, err := s.UpdateProject(ctx, "team-b", ProjectPatch{BudgetPeriod: SetTo("year"), RPM: SetTo[int64](1)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad patch: %v", err)
	}
	if got := must[Project](t)(s.Project(ctx, "team-b")); got.RPM != 30 {
		t.Fatalf("a refused patch was applied: %+v", got)
	}
	_, err := s.UpdateProject(ctx, "nope", ProjectPatch{})
	wantErr(t, err, ErrNotFound)

	if err := s.DeleteProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Project(ctx, p.ID)
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.DeleteProject(ctx, p.ID), ErrNotFound)
}

func testProjectPatchJSON(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	p := must[Project](t)(s.CreateProject(ctx, Project{Name: "j", RPM: 5, Skills: ptr(true), DefaultModel: "m"}))
	var patch ProjectPatch
	if err := json.Unmarshal([]byte(`{"tpm": 7, "skills": null, "strip_boilerplate": true}`), &patch); err != nil {
		t.Fatal(err)
	}
	if patch.Name.Set || patch.RPM.Set || !patch.TPM.Set || !patch.Skills.Set || patch.Skills.Value != nil {
		t.Fatalf("decoded %+v", patch)
	}
	got := must[Project](t)(s.UpdateProject(ctx, p.ID, patch))
	if got.Name != "j" || got.RPM != 5 || got.TPM != 7 || got.Skills != nil || got.StripBoilerplate == nil || !*got.StripBoilerplate || got.DefaultModel != "m" {
		t.Fatalf("after JSON patch: %+v", got)
	}
}

func testStaticProjects(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)
	a := Project{ID: "static-a", Name: "A", RPM: 10}
	b := Project{ID: "static-b", Name: "B", Models: []string{"gpt-4o"}}
	if err := s.SyncStatic(ctx, []Project{a, b}); err != nil {
		t.Fatal(err)
	}
	got := must[Project](t)(s.Project(ctx, "static-a"))
	if !got.Static || got.RPM != 10 || got.CacheNamespace != "static-a" {
		t.Fatalf("static a = %+v", got)
	}
	_, err := s.UpdateProject(ctx, "static-a", ProjectPatch{RPM: SetTo[int64](1)})
	wantErr(t, err, ErrReadOnly)
	wantErr(t, s.DeleteProject(ctx, "static-a"), ErrReadOnly)

	// Keys may be issued for a static project.
	kb := must[CreatedKey](t)(s.CreateKey(ctx, NewKey{ProjectID: "static-b"}))

	// The same list again changes nothing, not even the version.
	v := must[int64](t)(s.ConfigVersion(ctx))
	if err := s.SyncStatic(ctx, []Project{a, b}); err != nil {
		t.Fatal(err)
	}
	if v2 := must[int64](t)(s.ConfigVersion(ctx)); v2 != v {
		t.Fatalf("a no-op sync bumped the version %d → %d", v, v2)
	}

	// A changed list: a updated (created_at kept), b gone with its keys.
	c.Advance(time.Minute)
	a.RPM = 20
	if err := s.SyncStatic(ctx, []Project{a}); err != nil {
		t.Fatal(err)
	}
	got = must[Project](t)(s.Project(ctx, "static-a"))
	if got.RPM != 20 || !got.CreatedAt.Equal(utc(t0)) || !got.UpdatedAt.Equal(utc(c.Now())) {
		t.Fatalf("updated static a = %+v", got)
	}
	_, err = s.Project(ctx, "static-b")
	wantErr(t, err, ErrNotFound)
	_, err = s.KeyByHash(ctx, HashKey(kb.Secret))
	wantErr(t, err, ErrKeyRevoked)
	ch := must[Changes](t)(s.ChangesSince(ctx, v))
	if !reflect.DeepEqual(ch.Projects, []string{"static-a", "static-b"}) || !reflect.DeepEqual(ch.Keys, []string{kb.ID}) {
		t.Fatalf("changes = %+v", ch)
	}

	// A static id may not shadow a dynamic project.
	must[Project](t)(s.CreateProject(ctx, Project{ID: "dyn", Name: "D"}))
	wantErr(t, s.SyncStatic(ctx, []Project{a, {ID: "dyn", Name: "X"}}), ErrConflict)
	wantErr(t, s.SyncStatic(ctx, []Project{a, a}), ErrInvalid)
	if got := must[Project](t)(s.Project(ctx, "dyn")); got.Static || got.Name != "D" {
		t.Fatalf("dynamic project touched: %+v", got)
	}
}

func testKeys(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)
	p := must[Project](t)(s.CreateProject(ctx, Project{Name: "k"}))

	k := must[CreatedKey](t)(s.CreateKey(ctx, NewKey{ProjectID: p.ID, Name: "ci"}))
	if !strings.HasPrefix(k.Secret, "sk-gw-") || len(k.Secret) != 6+43 || k.Prefix != k.Secret[:12] {
		t.Fatalf("secret %q prefix %q", k.Secret, k.Prefix)
	}
	if !strings.HasPrefix(k.ID, "key_") || k.Hash != HashKey(k.Secret) {
		t.Fatalf("key %+v", k.Key)
	}
	got := must[Key](t)(s.KeyByHash(ctx, HashKey(k.Secret)))
	if !reflect.DeepEqual(got, k.Key) {
		t.Fatalf("KeyByHash\n got %+v\nwant %+v", got, k.Key)
	}
	_, err := s.KeyByHash(ctx, HashKey(k.Secret+"x"))
	wantErr(t, err, ErrNotFound)
	_, err = s.CreateKey(ctx, NewKey{ProjectID: "nope"})
	wantErr(t, err, ErrNotFound)
	_, err = s.CreateKey(ctx, NewKey{ProjectID: p.ID, ExpiresAt: c.Now().Add(-time.Second)})
	wantErr(t, err, ErrInvalid)

	// Expiry, by the store's clock.
	c.Advance(time.Millisecond)
	exp := must[CreatedKey](t)(s.CreateKey(ctx, NewKey{ProjectID: p.ID, ExpiresAt: c.Now().Add(time.Hour)}))
	must[Key](t)(s.KeyByHash(ctx, HashKey(exp.Secret)))
	c.Advance(2 * time.Hour)
	got, err = s.KeyByHash(ctx, HashKey(exp.Secret))
	wantErr(t, err, ErrKeyExpired)
	if got.ID != exp.ID {
		t.Fatalf("expired key not returned: %+v", got)
	}

	// Revocation is distinct from expiry, and idempotent.
	if err := s.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	got, err = s.KeyByHash(ctx, HashKey(k.Secret))
	wantErr(t, err, ErrKeyRevoked)
	if !got.RevokedAt.Equal(utc(c.Now())) {
		t.Fatalf("revoked_at = %v", got.RevokedAt)
	}
	if err := s.RevokeKey(ctx, k.ID); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	wantErr(t, s.RevokeKey(ctx, "key_nope"), ErrNotFound)

	// last_used_at only moves forward.
	t1 := c.Now().Add(time.Minute)
	if err := s.TouchKeys(ctx, map[string]time.Time{exp.ID: t1, k.ID: t1, "key_unknown": t1}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchKeys(ctx, map[string]time.Time{exp.ID: t1.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := must[Key](t)(s.Key(ctx, exp.ID)); !got.LastUsedAt.Equal(utc(t1)) {
		t.Fatalf("last_used_at = %v, want %v", got.LastUsedAt, t1)
	}

	keys := must[[]Key](t)(s.ListKeys(ctx, p.ID))
	if len(keys) != 2 || keys[0].ID != k.ID || keys[1].ID != exp.ID {
		t.Fatalf("ListKeys = %+v", keys)
	}
	_, err = s.ListKeys(ctx, "nope")
	wantErr(t, err, ErrNotFound)

	// Deleting the project revokes what is left.
	live := must[CreatedKey](t)(s.CreateKey(ctx, NewKey{ProjectID: p.ID}))
	if err := s.DeleteProject(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.KeyByHash(ctx, HashKey(live.Secret))
	wantErr(t, err, ErrKeyRevoked)
}

func testChanges(t *testing.T, db newDB) {
	cfg := db(t)
	a, b := open(t, cfg, nil), open(t, cfg, nil) // two replicas
	if ch := must[Changes](t)(b.ChangesSince(ctx, -1)); !ch.Reset {
		t.Fatalf("since -1: %+v", ch)
	}
	v0 := must[int64](t)(b.ConfigVersion(ctx))
	p := must[Project](t)(a.CreateProject(ctx, Project{Name: "c"}))
	k := must[CreatedKey](t)(a.CreateKey(ctx, NewKey{ProjectID: p.ID}))
	ch := must[Changes](t)(b.ChangesSince(ctx, v0))
	if ch.Reset || ch.Version != v0+2 || !reflect.DeepEqual(ch.Projects, []string{p.ID}) || !reflect.DeepEqual(ch.Keys, []string{k.ID}) {
		t.Fatalf("changes = %+v", ch)
	}
	if err := a.TouchKeys(ctx, map[string]time.Time{k.ID: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if ch2 := must[Changes](t)(b.ChangesSince(ctx, ch.Version)); ch2.Version != ch.Version || ch2.Reset || len(ch2.Keys)+len(ch2.Projects) != 0 {
		t.Fatalf("touch counted as a change: %+v", ch2)
	}
	if err := a.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	must[Project](t)(a.UpdateProject(ctx, p.ID, ProjectPatch{RPM: SetTo[int64](9)}))
	ch = must[Changes](t)(b.ChangesSince(ctx, ch.Version))
	if ch.Version != v0+4 || !reflect.DeepEqual(ch.Projects, []string{p.ID}) || !reflect.DeepEqual(ch.Keys, []string{k.ID}) {
		t.Fatalf("changes = %+v", ch)
	}
	if ch := must[Changes](t)(b.ChangesSince(ctx, v0+100)); !ch.Reset || ch.Version != v0+4 {
		t.Fatalf("since the future: %+v", ch)
	}
	// A failed write bumps nothing.
	_, err := a.CreateProject(ctx, Project{ID: p.ID, Name: "dup"})
	wantErr(t, err, ErrConflict)
	if v := must[int64](t)(b.ConfigVersion(ctx)); v != v0+4 {
		t.Fatalf("version after a failed write = %d, want %d", v, v0+4)
	}
}

// usageRow returns a fully populated row, every field distinct.
func usageRow(i int, at time.Time) UsageRow {
	return UsageRow{
		ID: fmt.Sprintf("req_%04d", i), Time: at, ProjectID: "p1", KeyID: "k1", Endpoint: EndpointChat,
		RequestedModel: "auto", ServedModel: "gpt-4o-mini", Provider: "openai", Status: 200,
		PromptTokens: int64(100 + i), CachedTokens: 10, CacheWriteTokens: 5, CompletionTokens: 20,
		CostUSD: 0.25, Savings: Savings{ResponseCache: 0.5, ProviderPromptCache: 0.125, IDEBoilerplate: 0.0625, FileDedup: 0.03125, Routing: 1},
		LatencyMS: 12.345, UpstreamMS: 11.5, Cache: "miss", RouteReason: "simple", Stream: i%2 == 0,
	}
}

func testUsageInsert(t *testing.T, db newDB) {
	cfg := db(t)
	s := open(t, cfg, nil)
	var rows []UsageRow
	for i := range 10 {
		rows = append(rows, usageRow(i, t0.Add(time.Duration(i)*time.Second)))
	}
	rows[3].Status, rows[3].ErrorCode, rows[3].ServedModel = 429, "rate_limited", ""
	if n := must[int](t)(s.InsertUsage(ctx, rows)); n != 10 {
		t.Fatalf("inserted %d, want 10", n)
	}
	// Replaying a batch (a spill file) stores nothing twice; new rows go in,
	// duplicates within one batch count once.
	replay := append(slices.Clone(rows), usageRow(10, t0), usageRow(11, t0), usageRow(11, t0))
	if n := must[int](t)(s.InsertUsage(ctx, replay)); n != 2 {
		t.Fatalf("replay inserted %d, want 2", n)
	}
	// The daily rollup behind Spend counted each row once.
	var cost float64
	for _, r := range replay[:12] {
		cost += r.CostUSD
	}
	if got := must[float64](t)(s.Spend(ctx, "p1", time.Time{})); got != cost {
		t.Fatalf("spend after replays = %v, want %v", got, cost)
	}
	if n := must[int](t)(s.InsertUsage(ctx, nil)); n != 0 {
		t.Fatal(n)
	}
	_, err := s.InsertUsage(ctx, []UsageRow{{ID: "", Time: t0}})
	wantErr(t, err, ErrInvalid)
	_, err = s.InsertUsage(ctx, []UsageRow{{ID: "x"}})
	wantErr(t, err, ErrInvalid)

	// Every field round-trips (time truncated to the microsecond, in UTC),
	// and survives a reopen.
	s.Close()
	s = open(t, cfg, nil)
	page := must[RequestPage](t)(s.Requests(ctx, RequestQuery{Limit: 1000}))
	if len(page.Rows) != 12 || page.Next != "" {
		t.Fatalf("%d rows, next %q", len(page.Rows), page.Next)
	}
	byID := map[string]UsageRow{}
	for _, r := range page.Rows {
		byID[r.ID] = r
	}
	for _, r := range rows {
		r.Time = utc(r.Time)
		if got := byID[r.ID]; !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, r)
		}
	}
}

// ledgerFixture inserts a deterministic ledger: 3 days × 2 projects × 3
// models × 2 keys, with costs that are exact binary fractions so that sums
// are exact whatever the order of addition.
func ledgerFixture(t *testing.T, s Store) []UsageRow {
	var rows []UsageRow
	i := 0
	for day := range 3 {
		for _, proj := range []string{"pa", "pb"} {
			for m, model := range []string{"gpt-4o", "claude-sonnet-4-0", ""} {
				for _, key := range []string{"ka", "kb"} {
					i++
					r := UsageRow{
						ID: fmt.Sprintf("r%03d", i), Time: t0.Add(time.Duration(day)*24*time.Hour + time.Duration(i)*time.Minute),
						ProjectID: proj, KeyID: key, Endpoint: EndpointChat, RequestedModel: "req-" + proj,
						ServedModel: model, Provider: "p" + fmt.Sprint(m), Status: 200,
						PromptTokens: int64(i * 10), CachedTokens: int64(i), CacheWriteTokens: int64(i % 3),
						CompletionTokens: int64(i * 2), CostUSD: float64(i) / 64,
						Savings: Savings{ResponseCache: float64(i) / 128, ProviderPromptCache: 0.5, IDEBoilerplate: float64(i%4) / 4, FileDedup: 0.125, Routing: float64(day) / 8},
					}
					if i%5 == 0 {
						r.Status = 500 + i%3
					}
					rows = append(rows, r)
				}
			}
		}
	}
	must[int](t)(s.InsertUsage(ctx, rows))
	return rows
}

// expectSummary aggregates rows in Go the way UsageSummary must.
func expectSummary(rows []UsageRow, q UsageQuery) []UsageGroup {
	groups := map[string]*UsageGroup{}
	for _, r := range rows {
		if !q.From.IsZero() && r.Time.Before(q.From) || !q.To.IsZero() && !r.Time.Before(q.To) || q.Project != "" && r.ProjectID != q.Project {
			continue
		}
		var k string
		switch q.GroupBy {
		case GroupDay:
			k = r.Time.UTC().Format("2006-01-02")
		case GroupProject:
			k = r.ProjectID
		case GroupModel:
			k = r.ServedModel
			if k == "" {
				k = r.RequestedModel
			}
		case GroupKey:
			k = r.KeyID
		case GroupProvider:
			k = r.Provider
		case GroupEndpoint:
			k = r.Endpoint
		case GroupCache:
			k = r.Cache
		}
		g := groups[k]
		if g == nil {
			g = &UsageGroup{Key: k}
			groups[k] = g
		}
		g.Requests++
		if r.Status >= 400 {
			g.Errors++
		}
		g.PromptTokens += r.PromptTokens
		g.CachedTokens += r.CachedTokens
		g.CacheWriteTokens += r.CacheWriteTokens
		g.CompletionTokens += r.CompletionTokens
		g.CostUSD += r.CostUSD
		g.Savings.ResponseCache += r.Savings.ResponseCache
		g.Savings.ProviderPromptCache += r.Savings.ProviderPromptCache
		g.Savings.IDEBoilerplate += r.Savings.IDEBoilerplate
		g.Savings.FileDedup += r.Savings.FileDedup
		g.Savings.Routing += r.Savings.Routing
	}
	if q.GroupBy == GroupNone && len(groups) == 0 {
		return []UsageGroup{{}}
	}
	var out []UsageGroup
	for _, g := range groups {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func testUsageSummary(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	rows := ledgerFixture(t, s)
	day2 := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	for _, q := range []UsageQuery{
		{GroupBy: GroupNone}, {GroupBy: GroupDay}, {GroupBy: GroupProject}, {GroupBy: GroupModel},
		{GroupBy: GroupKey}, {GroupBy: GroupProvider}, {GroupBy: GroupEndpoint}, {GroupBy: GroupCache},
		{GroupBy: GroupModel, Project: "pb"},
		{GroupBy: GroupDay, From: day2},
		{GroupBy: GroupKey, From: day2, To: day2.Add(24 * time.Hour), Project: "pa"},
		{GroupBy: GroupNone, From: rows[4].Time, To: rows[9].Time}, // To is exclusive
		{GroupBy: GroupNone, From: t0.Add(-48 * time.Hour), To: t0.Add(-24 * time.Hour)},
		{GroupBy: GroupDay, Project: "nobody"},
	} {
		t.Run(fmt.Sprintf("%s/%s/%d", q.GroupBy, q.Project, q.From.Unix()), func(t *testing.T) {
			got := must[[]UsageGroup](t)(s.UsageSummary(ctx, q))
			if want := expectSummary(rows, q); !reflect.DeepEqual(got, want) {
				t.Fatalf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
	_, err := s.UsageSummary(ctx, UsageQuery{GroupBy: "week"})
	wantErr(t, err, ErrInvalid)
	_, err = s.UsageSummary(ctx, UsageQuery{From: day2, To: day2})
	wantErr(t, err, ErrInvalid)
}

func testRequestsPaging(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	// 57 rows, several sharing a timestamp so that the id breaks ties.
	var rows []UsageRow
	for i := range 57 {
		rows = append(rows, usageRow(i, t0.Add(time.Duration(i/3)*time.Millisecond)))
	}
	must[int](t)(s.InsertUsage(ctx, rows))
	want := slices.Clone(rows)
	sort.Slice(want, func(i, j int) bool {
		if !want[i].Time.Equal(want[j].Time) {
			return want[i].Time.After(want[j].Time)
		}
		return want[i].ID > want[j].ID
	})
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		page := must[RequestPage](t)(s.Requests(ctx, RequestQuery{Cursor: cursor, Limit: 7}))
		for _, r := range page.Rows {
			got = append(got, r.ID)
		}
		// Newer rows arriving between pages must not shift the pages.
		must[int](t)(s.InsertUsage(ctx, []UsageRow{usageRow(1000+pages, t0.Add(time.Hour+time.Duration(pages)*time.Second))}))
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	var wantIDs []string
	for _, r := range want {
		wantIDs = append(wantIDs, r.ID)
	}
	if !reflect.DeepEqual(got, wantIDs) {
		t.Fatalf("paged ids\n got %v\nwant %v", got, wantIDs)
	}
	for _, bad := range []RequestQuery{{Cursor: "%%%"}, {Cursor: "AAAA"}, {Limit: 1001}, {Limit: -1}} {
		_, err := s.Requests(ctx, bad)
		wantErr(t, err, ErrInvalid)
	}
}

func testRequestsFilters(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	rows := ledgerFixture(t, s)
	lo5, hi5, err := ParseStatus("5xx")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		q    RequestQuery
		keep func(r UsageRow) bool
	}{
		{"project", RequestQuery{Project: "pb"}, func(r UsageRow) bool { return r.ProjectID == "pb" }},
		{"key", RequestQuery{Key: "ka"}, func(r UsageRow) bool { return r.KeyID == "ka" }},
		{"served model", RequestQuery{Model: "gpt-4o"}, func(r UsageRow) bool { return r.ServedModel == "gpt-4o" }},
		{"requested model", RequestQuery{Model: "req-pa"}, func(r UsageRow) bool { return r.RequestedModel == "req-pa" }},
		{"5xx", RequestQuery{StatusMin: lo5, StatusMax: hi5}, func(r UsageRow) bool { return r.Status >= 500 }},
		{"exact", RequestQuery{StatusMin: 501, StatusMax: 501}, func(r UsageRow) bool { return r.Status == 501 }},
		{"time", RequestQuery{From: rows[10].Time, To: rows[20].Time}, func(r UsageRow) bool {
			return !r.Time.Before(rows[10].Time) && r.Time.Before(rows[20].Time)
		}},
		{"combined", RequestQuery{Project: "pa", Model: "claude-sonnet-4-0", From: rows[12].Time}, func(r UsageRow) bool {
			return r.ProjectID == "pa" && r.ServedModel == "claude-sonnet-4-0" && !r.Time.Before(rows[12].Time)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, r := range rows {
				if tc.keep(r) {
					want = append(want, r.ID)
				}
			}
			slices.Reverse(want) // the fixture is in time order
			var got []string
			q := tc.q
			q.Limit = 4
			for {
				page := must[RequestPage](t)(s.Requests(ctx, q))
				for _, r := range page.Rows {
					got = append(got, r.ID)
				}
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
			}
			if len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("\n got %v\nwant %v", got, want)
			}
		})
	}
}

func testSpend(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	rows := ledgerFixture(t, s)
	// Spend reads whole days from the rollup and the rest of a partial
	// first day from the ledger: try both, and the edges.
	day2 := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	for _, since := range []time.Time{{}, t0, rows[15].Time, rows[15].Time.Add(time.Microsecond), day2, day2.Add(-time.Microsecond), day2.Add(72 * time.Hour)} {
		var want float64
		for _, r := range rows {
			if r.ProjectID == "pa" && !r.Time.Before(since) {
				want += r.CostUSD
			}
		}
		if got := must[float64](t)(s.Spend(ctx, "pa", since)); got != want {
			t.Fatalf("spend since %v = %v, want %v", since, got, want)
		}
	}
	if got := must[float64](t)(s.Spend(ctx, "nobody", time.Time{})); got != 0 {
		t.Fatalf("spend of nobody = %v", got)
	}
}

func testThresholds(t *testing.T, db newDB) {
	cfg := db(t)
	a, b := open(t, cfg, nil), open(t, cfg, nil)
	march := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	april := march.AddDate(0, 1, 0)
	for _, tc := range []struct {
		s     Store
		start time.Time
		pct   int
		first bool
	}{
		{a, march, 80, true}, {b, march, 80, false}, {a, march, 80, false},
		{b, march, 100, true}, {a, april, 80, true},
	} {
		if got := must[bool](t)(tc.s.MarkThreshold(ctx, "p", tc.start, tc.pct)); got != tc.first {
			t.Fatalf("MarkThreshold(%v, %d) = %v, want %v", tc.start, tc.pct, got, tc.first)
		}
	}
	_, err := a.MarkThreshold(ctx, "p", march, 0)
	wantErr(t, err, ErrInvalid)

	// 20 goroutines on two replicas race for one threshold: one wins.
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		firsts int
	)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			first, err := s.MarkThreshold(ctx, "race", march, 50)
			if err != nil {
				t.Error(err)
				return
			}
			if first {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firsts != 1 {
		t.Fatalf("%d callers saw first, want 1", firsts)
	}
}

func testWebhooks(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)
	p := must[Project](t)(s.CreateProject(ctx, Project{Name: "w"}))
	w := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{URL: "https://hooks.example.com/x", Events: []string{"budget.threshold", " key.revoked "}}))
	if !strings.HasPrefix(w.ID, "wh_") || !strings.HasPrefix(w.Secret, "whsec_") || len(w.Secret) != 6+43 {
		t.Fatalf("generated %+v", w)
	}
	if !reflect.DeepEqual(w.Events, []string{"budget.threshold", "key.revoked"}) {
		t.Fatalf("events %v", w.Events)
	}
	if got := must[Webhook](t)(s.Webhook(ctx, w.ID)); !reflect.DeepEqual(got, w) {
		t.Fatalf("stored\n got %+v\nwant %+v", got, w)
	}
	c.Advance(time.Millisecond)
	scoped := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{ID: "wh-scoped", URL: "http://10.0.0.1:9000/", ProjectID: p.ID, Secret: "0123456789abcdef"}))
	_, err := s.CreateWebhook(ctx, Webhook{URL: "https://x.example/", ProjectID: "nope"})
	wantErr(t, err, ErrNotFound)
	_, err = s.CreateWebhook(ctx, Webhook{ID: "wh-scoped", URL: "https://x.example/"})
	wantErr(t, err, ErrConflict)
	for _, bad := range []string{"", "ftp://x/", "/relative", "https://"} {
		_, err = s.CreateWebhook(ctx, Webhook{URL: bad})
		wantErr(t, err, ErrInvalid)
	}

	if !w.Wants("key.revoked", "any") || w.Wants("other", "") || !scoped.Wants("x", p.ID) || scoped.Wants("x", "other") {
		t.Fatal("Wants")
	}

	c.Advance(time.Second)
	up := must[Webhook](t)(s.UpdateWebhook(ctx, w.ID, WebhookPatch{Disabled: SetTo(true), Events: SetTo[[]string](nil)}))
	if !up.Disabled || up.Events != nil || up.URL != w.URL || up.Secret != w.Secret || !up.UpdatedAt.Equal(utc(c.Now())) {
		t.Fatalf("patched %+v", up)
	}
	_, err = s.UpdateWebhook(ctx, w.ID, WebhookPatch{URL: SetTo("nope")})
	wantErr(t, err, ErrInvalid)
	list := must[[]Webhook](t)(s.ListWebhooks(ctx))
	if len(list) != 2 || list[0].ID != w.ID || list[1].ID != "wh-scoped" || !list[0].Disabled {
		t.Fatalf("list %+v", list)
	}
	if err := s.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteWebhook(ctx, w.ID), ErrNotFound)
	_, err = s.Webhook(ctx, w.ID)
	wantErr(t, err, ErrNotFound)
}

func testOutbox(t *testing.T, db newDB) {
	cfg := db(t)
	c := newClock()
	s := open(t, cfg, c)
	w := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{URL: "https://hooks.example.com/"}))
	off := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{URL: "https://off.example.com/", Disabled: true}))
	var ids []string
	for i := range 3 {
		ids = append(ids, must[string](t)(s.EnqueueDelivery(ctx, w.ID, "budget.threshold", []byte(fmt.Sprintf(`{"n":%d}`, i)))))
		c.Advance(time.Millisecond)
	}
	offID := must[string](t)(s.EnqueueDelivery(ctx, off.ID, "x", nil))
	_, err := s.EnqueueDelivery(ctx, "wh_nope", "x", nil)
	wantErr(t, err, ErrNotFound)

	now := c.Now()
	got := must[[]Delivery](t)(s.DueDeliveries(ctx, now, 10, 30*time.Second))
	if len(got) != 3 {
		t.Fatalf("claimed %d, want 3 (the disabled endpoint's delivery waits)", len(got))
	}
	for i, d := range got {
		if d.ID != ids[i] || d.Attempts != 1 || string(d.Payload) != fmt.Sprintf(`{"n":%d}`, i) || !d.ClaimedUntil.Equal(utc(now.Add(30*time.Second))) {
			t.Fatalf("claim %d = %+v", i, d)
		}
	}
	// Leased: nobody else gets them until the lease ends.
	if got := must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(29*time.Second), 10, 30*time.Second)); len(got) != 0 {
		t.Fatalf("claimed leased rows: %+v", got)
	}
	if err := s.MarkDelivered(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, ids[1], now.Add(time.Minute), "HTTP 503"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, ids[2], time.Time{}, strings.Repeat("é", 2000)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.MarkDelivered(ctx, "dlv_nope"), ErrNotFound)
	wantErr(t, s.MarkFailed(ctx, "dlv_nope", now, ""), ErrNotFound)
	// ids[1] is due again only at its retry time.
	if got := must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(59*time.Second), 10, time.Minute)); len(got) != 0 {
		t.Fatalf("retried early: %+v", got)
	}

	// Deliveries persist across a restart.
	s.Close()
	s = open(t, cfg, c)
	got = must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(time.Minute), 10, time.Minute))
	if len(got) != 1 || got[0].ID != ids[1] || got[0].Attempts != 2 || got[0].LastError != "HTTP 503" {
		t.Fatalf("after reopen: %+v", got)
	}
	// A claim that is never marked (the claimer died) comes back after its lease.
	got = must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(3*time.Minute), 10, time.Minute))
	if len(got) != 1 || got[0].ID != ids[1] || got[0].Attempts != 3 {
		t.Fatalf("expired lease: %+v", got)
	}
	list := must[[]Delivery](t)(s.ListDeliveries(ctx, w.ID, 0))
	if len(list) != 3 || list[0].ID != ids[2] || list[2].ID != ids[0] {
		t.Fatalf("list %+v", list)
	}
	if list[2].DeliveredAt.IsZero() || list[0].FailedAt.IsZero() || len(list[0].LastError) > maxLastError || list[0].Attempts != 1 {
		t.Fatalf("finished states: %+v", list)
	}
	// Enabling the endpoint releases its delivery.
	must[Webhook](t)(s.UpdateWebhook(ctx, off.ID, WebhookPatch{Disabled: SetTo(false)}))
	got = must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(3*time.Minute), 10, time.Minute))
	if len(got) != 1 || got[0].ID != offID || len(got[0].Payload) != 0 {
		t.Fatalf("re-enabled: %+v", got)
	}
	_, err = s.DueDeliveries(ctx, now, 0, time.Minute)
	wantErr(t, err, ErrInvalid)
	// Deleting an endpoint deletes its deliveries.
	if err := s.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if list := must[[]Delivery](t)(s.ListDeliveries(ctx, w.ID, 0)); len(list) != 0 {
		t.Fatalf("orphans: %+v", list)
	}
}

func testOutboxConcurrentClaims(t *testing.T, db newDB) {
	cfg := db(t)
	stores := []Store{open(t, cfg, nil), open(t, cfg, nil)} // two replicas
	w := must[Webhook](t)(stores[0].CreateWebhook(ctx, Webhook{URL: "https://hooks.example.com/"}))
	const n = 150
	want := map[string]bool{}
	for range n {
		want[must[string](t)(stores[0].EnqueueDelivery(ctx, w.ID, "e", []byte("{}")))] = true
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		claims = map[string]int{}
	)
	now := time.Now().Add(time.Hour) // every row is due
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%2]
			for {
				got, err := s.DueDeliveries(ctx, now, 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					claims[d.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claims) != n {
		t.Fatalf("claimed %d distinct rows, want %d", len(claims), n)
	}
	for id, k := range claims {
		if k != 1 || !want[id] {
			t.Fatalf("row %s claimed %d times", id, k)
		}
	}
}

func testAudit(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)
	actions := []string{"project.create", "key.revoke", "policy.put", "cache.purge", "reload", "project.delete"}
	for i := range 25 {
		e := AuditEntry{Actor: "admin", Action: actions[i%len(actions)], Target: fmt.Sprintf("t%d", i%4)}
		if i%3 == 0 {
			e.Before = json.RawMessage(`{"rpm": 1}`)
			e.After = json.RawMessage(`{"rpm":2,"name":"x"}`)
		}
		if i%7 == 0 {
			e.Time = c.Now() // explicit, equal to the previous: the id breaks the tie
		}
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
		if i%7 != 6 {
			c.Advance(time.Second)
		}
	}
	wantErr(t, s.Audit(ctx, AuditEntry{Action: ""}), ErrInvalid)
	wantErr(t, s.Audit(ctx, AuditEntry{Action: "x", After: json.RawMessage(`{`)}), ErrInvalid)

	page := func(q AuditQuery) []AuditEntry {
		t.Helper()
		var all []AuditEntry
		for i := 0; ; i++ {
			p := must[AuditPage](t)(s.AuditLog(ctx, q))
			all = append(all, p.Entries...)
			if p.Next == "" {
				return all
			}
			if i > 30 {
				t.Fatal("paging does not end")
			}
			q.Cursor = p.Next
		}
	}
	all := page(AuditQuery{Limit: 10})
	if len(all) != 25 {
		t.Fatalf("%d entries", len(all))
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.Time.Before(b.Time) || a.Time.Equal(b.Time) && a.ID <= b.ID {
			t.Fatalf("not newest first at %d: %+v then %+v", i, a, b)
		}
	}
	var before, after any
	json.Unmarshal(all[len(all)-1].Before, &before)
	json.Unmarshal(all[len(all)-1].After, &after)
	if !reflect.DeepEqual(before, map[string]any{"rpm": 1.0}) || !reflect.DeepEqual(after, map[string]any{"rpm": 2.0, "name": "x"}) {
		t.Fatalf("before/after round trip: %s %s", all[len(all)-1].Before, all[len(all)-1].After)
	}
	if all[len(all)-1].Action != "project.create" || all[len(all)-1].Actor != "admin" || all[1].Before != nil {
		t.Fatalf("entries %+v", all[len(all)-1])
	}
	count := func(q AuditQuery, keep func(AuditEntry) bool) {
		t.Helper()
		want := 0
		for _, e := range all {
			if keep(e) {
				want++
			}
		}
		got := page(q)
		if len(got) != want || want == 0 {
			t.Fatalf("%+v: %d entries, want %d", q, len(got), want)
		}
		for _, e := range got {
			if !keep(e) {
				t.Fatalf("%+v: unexpected %+v", q, e)
			}
		}
	}
	count(AuditQuery{Action: "key.revoke", Limit: 2}, func(e AuditEntry) bool { return e.Action == "key.revoke" })
	count(AuditQuery{Action: "project.", Limit: 3}, func(e AuditEntry) bool { return strings.HasPrefix(e.Action, "project.") })
	count(AuditQuery{Action: "p*"}, func(e AuditEntry) bool { return strings.HasPrefix(e.Action, "p") })
	count(AuditQuery{Target: "t1", From: all[20].Time, To: all[2].Time}, func(e AuditEntry) bool {
		return e.Target == "t1" && !e.Time.Before(all[20].Time) && e.Time.Before(all[2].Time)
	})
	_, err := s.AuditLog(ctx, AuditQuery{Cursor: encodeCursor(t0, "not-a-number")})
	wantErr(t, err, ErrInvalid)
}

func testPrune(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)
	var rows []UsageRow
	for i := range 12 {
		rows = append(rows, usageRow(i, t0.Add(time.Duration(i)*time.Hour)))
	}
	must[int](t)(s.InsertUsage(ctx, rows))
	if n := must[int64](t)(s.PruneUsage(ctx, rows[5].Time)); n != 5 {
		t.Fatalf("pruned %d rows, want 5", n)
	}
	if p := must[RequestPage](t)(s.Requests(ctx, RequestQuery{})); len(p.Rows) != 7 || p.Rows[6].ID != rows[5].ID {
		t.Fatalf("left %+v", p.Rows)
	}

	w := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{URL: "https://h.example/"}))
	done := must[string](t)(s.EnqueueDelivery(ctx, w.ID, "e", nil))
	pending := must[string](t)(s.EnqueueDelivery(ctx, w.ID, "e", nil))
	if err := s.MarkDelivered(ctx, done); err != nil {
		t.Fatal(err)
	}
	if n := must[int64](t)(s.PruneDeliveries(ctx, c.Now().Add(time.Second))); n != 1 {
		t.Fatalf("pruned %d deliveries, want 1", n)
	}
	if l := must[[]Delivery](t)(s.ListDeliveries(ctx, w.ID, 0)); len(l) != 1 || l[0].ID != pending {
		t.Fatalf("left %+v", l)
	}
}

func TestOpenConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {URL: "mysql://x"}, {URL: "sqlite:///x"}, {URL: "postgres://%zz"}} {
		if _, err := Open(ctx, cfg); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%+v) = %v, want ErrInvalid", cfg, err)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi int
		bad    bool
	}{
		{"", 0, 0, false}, {"429", 429, 429, false}, {"4xx", 400, 499, false}, {"5XX", 500, 599, false},
		{"error", 400, 599, false}, {"6xx", 0, 0, true}, {"42", 0, 0, true}, {"abc", 0, 0, true},
	} {
		lo, hi, err := ParseStatus(tc.in)
		if (err != nil) != tc.bad || lo != tc.lo || hi != tc.hi {
			t.Errorf("ParseStatus(%q) = %d, %d, %v", tc.in, lo, hi, err)
		}
	}
}

// seriesFixture stores rows spread over three hours with varied latency,
// cache status and project.
func seriesFixture(t *testing.T, s Store) []UsageRow {
	var rows []UsageRow
	caches := []string{"miss", "hit-memory", "hit-redis", "bypass", ""}
	lat := []float64{1, 5, 7.5, 120, 999, 1000, 70000, 42}
	for i := range 40 {
		r := usageRow(i, t0.Add(time.Duration(i)*4*time.Minute+time.Duration(i)*time.Second))
		r.ProjectID = []string{"pa", "pb"}[i%2]
		r.Cache = caches[i%len(caches)]
		r.LatencyMS = lat[i%len(lat)]
		r.CostUSD = float64(i) / 32
		if i%7 == 0 {
			r.Status = 502
		}
		rows = append(rows, r)
	}
	must[int](t)(s.InsertUsage(ctx, rows))
	return rows
}

func testUsageSeries(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	rows := seriesFixture(t, s)
	for _, tc := range []struct {
		name string
		q    SeriesQuery
	}{
		{"hourly", SeriesQuery{From: t0.Add(-time.Hour), To: t0.Add(4 * time.Hour), Step: time.Hour}},
		{"10 minutes, one project", SeriesQuery{From: t0, To: t0.Add(2 * time.Hour), Step: 10 * time.Minute, Project: "pb"}},
		{"odd step", SeriesQuery{From: t0.Add(7 * time.Minute), To: t0.Add(3 * time.Hour), Step: 7 * time.Second * 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := must[[]SeriesPoint](t)(s.UsageSeries(ctx, tc.q))
			// Expected: the rows in range, bucketed in Go.
			var want []SeriesPoint
			idx := map[int64]int{}
			for _, r := range rows {
				if r.Time.Before(tc.q.From) || !r.Time.Before(tc.q.To) || tc.q.Project != "" && r.ProjectID != tc.q.Project {
					continue
				}
				step := int64(tc.q.Step / time.Second)
				b := r.Time.Unix() / step * step
				j, ok := idx[b]
				if !ok {
					j = len(want)
					idx[b] = j
					want = append(want, SeriesPoint{Start: time.Unix(b, 0).UTC()})
				}
				p := &want[j]
				p.Requests++
				if r.Status >= 400 {
					p.Errors++
				}
				p.PromptTokens += r.PromptTokens
				p.CachedTokens += r.CachedTokens
				p.CacheWriteTokens += r.CacheWriteTokens
				p.CompletionTokens += r.CompletionTokens
				p.CostUSD += r.CostUSD
				p.Savings.ResponseCache += r.Savings.ResponseCache
				p.Savings.ProviderPromptCache += r.Savings.ProviderPromptCache
				p.Savings.IDEBoilerplate += r.Savings.IDEBoilerplate
				p.Savings.FileDedup += r.Savings.FileDedup
				p.Savings.Routing += r.Savings.Routing
				k := len(LatencyBounds)
				for i, ub := range LatencyBounds {
					if r.LatencyMS <= ub {
						k = i
						break
					}
				}
				p.Latency[k]++
			}
			if len(want) == 0 {
				t.Fatal("fixture: no rows in range")
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
	for _, bad := range []SeriesQuery{
		{To: t0, Step: time.Hour},
		{From: t0, To: t0.Add(time.Hour)},
		{From: t0, To: t0.Add(time.Hour), Step: 1500 * time.Millisecond},
		{From: t0, To: t0, Step: time.Hour},
		{From: t0, To: t0.Add(20000 * time.Second), Step: time.Second},
	} {
		_, err := s.UsageSeries(ctx, bad)
		wantErr(t, err, ErrInvalid)
	}
	// Nothing in range: no buckets, no error.
	if got := must[[]SeriesPoint](t)(s.UsageSeries(ctx, SeriesQuery{From: t0.Add(-48 * time.Hour), To: t0.Add(-47 * time.Hour), Step: time.Minute})); len(got) != 0 {
		t.Fatalf("empty range: %+v", got)
	}
}

func testRequestsCacheFilter(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	rows := seriesFixture(t, s)
	for _, tc := range []struct {
		cache string
		keep  func(c string) bool
	}{
		{"hit", func(c string) bool { return strings.HasPrefix(c, "hit") }},
		{"hit-redis", func(c string) bool { return c == "hit-redis" }},
		{"miss", func(c string) bool { return c == "miss" }},
	} {
		var want, got []string
		for _, r := range rows {
			if tc.keep(r.Cache) {
				want = append(want, r.ID)
			}
		}
		slices.Reverse(want)
		page := must[RequestPage](t)(s.Requests(ctx, RequestQuery{Cache: tc.cache, Limit: 1000}))
		for _, r := range page.Rows {
			got = append(got, r.ID)
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Fatalf("cache=%s\n got %v\nwant %v", tc.cache, got, want)
		}
	}
}

func TestLatencyQuantile(t *testing.T) {
	t.Parallel()
	h := make([]int64, len(LatencyBounds)+1)
	if got := LatencyQuantile(h, 0.5); got != 0 {
		t.Fatalf("empty: %v", got)
	}
	h[0], h[3], h[len(h)-1] = 50, 49, 1 // 50 ≤5 ms, 49 in (25,50], 1 above the last bound
	for _, tc := range []struct {
		name string
		q    float64
		want float64
	}{
		{"p50", 0.5, 5}, {"p51", 0.51, 50}, {"p99", 0.99, 50}, {"p100", 1, LatencyBounds[len(LatencyBounds)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LatencyQuantile(h, tc.q); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func testSessions(t *testing.T, db newDB) {
	c := &clock{t: t0}
	s := open(t, db(t), c)
	hash := func(b byte) string { return strings.Repeat(string("0123456789abcdef"[b%16]), 64) }
	a := Session{TokenHash: hash(1), Actor: "ops", CSRF: "csrf-a", ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	got := must[Session](t)(s.Session(ctx, a.TokenHash))
	if got.Actor != "ops" || got.CSRF != "csrf-a" || !got.CreatedAt.Equal(utc(t0)) || !got.ExpiresAt.Equal(utc(t0.Add(time.Hour))) {
		t.Fatalf("got %+v", got)
	}
	_, err := s.Session(ctx, hash(2))
	wantErr(t, err, ErrNotFound)
	if err := s.CreateSession(ctx, a); err == nil {
		t.Fatal("a second session with the same token hash was stored")
	}
	// Expiry: the session is gone when its time has come, and the next
	// login prunes its row.
	b := Session{TokenHash: hash(3), Actor: "ops", CSRF: "csrf-b", ExpiresAt: t0.Add(3 * time.Hour)}
	must[int](t)(0, s.CreateSession(ctx, b))
	c.Advance(time.Hour)
	_, err = s.Session(ctx, a.TokenHash)
	wantErr(t, err, ErrNotFound)
	must[Session](t)(s.Session(ctx, b.TokenHash))
	// Logout.
	must[int](t)(0, s.DeleteSession(ctx, b.TokenHash))
	_, err = s.Session(ctx, b.TokenHash)
	wantErr(t, err, ErrNotFound)
	must[int](t)(0, s.DeleteSession(ctx, b.TokenHash))
	for _, bad := range []Session{
		{TokenHash: "short", Actor: "ops", CSRF: "x", ExpiresAt: t0},
		{TokenHash: hash(4), CSRF: "x", ExpiresAt: t0},
		{TokenHash: hash(4), Actor: "ops", CSRF: "x"},
	} {
		wantErr(t, s.CreateSession(ctx, bad), ErrInvalid)
	}
}
