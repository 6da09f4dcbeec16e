package store

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/ncruces/go-sqlite3"
)

// ledgerVTab reads usage_chunks as ledger rows. SQLite passes it the
// query's bounds on ts and its project_id equality; only the chunks whose
// time range meets the bounds are read and decoded, and their rows are
// filtered by the bounds before SQLite sees them (SQLite checks every
// condition again: the table never omits one). When the query orders by
// ts DESC (then id DESC) the rows come out in that order, so a page of the
// request log stops reading chunks once it is full.
type ledgerVTab struct {
	db *sqlite3.Conn
}

// idxNum bits: which arguments Filter receives, in this order.
const (
	idxLower   = 1 << iota // ts >= arg (or >)
	idxUpper               // ts <= arg (or <)
	idxEqual               // ts = arg
	idxProject             // project_id = arg
	idxDesc                // rows in (ts DESC, id DESC) order
)

// BestIndex implements sqlite3.VTab.
func (t *ledgerVTab) BestIndex(ii *sqlite3.IndexInfo) error {
	use := [...]int{-1, -1, -1, -1} // lower, upper, equal, project
	for i, c := range ii.Constraint {
		if !c.Usable {
			continue
		}
		k := -1
		switch {
		case c.Column == colTS && (c.Op == sqlite3.INDEX_CONSTRAINT_GE || c.Op == sqlite3.INDEX_CONSTRAINT_GT):
			k = 0
		case c.Column == colTS && (c.Op == sqlite3.INDEX_CONSTRAINT_LE || c.Op == sqlite3.INDEX_CONSTRAINT_LT):
			k = 1
		case c.Column == colTS && c.Op == sqlite3.INDEX_CONSTRAINT_EQ:
			k = 2
		case c.Column == colProject && c.Op == sqlite3.INDEX_CONSTRAINT_EQ:
			k = 3
		}
		if k >= 0 && use[k] < 0 {
			use[k] = i
		}
	}
	argv := 0
	cost := 1e9
	for k, i := range use {
		if i < 0 {
			continue
		}
		argv++
		ii.ConstraintUsage[i].ArgvIndex = argv
		ii.IdxNum |= 1 << k
		if k == 3 {
			cost /= 2
		} else {
			cost /= 10
		}
	}
	if ob := ii.OrderBy; len(ob) >= 1 && len(ob) <= 2 && ob[0].Column == colTS && ob[0].Desc &&
		(len(ob) == 1 || ob[1].Column == colID && ob[1].Desc) {
		ii.OrderByConsumed = true
		ii.IdxNum |= idxDesc
	}
	ii.EstimatedCost = cost
	return nil
}

// Open implements sqlite3.VTab.
func (t *ledgerVTab) Open() (sqlite3.VTabCursor, error) { return &ledgerCursor{db: t.db}, nil }

// chunkRef is a chunk's place and time range.
type chunkRef struct {
	seq, tsMax int64
}

type ledgerCursor struct {
	db      *sqlite3.Conn
	lo, hi  int64 // ts bounds, inclusive
	project string
	byProj  bool
	desc    bool
	chunks  []chunkRef // still to read, in reading order
	rows    []UsageRow // read, not yet returned; in desc mode ascending, returned from the end
	cur     UsageRow
	eof     bool
	rowid   int64
	err     error
}

// Filter implements sqlite3.VTabCursor.
func (c *ledgerCursor) Filter(idxNum int, _ string, arg ...sqlite3.Value) error {
	*c = ledgerCursor{db: c.db, lo: math.MinInt64, hi: math.MaxInt64, desc: idxNum&idxDesc != 0}
	for k := range 4 {
		if idxNum&(1<<k) == 0 || len(arg) == 0 {
			continue
		}
		v := arg[0]
		arg = arg[1:]
		switch k {
		case 0:
			c.lo = max(c.lo, boundArg(v, true))
		case 1:
			c.hi = min(c.hi, boundArg(v, false))
		case 2:
			c.lo, c.hi = max(c.lo, boundArg(v, true)), min(c.hi, boundArg(v, false))
		case 3:
			c.project, c.byProj = v.Text(), true
		}
	}
	order := "seq"
	if c.desc {
		order = "ts_max DESC, seq DESC"
	}
	st, _, err := c.db.Prepare(`SELECT seq, ts_max FROM usage_chunks WHERE ts_max >= ?1 AND ts_min <= ?2 ORDER BY ` + order)
	if err != nil {
		return err
	}
	defer st.Close()
	st.BindInt64(1, c.lo)
	st.BindInt64(2, c.hi)
	for st.Step() {
		c.chunks = append(c.chunks, chunkRef{st.ColumnInt64(0), st.ColumnInt64(1)})
	}
	if err := st.Err(); err != nil {
		return err
	}
	return c.Next()
}

