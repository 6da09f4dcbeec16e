package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"
	sqlitedriver "github.com/ncruces/go-sqlite3/driver"
)

// The SQLite backend uses ncruces/go-sqlite3 (SQLite translated from Wasm to
// Go: no cgo, one static binary) through its database/sql driver, which
// gives us a connection pool, context cancellation and the same Scan rules
// as any SQL code, and drops to the driver's direct API (Conn.Raw) for the
// one hot path, InsertUsage, where binding 25 columns per row through
// database/sql would allocate for every argument.
//
// Two pools share the file: one writer connection and a few readers. SQLite
// allows one writer at a time anyway; funnelling writes through one
// connection queues them in Go instead of in busy-wait loops, and BEGIN
// IMMEDIATE (the driver's _txlock) takes the write lock up front, so a
// transaction never fails half-way upgrading a read lock. WAL lets the
// readers run while the writer writes. synchronous=FULL makes a commit
// durable once it returns (WAL with NORMAL could lose the last commits on a
// power cut, which breaks "nothing a completed request recorded is lost").
//
// A new database gets 16 KiB pages (SQLite's default is 4 KiB): the
// ledger's group commit writes every changed page to the WAL with one
// write(2) each, and the same bytes in a quarter of the calls cost about 7%
// less CPU per ledger row (BenchmarkInsertUsage). The pragma is a no-op on
// an existing file, which keeps its page size.

const (
	// sqliteBusyTimeout is how long a statement waits for a lock another
	// process (a backup, a second gateway) holds.
	sqliteBusyTimeout = 10 * time.Second
	sqliteReaders     = 4
)

type sqliteBackend struct {
	w, r *sql.DB
}

