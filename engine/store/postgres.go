package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL backend uses pgx/v5 natively (not through database/sql):
// its pool, its binary protocol, COPY and array parameters, which let a
// whole ledger batch go in one round trip (see insertUsage).

// migrationLockKey is the advisory-lock key that serialises migrations
// among replicas ("aigw" "migr" in ASCII). Advisory locks are per database.
const migrationLockKey int64 = 0x61696777_6d696772

type pgBackend struct {
	pool *pgxpool.Pool
}

func openPostgres(ctx context.Context, cfg Config) (backend, error) {
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The error may quote the URL, password included: keep it generic.
		return nil, fmt.Errorf("store: %w: cannot parse the postgres URL", ErrInvalid)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = int32(cfg.MaxConns)
	}
	if pc.ConnConfig.RuntimeParams == nil {
		pc.ConnConfig.RuntimeParams = map[string]string{}
	}
	pc.ConnConfig.RuntimeParams["timezone"] = "UTC"
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "aigateway"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: postgres %s:%d: %w", pc.ConnConfig.Host, pc.ConnConfig.Port, err)
	}
	return &pgBackend{pool: pool}, nil
}

func (b *pgBackend) name() string { return "postgres" }
func (b *pgBackend) close()       { b.pool.Close() }

func (b *pgBackend) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return pgQuerier{b.pool}.exec(ctx, q, args...)
}

func (b *pgBackend) query(ctx context.Context, q string, args ...any) (rows, error) {
	return pgQuerier{b.pool}.query(ctx, q, args...)
}

func (b *pgBackend) queryRow(ctx context.Context, q string, args ...any) row {
	return pgQuerier{b.pool}.queryRow(ctx, q, args...)
}

func (b *pgBackend) write(ctx context.Context, fn func(querier) error) error {
	return b.tx(ctx, pgx.TxOptions{}, fn)
}

func (b *pgBackend) snapshot(ctx context.Context, fn func(querier) error) error {
	return b.tx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (b *pgBackend) tx(ctx context.Context, opts pgx.TxOptions, fn func(querier) error) error {
	return b.pgTx(ctx, opts, func(tx pgx.Tx) error { return fn(pgQuerier{tx}) })
}

// pgTx runs fn in a transaction with pgx's own API (COPY).
func (b *pgBackend) pgTx(ctx context.Context, opts pgx.TxOptions, fn func(pgx.Tx) error) error {
	tx, err := b.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// lockMigrations takes a transaction-scoped advisory lock: a second replica
// migrating at the same time waits here, then finds every migration applied.
func (b *pgBackend) lockMigrations(ctx context.Context, q querier) error {
	_, err := q.exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey)
	return err
}

func (b *pgBackend) dayExpr(col string) string {
	return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
}
func (b *pgBackend) bucketExpr(col string, step int64) string {
	// EXTRACT(EPOCH) of a TIMESTAMP (no zone) reads it as UTC.
	n := strconv.FormatInt(step, 10)
	return "CAST(FLOOR(EXTRACT(EPOCH FROM " + col + ") / " + n + ") * " + n + " AS BIGINT)"
}
func (b *pgBackend) forUpdate() string   { return " FOR UPDATE" }
func (b *pgBackend) skipLocked() string  { return " FOR UPDATE SKIP LOCKED" }
func (b *pgBackend) ledgerTable() string { return "usage_ledger" }
func (b *pgBackend) pruneUsage(ctx context.Context, before time.Time) (int64, error) {
	return pruneLoop(ctx, b, pgPruneUsage, before)
}

// insertUsage COPYs the batch straight into the ledger: one round trip,
// binary format (encoded by appendPGCopy, no allocation per row), and on
// this machine 2.5x faster than any INSERT (see BenchmarkInsertUsage). COPY cannot skip ids already stored, so when the
// batch holds one (a replayed spill file: rare) the COPY fails as a whole
// with a unique violation and the batch goes again as one INSERT … SELECT
// FROM unnest(arrays) … ON CONFLICT DO NOTHING. (COPY into a temporary
// table and INSERT from there was slower than either: a catalog change per
// batch.) Either way the daily rollup is updated in the same transaction,
// from the rows actually inserted.
func (b *pgBackend) insertUsage(ctx context.Context, batch []UsageRow, _ bool) (int, error) {
	n := 0
	err := b.pgTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		buf := pgCopyBufs.Get().(*bytes.Buffer)
		defer pgCopyBufs.Put(buf)
		buf.Reset()
		buf.Write(appendPGCopy(buf.AvailableBuffer(), batch))
		tag, err := tx.Conn().PgConn().CopyFrom(ctx, buf, pgCopyUsage)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		return upsertDaily(ctx, tx, aggregateDays(batch, func(int) bool { return true }))
	})
	if err == nil {
		return n, nil
	}
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != pgUniqueViolation {
		return 0, fmt.Errorf("insert usage: %w", err)
	}
	n = 0
	err = b.pgTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		c := usageColsPool.Get().(*usageCols)
		defer usageColsPool.Put(c)
		c.fill(batch)
		rs, err := tx.Query(ctx, pgInsertUsage,
			c.id, c.ts, c.project, c.key, c.endpoint, c.requested, c.served, c.provider,
			c.status, c.errorCode, c.prompt, c.cached, c.cacheWrite, c.completion, c.cost,
			c.savedResponse, c.savedPrompt, c.savedIDE, c.savedDedup, c.savedRouting,
			c.latency, c.upstream, c.cache, c.routeReason, c.stream, c.classifier, c.cascadeExtra)
		if err != nil {
			return err
		}
		inserted := map[string]bool{}
		for rs.Next() {
			var id string
			if err := rs.Scan(&id); err != nil {
				rs.Close()
				return err
			}
			inserted[id] = true
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		n = len(inserted)
		// A batch may hold one id twice: count the first occurrence only.
		return upsertDaily(ctx, tx, aggregateDays(batch, func(i int) bool {
			first := inserted[batch[i].ID]
			delete(inserted, batch[i].ID)
			return first
		}))
	})
	if err != nil {
		return 0, fmt.Errorf("insert usage: %w", err)
	}
	return n, nil
}

