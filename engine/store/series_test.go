package store

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

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
