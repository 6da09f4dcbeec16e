package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ncruces/go-sqlite3"
	sqlitedriver "github.com/ncruces/go-sqlite3/driver"
)

// sqliteLedgerTable is the eponymous virtual table that reads the ledger's
// chunks as rows with usage_ledger's columns: every ledger query's SQL is
// the same on both backends, only the table name differs.
const sqliteLedgerTable = "ledger_rows"

const (
	sqliteInsertChunk = `INSERT INTO usage_chunks (ts_min, ts_max, n, data) VALUES (?1, ?2, ?3, ?4)`
	sqliteUpsertDaily = `INSERT INTO usage_daily (project_id, day, requests, cost_usd) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (project_id, day) DO UPDATE SET requests = usage_daily.requests + excluded.requests,
cost_usd = usage_daily.cost_usd + excluded.cost_usd`
)

// insertUsage stores a batch as one chunk inside one IMMEDIATE transaction,
// on the writer connection, and adds its rows to the daily rollup in the
// same transaction. fresh rows (never given to the store before) are not
// looked up; otherwise the chunks whose time range meets the batch's are
// read and the rows already stored are left out.
func (b *sqliteBackend) insertUsage(ctx context.Context, batch []UsageRow, fresh bool) (int, error) {
	n := 0
	err := b.rawWriteRelaxed(ctx, func(c *sqlite3.Conn) (err error) {
		rows := batch
		if !fresh {
			if rows, err = newUsageRows(c, batch); err != nil {
				return err
			}
		}
		if len(rows) == 0 {
			return nil
		}
		if err := b.putChunk(c, rows, 0); err != nil {
			return err
		}
		n = len(rows)
		return sqliteAddDaily(c, aggregateDays(rows, func(int) bool { return true }))
	})
	if err != nil {
		return 0, fmt.Errorf("insert usage: %w", err)
	}
	return n, nil
}

// putChunk encodes rows into a new chunk, or into chunk seq's place when
// seq > 0.
func (b *sqliteBackend) putChunk(c *sqlite3.Conn, rows []UsageRow, seq int64) error {
	b.encMu.Lock()
	defer b.encMu.Unlock()
	data, lo, hi := b.enc.encode(rows)
	q := sqliteInsertChunk
	if seq > 0 {
		q = `UPDATE usage_chunks SET ts_min = ?1, ts_max = ?2, n = ?3, data = ?4 WHERE seq = ?5`
	}
	st, _, err := c.Prepare(q)
	if err != nil {
		return err
	}
	defer st.Close()
	st.BindInt64(1, lo)
	st.BindInt64(2, hi)
	st.BindInt64(3, int64(len(rows)))
	st.BindBlob(4, data)
	if seq > 0 {
		st.BindInt64(5, seq)
	}
	return st.Exec()
}

func sqliteAddDaily(c *sqlite3.Conn, days []dayAgg) error {
	if len(days) == 0 {
		return nil
	}
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
}

// rowKey is a ledger row's identity.
type rowKey struct {
	ts int64
	id string
}

// newUsageRows returns the rows of batch whose (ts, id) no chunk holds, the
// first of each (ts, id) the batch repeats.
func newUsageRows(c *sqlite3.Conn, batch []UsageRow) ([]UsageRow, error) {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range batch {
		ts := batch[i].Time.UnixMicro()
		lo, hi = min(lo, ts), max(hi, ts)
	}
	seen := make(map[rowKey]struct{}, len(batch))
	st, _, err := c.Prepare(`SELECT data FROM usage_chunks WHERE ts_max >= ?1 AND ts_min <= ?2`)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	st.BindInt64(1, lo)
	st.BindInt64(2, hi)
	var r chunkReader
	var u UsageRow
	for st.Step() {
		if err := r.reset(st.ColumnRawBlob(0)); err != nil {
			return nil, err
		}
		for r.next(&u) {
			if ts := u.Time.UnixMicro(); ts >= lo && ts <= hi {
				seen[rowKey{ts, strings.Clone(u.ID)}] = struct{}{}
			}
		}
		if err := r.Err(); err != nil {
			return nil, err
		}
	}
	if err := st.Err(); err != nil {
		return nil, err
	}
	out := make([]UsageRow, 0, len(batch))
	for i := range batch {
		k := rowKey{batch[i].Time.UnixMicro(), batch[i].ID}
		if _, ok := seen[k]; ok {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, batch[i])
	}
	return out, nil
}

