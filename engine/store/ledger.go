package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// usageColumns are the ledger's columns in the order of UsageRow, shared by
// both backends' inserts and by scanUsage.
const usageColumns = `id, ts, project_id, key_id, endpoint, requested_model, served_model, provider,
status, error_code, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, cost_usd,
saved_response_cache, saved_provider_prompt_cache, saved_ide_boilerplate, saved_file_dedup, saved_routing,
latency_ms, upstream_ms, cache, route_reason, stream, classifier_cost_usd, cascade_extra_cost_usd`

// usageColumnsV5 are the columns migration 5 copies (the table as it was
// then): a migration's SQL never changes with later columns.
const usageColumnsV5 = `id, ts, project_id, key_id, endpoint, requested_model, served_model, provider,
status, error_code, prompt_tokens, cached_tokens, cache_write_tokens, completion_tokens, cost_usd,
saved_response_cache, saved_provider_prompt_cache, saved_ide_boilerplate, saved_file_dedup, saved_routing,
latency_ms, upstream_ms, cache, route_reason, stream`

func scanUsage(r row) (UsageRow, error) {
	var u UsageRow
	err := r.Scan(&u.ID, &nullTime{&u.Time}, &u.ProjectID, &u.KeyID, &u.Endpoint, &u.RequestedModel,
		&u.ServedModel, &u.Provider, &u.Status, &u.ErrorCode, &u.PromptTokens, &u.CachedTokens,
		&u.CacheWriteTokens, &u.CompletionTokens, &u.CostUSD, &u.Savings.ResponseCache,
		&u.Savings.ProviderPromptCache, &u.Savings.IDEBoilerplate, &u.Savings.FileDedup,
		&u.Savings.Routing, &u.LatencyMS, &u.UpstreamMS, &u.Cache, &u.RouteReason, &u.Stream,
		&u.ClassifierCostUSD, &u.CascadeExtraCostUSD)
	return u, err
}

// filter builds a WHERE clause with numbered placeholders.
type filter struct {
	conds []string
	args  []any
}

// add appends a condition; each %s in cond becomes the placeholder of v
// (the same one when repeated).
func (f *filter) add(cond string, v any) {
	f.args = append(f.args, v)
	ph := "$" + strconv.Itoa(len(f.args))
	f.conds = append(f.conds, strings.ReplaceAll(cond, "%s", ph))
}

// arg appends an argument and returns its placeholder.
func (f *filter) arg(v any) string {
	f.args = append(f.args, v)
	return "$" + strconv.Itoa(len(f.args))
}

func (f *filter) where() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

func (f *filter) timeRange(from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && !to.After(from) {
		return fmt.Errorf("time range: %w: to must be after from", ErrInvalid)
	}
	if !from.IsZero() {
		f.add("ts >= %s", utc(from))
	}
	if !to.IsZero() {
		f.add("ts < %s", utc(to))
	}
	return nil
}

// InsertUsage implements Ledger.
func (s *sqlStore) InsertUsage(ctx context.Context, batch []UsageRow) (int, error) {
	return s.insertUsage(ctx, batch, false)
}

// AppendUsage implements Ledger.
func (s *sqlStore) AppendUsage(ctx context.Context, batch []UsageRow) (int, error) {
	return s.insertUsage(ctx, batch, true)
}

func (s *sqlStore) insertUsage(ctx context.Context, batch []UsageRow, fresh bool) (int, error) {
	for i := range batch {
		u := &batch[i]
		if u.ID == "" || len(u.ID) > 200 {
			return 0, fmt.Errorf("insert usage: row %d: id: %w: 1 to 200 bytes", i, ErrInvalid)
		}
		if u.Time.IsZero() {
			return 0, fmt.Errorf("insert usage: row %d (%s): time: %w: zero", i, u.ID, ErrInvalid)
		}
	}
	if len(batch) == 0 {
		return 0, nil
	}
	return s.b.insertUsage(ctx, batch, fresh)
}

// groupExpr is the SQL of a group-by dimension.
func (s *sqlStore) groupExpr(g string) (string, error) {
	switch g {
	case GroupNone:
		return "''", nil
	case GroupDay:
		return s.b.dayExpr("ts"), nil
	case GroupProject:
		return "project_id", nil
	case GroupModel:
		return "CASE WHEN served_model <> '' THEN served_model ELSE requested_model END", nil
	case GroupKey:
		return "key_id", nil
	case GroupProvider:
		return "provider", nil
	case GroupEndpoint:
		return "endpoint", nil
	case GroupCache:
		return "cache", nil
	}
	return "", fmt.Errorf("group_by %q: %w: want day, project, model, key, provider, endpoint or cache", g, ErrInvalid)
}

