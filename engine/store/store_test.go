package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
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
		{"RoutingSeries", testRoutingSeries},
		{"RequestsCacheFilter", testRequestsCacheFilter},
		{"Sessions", testSessions},
		{"Responses", testResponses},
		{"ResponseChains", testResponseChains},
		{"ResponseChainsConcurrent", testResponseChainsConcurrent},
		{"ResponseOldRows", testResponseOldRows},
		{"Batches", testBatches},
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