// pruneUsage deletes the rows older than before: whole chunks, and the old
// rows of a chunk that straddles before (rewritten in place). A bounded
// number of chunks per transaction keeps the write lock short.
func (b *sqliteBackend) pruneUsage(ctx context.Context, t time.Time) (int64, error) {
	before := t.UnixMicro()
	var total int64
	for {
		var n int64
		more := false
		err := b.rawWrite(ctx, func(c *sqlite3.Conn) error {
			st, _, err := c.Prepare(`SELECT seq, ts_min, ts_max, data FROM usage_chunks WHERE ts_min < ?1 ORDER BY seq LIMIT 65`)
			if err != nil {
				return err
			}
			defer st.Close()
			st.BindInt64(1, before)
			type old struct {
				seq  int64
				rows []UsageRow // kept rows of a straddling chunk
				n    int64      // rows deleted
			}
			var olds []old
			for st.Step() {
				if len(olds) == 64 {
					more = true
					break
				}
				o := old{seq: st.ColumnInt64(0)}
				if st.ColumnInt64(2) >= before {
					rows, err := decodeChunk(st.ColumnRawBlob(3))
					if err != nil {
						return fmt.Errorf("chunk %d: %w", o.seq, err)
					}
					for _, u := range rows {
						if u.Time.UnixMicro() >= before {
							o.rows = append(o.rows, u)
						} else {
							o.n++
						}
					}
				} else {
					all, err := chunkRows(st.ColumnRawBlob(3))
					if err != nil {
						return fmt.Errorf("chunk %d: %w", o.seq, err)
					}
					o.n = all
				}
				olds = append(olds, o)
			}
			if err := st.Err(); err != nil {
				return err
			}
			del, _, err := c.Prepare(`DELETE FROM usage_chunks WHERE seq = ?1`)
			if err != nil {
				return err
			}
			defer del.Close()
			for _, o := range olds {
				if len(o.rows) > 0 {
					if err := b.putChunk(c, o.rows, o.seq); err != nil {
						return err
					}
				} else {
					del.BindInt64(1, o.seq)
					if err := del.Exec(); err != nil {
						return err
					}
				}
				n += o.n
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// chunkRows is the number of rows a chunk holds.
func chunkRows(data []byte) (int64, error) {
	var r chunkReader
	if err := r.reset(data); err != nil {
		return 0, err
	}
	return int64(r.n), nil
}

// rawWrite runs fn in an IMMEDIATE transaction on the writer connection.
func (b *sqliteBackend) rawWrite(ctx context.Context, fn func(c *sqlite3.Conn) error) error {
	return b.rawTx(ctx, false, fn)
}

// rawWriteRelaxed is rawWrite for the ledger's group commits: the commit
// does not fsync the WAL (synchronous = NORMAL for this transaction only),
// and walSyncer fsyncs it within ledgerSyncEvery. A commit that fsyncs is
// a blocking system call of a few milliseconds, and a gateway on one CPU
// (GOMAXPROCS 1) serves nothing until the runtime notices and hands its
// only P to another thread: at 25 commits a second that left 1–3% of the
// CPU idle (bench/RESULTS.md). A crash of the process loses nothing (the
// WAL's pages are in the page cache); a power cut can lose the ledger's
// commits of the last ledgerSyncEvery, as it can lose the journal's rows,
// which are never fsynced. Every other write keeps synchronous = FULL.
func (b *sqliteBackend) rawWriteRelaxed(ctx context.Context, fn func(c *sqlite3.Conn) error) error {
	if err := b.rawTx(ctx, true, fn); err != nil {
		return err
	}
	b.walDirty.Store(true)
	return nil
}

// ledgerSyncEvery bounds how long a relaxed commit waits for its fsync.
const ledgerSyncEvery = time.Second

// walSyncer fsyncs the WAL after relaxed commits, at most every
// ledgerSyncEvery, and once more when the store closes.
func (b *sqliteBackend) walSyncer() {
	defer close(b.synced)
	t := time.NewTicker(ledgerSyncEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stopSync:
			b.syncWAL()
			return
		case <-t.C:
			b.syncWAL()
		}
	}
}

// syncWAL fsyncs the WAL file if a relaxed commit happened since the last
// time. Any descriptor of the file will do: fsync makes the file's data
// durable, whoever wrote it.
func (b *sqliteBackend) syncWAL() {
	if !b.walDirty.Swap(false) {
		return
	}
	f, err := os.OpenFile(b.walPath, os.O_RDWR, 0)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) { // no WAL: checkpointed and removed, nothing to sync
			b.walDirty.Store(true) // try again next time
		}
		return
	}
	if err := f.Sync(); err != nil {
		b.walDirty.Store(true)
	}
	f.Close()
	walSyncs.Add(1)
}

// walSyncs counts syncWAL's fsyncs (tests).
var walSyncs atomic.Int64

// rawTx runs fn in an IMMEDIATE transaction on the writer connection;
// relaxed commits it without fsyncing the WAL.
func (b *sqliteBackend) rawTx(ctx context.Context, relaxed bool, fn func(c *sqlite3.Conn) error) error {
	conn, err := b.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) (err error) {
		c := dc.(sqlitedriver.Conn).Raw()
		if relaxed {
			if err := c.Exec(`PRAGMA synchronous = NORMAL`); err != nil {
				return err
			}
			defer func() {
				if rerr := c.Exec(`PRAGMA synchronous = FULL`); rerr != nil {
					// The connection must not serve other writes relaxed:
					// drop it (the pool opens another with FULL).
					err = errors.Join(err, rerr, driver.ErrBadConn)
				}
			}()
		}
		old := c.SetInterrupt(ctx)
		defer c.SetInterrupt(old)
		tx, err := c.BeginImmediate()
		if err != nil {
			return err
		}
		defer func() {
			if err != nil {
				c.SetInterrupt(context.Background())
			}
			tx.End(&err)
		}()
		return fn(c)
	})
}