// sumInt sums an integer column as BIGINT on both backends (PostgreSQL's
// SUM(bigint) is numeric).
func sumInt(expr string) string { return "CAST(COALESCE(SUM(" + expr + "), 0) AS BIGINT)" }

func sumFloat(col string) string { return "COALESCE(SUM(" + col + "), 0)" }

// UsageSummary implements Ledger.
func (s *sqlStore) UsageSummary(ctx context.Context, q UsageQuery) ([]UsageGroup, error) {
	key, err := s.groupExpr(q.GroupBy)
	if err != nil {
		return nil, err
	}
	var f filter
	if err := f.timeRange(q.From, q.To); err != nil {
		return nil, err
	}
	if b, ok := s.b.(*sqliteBackend); ok {
		out, err := b.usageSummary(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("usage summary: %w", err)
		}
		return out, nil
	}
	return s.summarySQL(ctx, q, key, f)
}

// summarySQL is UsageSummary in SQL over the backend's ledger table (on
// SQLite, the test that holds the Go path to it uses it too).
func (s *sqlStore) summarySQL(ctx context.Context, q UsageQuery, key string, f filter) ([]UsageGroup, error) {
	if q.Project != "" {
		f.add("project_id = %s", q.Project)
	}
	query := `SELECT ` + key + `, ` + usageSums + ` FROM ` + s.b.ledgerTable() + f.where()
	if q.GroupBy != GroupNone {
		query += ` GROUP BY 1 ORDER BY 1`
	}
	rs, err := s.b.query(ctx, query, f.args...)
	if err != nil {
		return nil, fmt.Errorf("usage summary: %w", err)
	}
	defer rs.Close()
	var out []UsageGroup
	for rs.Next() {
		var g UsageGroup
		if err := rs.Scan(append([]any{&g.Key}, g.sumDests()...)...); err != nil {
			return nil, fmt.Errorf("usage summary: %w", err)
		}
		out = append(out, g)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("usage summary: %w", err)
	}
	return out, nil
}

// usageSums are the aggregates of a UsageGroup, in the order of sumDests.
var usageSums = `COUNT(*), ` + sumInt("CASE WHEN status >= 400 THEN 1 ELSE 0 END") + `, ` +
	sumInt("prompt_tokens") + `, ` + sumInt("cached_tokens") + `, ` + sumInt("cache_write_tokens") + `, ` +
	sumInt("completion_tokens") + `, ` + sumFloat("cost_usd") + `, ` + sumFloat("saved_response_cache") + `, ` +
	sumFloat("saved_provider_prompt_cache") + `, ` + sumFloat("saved_ide_boilerplate") + `, ` +
	sumFloat("saved_file_dedup") + `, ` + sumFloat("saved_routing")

func (g *UsageGroup) sumDests() []any {
	return []any{&g.Requests, &g.Errors, &g.PromptTokens, &g.CachedTokens, &g.CacheWriteTokens,
		&g.CompletionTokens, &g.CostUSD, &g.Savings.ResponseCache, &g.Savings.ProviderPromptCache,
		&g.Savings.IDEBoilerplate, &g.Savings.FileDedup, &g.Savings.Routing}
}

// latencyHistogram is the SQL of SeriesPoint.Latency's counts.
var latencyHistogram = func() string {
	var b strings.Builder
	prev := ""
	for _, ub := range LatencyBounds {
		v := strconv.FormatFloat(ub, 'f', -1, 64)
		cond := "latency_ms <= " + v
		if prev != "" {
			cond = "latency_ms > " + prev + " AND " + cond
		}
		b.WriteString(", " + sumInt("CASE WHEN "+cond+" THEN 1 ELSE 0 END"))
		prev = v
	}
	b.WriteString(", " + sumInt("CASE WHEN latency_ms > "+prev+" THEN 1 ELSE 0 END"))
	return b.String()
}()

// maxSeriesBuckets bounds the buckets of one UsageSeries.
const maxSeriesBuckets = 10_000