func openSQLite(ctx context.Context, cfg Config) (backend, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: data_dir: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(cfg.DataDir, SQLiteFile))
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	dsn := func(q string) string {
		return (&url.URL{Scheme: "file", Path: path, RawQuery: q}).String()
	}
	common := "_pragma=busy_timeout(" + strconv.FormatInt(sqliteBusyTimeout.Milliseconds(), 10) + ")&_timefmt=unixepoch_micro"
	w, err := sql.Open("sqlite3", dsn(common+"&_pragma=synchronous(full)&_pragma=page_size(16384)&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := walMode(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite3", dsn(common+"&_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	n := cfg.MaxConns
	if n <= 0 {
		n = sqliteReaders
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &sqliteBackend{w: w, r: r}, nil
}

// walMode switches the file to WAL (persistent: later connections find it
// set). Switching needs the database to itself, and SQLite answers BUSY at
// once instead of calling the busy handler when another connection (a
// second process opening a new file at the same moment) is in the way, so
// retry for as long as the busy timeout.
func walMode(ctx context.Context, w *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for {
		var mode string
		err := w.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("journal_mode is %q, not wal", mode)
		case !errors.Is(err, sqlite3.BUSY) || time.Now().After(deadline):
			return fmt.Errorf("journal_mode wal: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (b *sqliteBackend) name() string { return "sqlite" }

func (b *sqliteBackend) close() {
	b.r.Close()
	b.w.Close()
}

func (b *sqliteBackend) exec(ctx context.Context, q string, args ...any) (int64, error) {
	return sqlQuerier{b.w}.exec(ctx, q, args...)
}

func (b *sqliteBackend) query(ctx context.Context, q string, args ...any) (rows, error) {
	return sqlQuerier{b.r}.query(ctx, q, args...)
}

func (b *sqliteBackend) queryRow(ctx context.Context, q string, args ...any) row {
	return sqlQuerier{b.r}.queryRow(ctx, q, args...)
}

func (b *sqliteBackend) write(ctx context.Context, fn func(querier) error) error {
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(sqlQuerier{tx}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (b *sqliteBackend) snapshot(ctx context.Context, fn func(querier) error) error {
	tx, err := b.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	return fn(sqlQuerier{tx})
}

// lockMigrations: the write transaction began IMMEDIATE, so it already
// holds the database's write lock, across processes.
func (b *sqliteBackend) lockMigrations(context.Context, querier) error { return nil }

func (b *sqliteBackend) dayExpr(col string) string {
	return "strftime('%Y-%m-%d', " + col + " / 1000000, 'unixepoch')"
}
func (b *sqliteBackend) bucketExpr(col string, step int64) string {
	// Times are stored as integer microseconds since the epoch.
	n := strconv.FormatInt(step, 10)
	return "((" + col + " / 1000000) / " + n + ") * " + n
}
func (b *sqliteBackend) forUpdate() string  { return "" } // the write transaction holds the database lock
func (b *sqliteBackend) skipLocked() string { return "" }

const sqliteInsertUsage = `INSERT INTO usage_ledger (` + usageColumns + `)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)
ON CONFLICT DO NOTHING`

const sqliteUpsertDaily = `INSERT INTO usage_daily (project_id, day, requests, cost_usd) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (project_id, day) DO UPDATE SET requests = usage_daily.requests + excluded.requests,
cost_usd = usage_daily.cost_usd + excluded.cost_usd`

// insertUsage binds each row straight into one prepared statement inside
// one IMMEDIATE transaction, on the writer connection, and adds the new
// rows to the daily rollup in the same transaction.
func (b *sqliteBackend) insertUsage(ctx context.Context, batch []UsageRow) (int, error) {
	conn, err := b.w.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("insert usage: %w", err)
	}
	defer conn.Close()
	n := 0
	err = conn.Raw(func(dc any) (err error) {
		c := dc.(sqlitedriver.Conn).Raw()
		old := c.SetInterrupt(ctx)
		defer c.SetInterrupt(old)
		tx, err := c.BeginImmediate()
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				c.SetInterrupt(context.Background()) // roll back even when ctx is done
			}
			tx.End(&err)
		}()
		st, _, err := c.Prepare(sqliteInsertUsage)
		if err != nil {
			return err
		}
		defer st.Close()
		var skipped []int // rows already stored, usually none
		for i := range batch {
			if err := bindUsage(st, &batch[i]); err != nil {
				return err
			}
			if err := st.Exec(); err != nil {
				return err
			}
			if c.Changes() == 1 {
				n++
			} else {
				skipped = append(skipped, i)
			}
		}
		days := aggregateDays(batch, func(i int) bool { return !slices.Contains(skipped, i) })
		up, _, err := c.Prepare(sqliteUpsertDaily)
		if err != nil {
			return err
		}
		defer up.Close()
		for _, d := range days {
			up.BindText(1, d.project)
			up.BindInt64(2, d.day.UnixMicro())
			up.BindInt64(3, d.requests)
			if err := up.BindFloat(4, d.cost); err != nil {
				return err
			}
			if err := up.Exec(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("insert usage: %w", err)
	}
	return n, nil
}

func bindUsage(st *sqlite3.Stmt, u *UsageRow) error {
	// Bind errors are sticky on the statement and surface in Exec; the
	// only possible ones here are out-of-memory.
	st.BindText(1, u.ID)
	st.BindInt64(2, u.Time.UnixMicro())
	st.BindText(3, u.ProjectID)
	st.BindText(4, u.KeyID)
	st.BindText(5, u.Endpoint)
	st.BindText(6, u.RequestedModel)
	st.BindText(7, u.ServedModel)
	st.BindText(8, u.Provider)
	st.BindInt64(9, int64(u.Status))
	st.BindText(10, u.ErrorCode)
	st.BindInt64(11, u.PromptTokens)
	st.BindInt64(12, u.CachedTokens)
	st.BindInt64(13, u.CacheWriteTokens)
	st.BindInt64(14, u.CompletionTokens)
	st.BindFloat(15, u.CostUSD)
	st.BindFloat(16, u.Savings.ResponseCache)
	st.BindFloat(17, u.Savings.ProviderPromptCache)
	st.BindFloat(18, u.Savings.IDEBoilerplate)
	st.BindFloat(19, u.Savings.FileDedup)
	st.BindFloat(20, u.Savings.Routing)
	st.BindFloat(21, u.LatencyMS)
	st.BindFloat(22, u.UpstreamMS)
	st.BindText(23, u.Cache)
	st.BindText(24, u.RouteReason)
	st.BindBool(25, u.Stream)
	st.BindFloat(26, u.ClassifierCostUSD)
	return st.BindFloat(27, u.CascadeExtraCostUSD)
}

// sqlQuerier adapts database/sql (a pool or a transaction) to querier,
// rewriting $n placeholders to SQLite's ?n.
type sqlQuerier struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (s sqlQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := s.q.ExecContext(ctx, sqliteSQL(q), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s sqlQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := s.q.QueryContext(ctx, sqliteSQL(q), args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

func (s sqlQuerier) queryRow(ctx context.Context, q string, args ...any) row {
	return s.q.QueryRowContext(ctx, sqliteSQL(q), args...)
}

// sqlRows gives *sql.Rows the Close of pgx.Rows (the error of Close is the
// one Err reports).
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

var sqliteQueries sync.Map // PostgreSQL-style query → SQLite query

// sqliteSQL rewrites $1, $2… to ?1, ?2… (SQLite would read "$1" as a named
// parameter, numbered by first appearance rather than by its digits). The
// store's queries contain no "$" in literals. Rewrites are cached: the set
// of queries is finite (fixed texts and filter combinations; values are
// always parameters, never spliced into the text).
func sqliteSQL(q string) string {
	if v, ok := sqliteQueries.Load(q); ok {
		return v.(string)
	}
	out := make([]byte, 0, len(q))
	for i := 0; i < len(q); i++ {
		if q[i] == '$' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9' {
			out = append(out, '?')
			continue
		}
		out = append(out, q[i])
	}
	s := string(out)
	sqliteQueries.Store(q, s)
	return s
}
