package store

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

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