// boundArg is a ts bound as integer microseconds. A bound SQLite could not
// read as an integer (a float, text) is widened to the next integer
// outward: the table only narrows what SQLite checks again.
func boundArg(v sqlite3.Value, lower bool) int64 {
	if v.NumericType() == sqlite3.INTEGER {
		return v.Int64()
	}
	f := v.Float()
	switch {
	case math.IsNaN(f):
		if lower {
			return math.MinInt64
		}
		return math.MaxInt64
	case lower:
		return int64(max(math.Floor(f), math.MinInt64))
	default:
		return int64(min(math.Ceil(f), math.MaxInt64/2))
	}
}

// load reads the next chunk's rows that pass the bounds into c.rows.
func (c *ledgerCursor) load() error {
	ref := c.chunks[0]
	c.chunks = c.chunks[1:]
	st, _, err := c.db.Prepare(`SELECT data FROM usage_chunks WHERE seq = ?1`)
	if err != nil {
		return err
	}
	defer st.Close()
	st.BindInt64(1, ref.seq)
	if !st.Step() {
		return st.Err()
	}
	data := append([]byte(nil), st.ColumnRawBlob(0)...) // the rows' strings point into it
	var r chunkReader
	if err := r.reset(data); err != nil {
		return err
	}
	var u UsageRow
	for r.next(&u) {
		if ts := u.Time.UnixMicro(); ts < c.lo || ts > c.hi || c.byProj && u.ProjectID != c.project {
			continue
		}
		c.rows = append(c.rows, u)
	}
	if err := r.Err(); err != nil {
		return err
	}
	if c.desc {
		slices.SortFunc(c.rows, func(a, b UsageRow) int {
			if d := a.Time.Compare(b.Time); d != 0 {
				return d
			}
			return cmp.Compare(a.ID, b.ID)
		})
	}
	return st.Err()
}

// Next implements sqlite3.VTabCursor.
func (c *ledgerCursor) Next() error {
	for {
		if c.desc && len(c.rows) > 0 {
			// Every chunk that may hold a later row must be read first.
			top := c.rows[len(c.rows)-1].Time.UnixMicro()
			if len(c.chunks) > 0 && c.chunks[0].tsMax >= top {
				if err := c.load(); err != nil {
					return err
				}
				continue
			}
			c.cur = c.rows[len(c.rows)-1]
			c.rows = c.rows[:len(c.rows)-1]
			c.rowid++
			return nil
		}
		if !c.desc && len(c.rows) > 0 {
			c.cur = c.rows[0]
			c.rows = c.rows[1:]
			c.rowid++
			return nil
		}
		if len(c.chunks) == 0 {
			c.eof = true
			return nil
		}
		if err := c.load(); err != nil {
			return err
		}
	}
}

// EOF implements sqlite3.VTabCursor.
func (c *ledgerCursor) EOF() bool { return c.eof }

// RowID implements sqlite3.VTabCursor.
func (c *ledgerCursor) RowID() (int64, error) { return c.rowid, nil }

// Column implements sqlite3.VTabCursor.
func (c *ledgerCursor) Column(ctx sqlite3.Context, n int) error {
	u := &c.cur
	switch n {
	case 0:
		ctx.ResultText(u.ID)
	case 1:
		ctx.ResultInt64(u.Time.UnixMicro())
	case 2:
		ctx.ResultText(u.ProjectID)
	case 3:
		ctx.ResultText(u.KeyID)
	case 4:
		ctx.ResultText(u.Endpoint)
	case 5:
		ctx.ResultText(u.RequestedModel)
	case 6:
		ctx.ResultText(u.ServedModel)
	case 7:
		ctx.ResultText(u.Provider)
	case 8:
		ctx.ResultInt64(int64(u.Status))
	case 9:
		ctx.ResultText(u.ErrorCode)
	case 10:
		ctx.ResultInt64(u.PromptTokens)
	case 11:
		ctx.ResultInt64(u.CachedTokens)
	case 12:
		ctx.ResultInt64(u.CacheWriteTokens)
	case 13:
		ctx.ResultInt64(u.CompletionTokens)
	case 14:
		ctx.ResultFloat(u.CostUSD)
	case 15:
		ctx.ResultFloat(u.Savings.ResponseCache)
	case 16:
		ctx.ResultFloat(u.Savings.ProviderPromptCache)
	case 17:
		ctx.ResultFloat(u.Savings.IDEBoilerplate)
	case 18:
		ctx.ResultFloat(u.Savings.FileDedup)
	case 19:
		ctx.ResultFloat(u.Savings.Routing)
	case 20:
		ctx.ResultFloat(u.LatencyMS)
	case 21:
		ctx.ResultFloat(u.UpstreamMS)
	case 22:
		ctx.ResultText(u.Cache)
	case 23:
		ctx.ResultText(u.RouteReason)
	case 24:
		ctx.ResultBool(u.Stream)
	case 25:
		ctx.ResultFloat(u.ClassifierCostUSD)
	case 26:
		ctx.ResultFloat(u.CascadeExtraCostUSD)
	}
	return nil
}

func timeFromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }
