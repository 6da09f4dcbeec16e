package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// querier is what the store's SQL needs from a connection, a pool or a
// transaction of either driver. Queries are written in PostgreSQL's
// placeholder style ($1, $2…); the SQLite backend rewrites them to ?1, ?2….
type querier interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

// rows is the common part of *sql.Rows and pgx.Rows.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// row is the common part of *sql.Row and pgx.Row. Scan returns an error
// wrapping sql.ErrNoRows when there is no row (pgx.ErrNoRows does).
type row interface {
	Scan(dest ...any) error
}

// backend is one database engine under the common store logic. The
// querier it embeds runs single statements outside transactions (on
// SQLite, exec on the writer connection and queries on the readers).
type backend interface {
	querier
	name() string
	// write runs fn in a read-write transaction and commits it when fn
	// returns nil.
	write(ctx context.Context, fn func(q querier) error) error
	// snapshot runs fn in a read-only transaction that sees one consistent
	// state of the database.
	snapshot(ctx context.Context, fn func(q querier) error) error
	// lockMigrations serialises schema migrations among processes for the
	// rest of the transaction q.
	lockMigrations(ctx context.Context, q querier) error
	// insertUsage writes a batch of ledger rows in one transaction,
	// skipping (ts, id)s already stored, and returns how many were new.
	// fresh says that no row of the batch was given to the store before
	// (a backend may then skip the lookup).
	insertUsage(ctx context.Context, rows []UsageRow, fresh bool) (int, error)
	// ledgerTable is the table (or view) ledger queries read.
	ledgerTable() string
	// pruneUsage deletes the ledger rows older than before.
	pruneUsage(ctx context.Context, before time.Time) (int64, error)
	// Dialect fragments.
	dayExpr(col string) string // col's UTC date as 'YYYY-MM-DD' text
	// bucketExpr is col's Unix time in seconds rounded down to a multiple
	// of step seconds, as an integer.
	bucketExpr(col string, step int64) string
	forUpdate() string  // row-lock clause of a SELECT in a write transaction
	skipLocked() string // row-lock clause that skips rows other transactions hold
	close()
}

// sqlStore is the Store: every method's logic, written once over backend.
type sqlStore struct {
	b   backend
	now func() time.Time
}

var _ Store = (*sqlStore)(nil)

// Backend implements Store.
func (s *sqlStore) Backend() string { return s.b.name() }

// Close implements Store.
func (s *sqlStore) Close() error {
	s.b.close()
	return nil
}

// clock returns the store's now, truncated like stored times.
func (s *sqlStore) clock() time.Time { return utc(s.now()) }

// notFound maps sql.ErrNoRows to ErrNotFound with context, and wraps
// anything else.
func notFound(err error, what, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", what, id, ErrNotFound)
	}
	return fmt.Errorf("%s %q: %w", what, id, err)
}

// nullTime scans a nullable time column of either backend: SQLite yields
// time.Time (the driver decodes TIMESTAMP columns) or int64 microseconds
// (expressions), pgx yields time.Time; NULL gives the zero time.
type nullTime struct{ t *time.Time }

func (n *nullTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*n.t = time.Time{}
	case time.Time:
		*n.t = v.UTC()
	case int64:
		*n.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

// timeArg is a nullable time argument: NULL for the zero time.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return utc(t)
}
