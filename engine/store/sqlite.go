package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// power cut), except the ledger's group commits, whose WAL is fsynced at most
// a second later (rawWriteRelaxed, sqlite_ledger.go).
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
	// enc encodes the ledger's chunks (putChunk).
	encMu sync.Mutex
	enc   chunkEncoder
	// The ledger's commits do not fsync the WAL (sqlite_ledger.go,
	// insertUsage); walSyncer does, at most every ledgerSyncEvery, when
	// walDirty says one happened since.
	walPath  string
	walDirty atomic.Bool
	stopSync chan struct{}
	synced   chan struct{}
	closing  sync.Once
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
	w, err := sqlitedriver.Open(dsn(common+"&_pragma=synchronous(full)&_pragma=page_size(16384)&_txlock=immediate"), registerLedgerVTab)
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
	r, err := sqlitedriver.Open(dsn(common+"&_pragma=query_only(1)"), registerLedgerVTab)
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
	b := &sqliteBackend{w: w, r: r, walPath: path + "-wal", stopSync: make(chan struct{}), synced: make(chan struct{})}
	go b.walSyncer()
	return b, nil
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
	b.closing.Do(func() {
		close(b.stopSync)
		<-b.synced
	})
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
func (b *sqliteBackend) forUpdate() string   { return "" } // the write transaction holds the database lock
func (b *sqliteBackend) skipLocked() string  { return "" }
func (b *sqliteBackend) ledgerTable() string { return sqliteLedgerTable }

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
