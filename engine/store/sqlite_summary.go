package store

import (
	"context"
	"database/sql"
	"math"
	"slices"
	"strings"
	"time"
)

// On SQLite, UsageSummary and UsageSeries aggregate in Go straight from
// the chunks that meet the time range: the same results as the shared SQL
// over ledger_rows (TestSQLiteSummaryMatchesSQL holds them to it), without
// handing every row's columns through the virtual table and then sorting
// them all for GROUP BY inside SQLite, which was nearly all of a summary's
// time (BenchmarkLedgerReads: a day of 200,000 rows 0.8–1.0 s in SQL,
// about 33 ms here).

// scanLedger calls fn with every ledger row in [from, to) (a zero bound is
// open). The row's strings point into a chunk's bytes that the next chunk
// reuses: fn copies what it keeps.
func (b *sqliteBackend) scanLedger(ctx context.Context, from, to time.Time, fn func(u *UsageRow)) error {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64) // inclusive, in microseconds
	if !from.IsZero() {
		lo = utc(from).UnixMicro()
	}
	if !to.IsZero() {
		hi = utc(to).UnixMicro() - 1
	}
	rs, err := b.r.QueryContext(ctx, `SELECT data FROM usage_chunks WHERE ts_max >= ?1 AND ts_min <= ?2`, lo, hi)
	if err != nil {
		return err
	}
	defer rs.Close()
	var (
		r    chunkReader
		u    UsageRow
		data sql.RawBytes
	)
	for rs.Next() {
		if err := rs.Scan(&data); err != nil {
			return err
		}
		if err := r.reset(data); err != nil {
			return err
		}
		for r.next(&u) {
			if ts := u.Time.UnixMicro(); ts >= lo && ts <= hi {
				fn(&u)
			}
		}
		if err := r.Err(); err != nil {
			return err
		}
	}
	return rs.Err()
}

// usageSummary is UsageSummary on SQLite (q is validated).
func (b *sqliteBackend) usageSummary(ctx context.Context, q UsageQuery) ([]UsageGroup, error) {
	groups := map[string]*UsageGroup{}
	// The day of the last row and its key: rows come in time order within
	// a chunk, so a date is formatted once per day, not once per row.
	var day, dayEnd time.Time
	var dayKey string
	err := b.scanLedger(ctx, q.From, q.To, func(u *UsageRow) {
		if q.Project != "" && u.ProjectID != q.Project {
			return
		}
		var k string
		switch q.GroupBy {
		case GroupDay:
			if u.Time.Before(day) || !u.Time.Before(dayEnd) {
				day = utcDay(u.Time)
				dayEnd, dayKey = day.Add(24*time.Hour), day.Format(time.DateOnly)
			}
			k = dayKey
		case GroupProject:
			k = u.ProjectID
		case GroupModel:
			k = u.ServedModel
			if k == "" {
				k = u.RequestedModel
			}
		case GroupKey:
			k = u.KeyID
		case GroupProvider:
			k = u.Provider
		case GroupEndpoint:
			k = u.Endpoint
		case GroupCache:
			k = u.Cache
		}
		g := groups[k]
		if g == nil {
			g = &UsageGroup{Key: strings.Clone(k)}
			groups[g.Key] = g
		}
		g.add(u)
	})
	if err != nil {
		return nil, err
	}
	var out []UsageGroup // nil when empty, as the SQL path returns
	for _, g := range groups {
		out = append(out, *g)
	}
	if q.GroupBy == GroupNone && len(out) == 0 {
		out = append(out, UsageGroup{})
	}
	// SQLite's ORDER BY on text: byte order, as Go compares strings.
	slices.SortFunc(out, func(a, b UsageGroup) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// usageSeries is UsageSeries on SQLite (q is validated; step in seconds).
func (b *sqliteBackend) usageSeries(ctx context.Context, q SeriesQuery, step int64) ([]SeriesPoint, error) {
	points := map[int64]*SeriesPoint{}
	err := b.scanLedger(ctx, q.From, q.To, func(u *UsageRow) {
		if q.Project != "" && u.ProjectID != q.Project || q.Provider != "" && u.Provider != q.Provider {
			return
		}
		// As bucketExpr: integer division, which truncates toward zero.
		start := u.Time.UnixMicro() / 1e6 / step * step
		p := points[start]
		if p == nil {
			p = &SeriesPoint{Start: time.Unix(start, 0).UTC()}
			points[start] = p
		}
		p.add(u)
		p.Latency[latencyBucket(u.LatencyMS)]++
	})
	if err != nil {
		return nil, err
	}
	var out []SeriesPoint
	for _, p := range points {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b SeriesPoint) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// latencyBucket is the SeriesPoint.Latency bucket of ms, as the SQL
// latencyHistogram counts it: the first bound it does not exceed.
func latencyBucket(ms float64) int {
	for i, ub := range LatencyBounds {
		if ms <= ub {
			return i
		}
	}
	return len(LatencyBounds)
}

// add counts u in g, as usageSums does in SQL.
func (g *UsageGroup) add(u *UsageRow) {
	g.Requests++
	if u.Status >= 400 {
		g.Errors++
	}
	g.PromptTokens += u.PromptTokens
	g.CachedTokens += u.CachedTokens
	g.CacheWriteTokens += u.CacheWriteTokens
	g.CompletionTokens += u.CompletionTokens
	g.CostUSD += u.CostUSD
	g.Savings.ResponseCache += u.Savings.ResponseCache
	g.Savings.ProviderPromptCache += u.Savings.ProviderPromptCache
	g.Savings.IDEBoilerplate += u.Savings.IDEBoilerplate
	g.Savings.FileDedup += u.Savings.FileDedup
	g.Savings.Routing += u.Savings.Routing
}