// moveLegacyRows moves the rows of the usage_ledger table (written before
// migration 8) into chunks of 1000, oldest first; the daily rollup already
// counts them. An interrupted move resumes at the next start.
func (b *sqliteBackend) moveLegacyRows(ctx context.Context) error {
	var chunked int
	if err := b.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'usage_chunks'`).Scan(&chunked); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if chunked == 0 {
		return nil // an older schema (tests that stop migrating early)
	}
	for {
		moved := 0
		err := b.rawWrite(ctx, func(c *sqlite3.Conn) error {
			st, _, err := c.Prepare(`SELECT ` + usageColumns + ` FROM usage_ledger ORDER BY ts, id LIMIT 1000`)
			if err != nil {
				return err
			}
			defer st.Close()
			var rows []UsageRow
			for st.Step() {
				rows = append(rows, scanLegacy(st))
			}
			if err := st.Err(); err != nil {
				return err
			}
			if len(rows) == 0 {
				return nil
			}
			if err := b.putChunk(c, rows, 0); err != nil {
				return err
			}
			last := rows[len(rows)-1]
			del, _, err := c.Prepare(`DELETE FROM usage_ledger WHERE ts < ?1 OR (ts = ?1 AND id <= ?2)`)
			if err != nil {
				return err
			}
			defer del.Close()
			del.BindInt64(1, last.Time.UnixMicro())
			del.BindText(2, last.ID)
			moved = len(rows)
			return del.Exec()
		})
		if err != nil {
			return fmt.Errorf("store: move ledger rows into chunks: %w", err)
		}
		if moved < 1000 {
			return nil
		}
	}
}

// scanLegacy reads a usage_ledger row selected with usageColumns.
func scanLegacy(st *sqlite3.Stmt) UsageRow {
	u := UsageRow{
		ID: st.ColumnText(0), ProjectID: st.ColumnText(2), KeyID: st.ColumnText(3),
		Endpoint: st.ColumnText(4), RequestedModel: st.ColumnText(5), ServedModel: st.ColumnText(6),
		Provider: st.ColumnText(7), Status: st.ColumnInt(8), ErrorCode: st.ColumnText(9),
		PromptTokens: st.ColumnInt64(10), CachedTokens: st.ColumnInt64(11), CacheWriteTokens: st.ColumnInt64(12),
		CompletionTokens: st.ColumnInt64(13), CostUSD: st.ColumnFloat(14),
		Savings: Savings{ResponseCache: st.ColumnFloat(15), ProviderPromptCache: st.ColumnFloat(16),
			IDEBoilerplate: st.ColumnFloat(17), FileDedup: st.ColumnFloat(18), Routing: st.ColumnFloat(19)},
		LatencyMS: st.ColumnFloat(20), UpstreamMS: st.ColumnFloat(21), Cache: st.ColumnText(22),
		RouteReason: st.ColumnText(23), Stream: st.ColumnBool(24), ClassifierCostUSD: st.ColumnFloat(25),
		CascadeExtraCostUSD: st.ColumnFloat(26),
	}
	u.Time = timeFromMicro(st.ColumnInt64(1))
	return u
}

// ledgerColumns are the virtual table's columns, usage_ledger's.
var ledgerColumns = strings.Split(strings.NewReplacer("\n", "", " ", "").Replace(usageColumns), ",")

// Column numbers of the virtual table that BestIndex reads.
var (
	colID      = slices.Index(ledgerColumns, "id")
	colTS      = slices.Index(ledgerColumns, "ts")
	colProject = slices.Index(ledgerColumns, "project_id")
)

// ledgerVTabDecl declares the virtual table with usage_ledger's types.
var ledgerVTabDecl = func() string {
	types := map[string]string{"id": "TEXT", "ts": "INTEGER", "status": "INTEGER", "stream": "INTEGER"}
	var b strings.Builder
	b.WriteString("CREATE TABLE x(")
	for i, c := range ledgerColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		t, ok := types[c]
		switch {
		case ok:
		case strings.HasSuffix(c, "_tokens"):
			t = "INTEGER"
		case strings.HasSuffix(c, "_usd"), strings.HasPrefix(c, "saved_"), strings.HasSuffix(c, "_ms"):
			t = "REAL"
		default:
			t = "TEXT"
		}
		b.WriteString(c + " " + t)
	}
	b.WriteString(")")
	return b.String()
}()

// registerLedgerVTab makes ledger_rows available on a new connection.
func registerLedgerVTab(c *sqlite3.Conn) error {
	return sqlite3.CreateModule(c, sqliteLedgerTable, nil,
		func(db *sqlite3.Conn, _, _, _ string, _ ...string) (*ledgerVTab, error) {
			if err := db.DeclareVTab(ledgerVTabDecl); err != nil {
				return nil, err
			}
			return &ledgerVTab{db: db}, nil
		})
}