// upsertDaily adds a batch's increments to the rollup in one statement
// (the increments are unique per key, as ON CONFLICT DO UPDATE requires).
func upsertDaily(ctx context.Context, tx pgx.Tx, days []dayAgg) error {
	if len(days) == 0 {
		return nil
	}
	projects := make([]string, len(days))
	starts := make([]time.Time, len(days))
	reqs := make([]int64, len(days))
	costs := make([]float64, len(days))
	for i, d := range days {
		projects[i], starts[i], reqs[i], costs[i] = d.project, d.day, d.requests, d.cost
	}
	_, err := tx.Exec(ctx, `INSERT INTO usage_daily (project_id, day, requests, cost_usd)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::float8[])
ON CONFLICT (project_id, day) DO UPDATE SET requests = usage_daily.requests + excluded.requests,
cost_usd = usage_daily.cost_usd + excluded.cost_usd`, projects, starts, reqs, costs)
	return err
}

const pgUniqueViolation = "23505"

const pgInsertUsage = `INSERT INTO usage_ledger (` + usageColumns + `)
SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::text[], $9::int[], $10::text[], $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[],
	$15::float8[], $16::float8[], $17::float8[], $18::float8[], $19::float8[], $20::float8[],
	$21::float8[], $22::float8[], $23::text[], $24::text[], $25::bool[], $26::float8[], $27::float8[])
ON CONFLICT DO NOTHING RETURNING id`

// usageCols holds a batch column by column; pooled, so that steady-state
// batches reuse the arrays.
type usageCols struct {
	id, project, key, endpoint, requested, served, provider, errorCode, cache, routeReason []string
	ts                                                                                     []time.Time
	status                                                                                 []int32
	prompt, cached, cacheWrite, completion                                                 []int64
	cost, savedResponse, savedPrompt, savedIDE, savedDedup, savedRouting                   []float64
	latency, upstream, classifier, cascadeExtra                                            []float64
	stream                                                                                 []bool
}

var usageColsPool = sync.Pool{New: func() any { return new(usageCols) }}

func (c *usageCols) fill(batch []UsageRow) {
	strs := []*[]string{&c.id, &c.project, &c.key, &c.endpoint, &c.requested, &c.served, &c.provider, &c.errorCode, &c.cache, &c.routeReason}
	for _, s := range strs {
		*s = (*s)[:0]
	}
	flts := []*[]float64{&c.cost, &c.savedResponse, &c.savedPrompt, &c.savedIDE, &c.savedDedup, &c.savedRouting, &c.latency, &c.upstream, &c.classifier, &c.cascadeExtra}
	for _, f := range flts {
		*f = (*f)[:0]
	}
	c.ts, c.status, c.stream = c.ts[:0], c.status[:0], c.stream[:0]
	c.prompt, c.cached, c.cacheWrite, c.completion = c.prompt[:0], c.cached[:0], c.cacheWrite[:0], c.completion[:0]
	for i := range batch {
		u := &batch[i]
		c.id = append(c.id, u.ID)
		c.ts = append(c.ts, utc(u.Time))
		c.project = append(c.project, u.ProjectID)
		c.key = append(c.key, u.KeyID)
		c.endpoint = append(c.endpoint, u.Endpoint)
		c.requested = append(c.requested, u.RequestedModel)
		c.served = append(c.served, u.ServedModel)
		c.provider = append(c.provider, u.Provider)
		c.status = append(c.status, int32(u.Status))
		c.errorCode = append(c.errorCode, u.ErrorCode)
		c.prompt = append(c.prompt, u.PromptTokens)
		c.cached = append(c.cached, u.CachedTokens)
		c.cacheWrite = append(c.cacheWrite, u.CacheWriteTokens)
		c.completion = append(c.completion, u.CompletionTokens)
		c.cost = append(c.cost, u.CostUSD)
		c.savedResponse = append(c.savedResponse, u.Savings.ResponseCache)
		c.savedPrompt = append(c.savedPrompt, u.Savings.ProviderPromptCache)
		c.savedIDE = append(c.savedIDE, u.Savings.IDEBoilerplate)
		c.savedDedup = append(c.savedDedup, u.Savings.FileDedup)
		c.savedRouting = append(c.savedRouting, u.Savings.Routing)
		c.latency = append(c.latency, u.LatencyMS)
		c.upstream = append(c.upstream, u.UpstreamMS)
		c.cache = append(c.cache, u.Cache)
		c.routeReason = append(c.routeReason, u.RouteReason)
		c.stream = append(c.stream, u.Stream)
		c.classifier = append(c.classifier, u.ClassifierCostUSD)
		c.cascadeExtra = append(c.cascadeExtra, u.CascadeExtraCostUSD)
	}
}

// pgQuerier adapts a pgx pool or transaction to querier.
type pgQuerier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	}
}

func (p pgQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (p pgQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	return p.q.Query(ctx, q, args...)
}

func (p pgQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	return p.q.QueryRow(ctx, q, args...)
}