// seriesFilter checks a SeriesQuery and returns its WHERE clause and its
// step in seconds.
func seriesFilter(q SeriesQuery) (filter, int64, error) {
	var f filter
	if q.From.IsZero() || q.To.IsZero() {
		return f, 0, fmt.Errorf("%w: from and to are required", ErrInvalid)
	}
	if q.Step < time.Second || q.Step%time.Second != 0 {
		return f, 0, fmt.Errorf("%w: step must be whole seconds, at least one", ErrInvalid)
	}
	if q.To.Sub(q.From)/q.Step > maxSeriesBuckets {
		return f, 0, fmt.Errorf("%w: more than %d buckets", ErrInvalid, maxSeriesBuckets)
	}
	if err := f.timeRange(q.From, q.To); err != nil {
		return f, 0, err
	}
	if q.Project != "" {
		f.add("project_id = %s", q.Project)
	}
	if q.Provider != "" {
		f.add("provider = %s", q.Provider)
	}
	return f, int64(q.Step / time.Second), nil
}

// UsageSeries implements Ledger.
func (s *sqlStore) UsageSeries(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error) {
	f, step, err := seriesFilter(q)
	if err != nil {
		return nil, fmt.Errorf("usage series: %w", err)
	}
	if b, ok := s.b.(*sqliteBackend); ok {
		out, err := b.usageSeries(ctx, q, step)
		if err != nil {
			return nil, fmt.Errorf("usage series: %w", err)
		}
		return out, nil
	}
	return s.seriesSQL(ctx, f, step)
}

// seriesSQL is UsageSeries in SQL over the backend's ledger table.
func (s *sqlStore) seriesSQL(ctx context.Context, f filter, step int64) ([]SeriesPoint, error) {
	query := `SELECT ` + s.b.bucketExpr("ts", step) + `, ` + usageSums + latencyHistogram +
		` FROM ` + s.b.ledgerTable() + f.where() + ` GROUP BY 1 ORDER BY 1`
	rs, err := s.b.query(ctx, query, f.args...)
	if err != nil {
		return nil, fmt.Errorf("usage series: %w", err)
	}
	defer rs.Close()
	var out []SeriesPoint
	for rs.Next() {
		var p SeriesPoint
		var start int64
		dest := append([]any{&start}, p.sumDests()...)
		for i := range p.Latency {
			dest = append(dest, &p.Latency[i])
		}
		if err := rs.Scan(dest...); err != nil {
			return nil, fmt.Errorf("usage series: %w", err)
		}
		p.Start = time.Unix(start, 0).UTC()
		out = append(out, p)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("usage series: %w", err)
	}
	return out, nil
}

// Requests implements Ledger.
func (s *sqlStore) Requests(ctx context.Context, q RequestQuery) (RequestPage, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return RequestPage{}, err
	}
	var f filter
	if err := f.timeRange(q.From, q.To); err != nil {
		return RequestPage{}, err
	}
	if q.Project != "" {
		f.add("project_id = %s", q.Project)
	}
	if q.Key != "" {
		f.add("key_id = %s", q.Key)
	}
	if q.Model != "" {
		f.add("(served_model = %s OR requested_model = %s)", q.Model)
	}
	if q.Routed {
		f.conds = append(f.conds, "route_reason <> ''")
	}
	if q.Cache == "hit" {
		f.conds = append(f.conds, "cache LIKE 'hit%'")
	} else if q.Cache != "" {
		f.add("cache = %s", q.Cache)
	}
	if q.StatusMin > 0 {
		f.add("status >= %s", q.StatusMin)
	}
	if q.StatusMax > 0 {
		f.add("status <= %s", q.StatusMax)
	}
	if q.Cursor != "" {
		t, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return RequestPage{}, err
		}
		// ts <= t is implied; spelled out, it bounds SQLite's chunk reads.
		ph := f.arg(t)
		f.conds = append(f.conds, "ts <= "+ph, "(ts, id) < ("+ph+", "+f.arg(id)+")")
	}
	query := `SELECT ` + usageColumns + ` FROM ` + s.b.ledgerTable() + f.where() +
		` ORDER BY ts DESC, id DESC LIMIT ` + f.arg(limit+1)
	rs, err := s.b.query(ctx, query, f.args...)
	if err != nil {
		return RequestPage{}, fmt.Errorf("requests: %w", err)
	}
	defer rs.Close()
	var page RequestPage
	for rs.Next() {
		u, err := scanUsage(rs)
		if err != nil {
			return RequestPage{}, fmt.Errorf("requests: %w", err)
		}
		page.Rows = append(page.Rows, u)
	}
	if err := rs.Err(); err != nil {
		return RequestPage{}, fmt.Errorf("requests: %w", err)
	}
	if len(page.Rows) > limit {
		page.Rows = page.Rows[:limit]
		last := &page.Rows[limit-1]
		page.Next = encodeCursor(last.Time, last.ID)
	}
	return page, nil
}

// A daily rollup (usage_daily: project × UTC day → requests, cost) is kept
// in the same transaction as the ledger rows it counts, so that Spend reads
// at most a month of rollup rows instead of summing every request of the
// period; budgets are checked often, by every replica.

// dayAgg is one usage_daily increment.
type dayAgg struct {
	project  string
	day      time.Time
	requests int64
	cost     float64
}

// aggregateDays sums the rows that inserted reports as new by project and
// UTC day, sorted by (project, day): PostgreSQL transactions that update
// the same rollup rows then lock them in the same order.
func aggregateDays(batch []UsageRow, inserted func(i int) bool) []dayAgg {
	type key struct {
		project string
		day     int64
	}
	m := map[key]int{}
	var out []dayAgg
	for i := range batch {
		if !inserted(i) {
			continue
		}
		u := &batch[i]
		d := utcDay(u.Time)
		k := key{u.ProjectID, d.Unix()}
		j, ok := m[k]
		if !ok {
			j = len(out)
			m[k] = j
			out = append(out, dayAgg{project: u.ProjectID, day: d})
		}
		out[j].requests++
		out[j].cost += u.CostUSD
	}
	slices.SortFunc(out, func(a, b dayAgg) int {
		if c := strings.Compare(a.project, b.project); c != 0 {
			return c
		}
		return a.day.Compare(b.day)
	})
	return out
}

// utcDay is the UTC midnight that starts t's day. (Truncate counts from the
// zero time, a UTC midnight.)
func utcDay(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// Spend implements Ledger: whole days from the rollup, and the part of the
// first day before its end (when since is not a midnight) from the ledger.
func (s *sqlStore) Spend(ctx context.Context, projectID string, since time.Time) (float64, error) {
	since = utc(since)
	whole := utcDay(since)
	if whole.Before(since) {
		whole = whole.Add(24 * time.Hour)
	}
	var v float64
	err := s.b.queryRow(ctx, `SELECT (SELECT `+sumFloat("cost_usd")+` FROM usage_daily WHERE project_id = $1 AND day >= $2)
	+ (SELECT `+sumFloat("cost_usd")+` FROM `+s.b.ledgerTable()+` WHERE project_id = $1 AND ts >= $3 AND ts < $2)`,
		projectID, whole, since).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("spend of %q: %w", projectID, err)
	}
	return v, nil
}

// MarkThreshold implements Ledger.
func (s *sqlStore) MarkThreshold(ctx context.Context, projectID string, periodStart time.Time, pct int) (bool, error) {
	if pct <= 0 || projectID == "" || periodStart.IsZero() {
		return false, fmt.Errorf("mark threshold: %w: want a project, a period start and a percentage > 0", ErrInvalid)
	}
	n, err := s.b.exec(ctx, `INSERT INTO budget_marks (project_id, period_start, threshold, fired_at)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, projectID, utc(periodStart), pct, s.clock())
	if err != nil {
		return false, fmt.Errorf("mark threshold: %w", err)
	}
	return n == 1, nil
}

// pruneChunk bounds one DELETE, so that pruning a large ledger does not
// hold SQLite's write lock (or a huge PostgreSQL transaction) for long.
const pruneChunk = 5000

// PruneUsage implements Ledger.
func (s *sqlStore) PruneUsage(ctx context.Context, before time.Time) (int64, error) {
	return s.b.pruneUsage(ctx, utc(before))
}

// pgPruneUsage is PostgreSQL's pruneUsage. The ledger's key is (ts, id):
// each round deletes the oldest rows, found through it.
var pgPruneUsage = `DELETE FROM usage_ledger WHERE (ts, id) IN (SELECT ts, id FROM usage_ledger WHERE ts < $1 ORDER BY ts, id LIMIT ` +
	strconv.Itoa(pruneChunk) + `)`

// pruneLoop runs a DELETE of at most pruneChunk rows until it deletes fewer.
func pruneLoop(ctx context.Context, q querier, query string, before time.Time) (int64, error) {
	var total int64
	for {
		n, err := q.exec(ctx, query, before)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		if n < pruneChunk {
			return total, nil
		}
	}
}
