package admin

// The live tail of the request log: the rows this replica's ledger writer
// has just stored, kept in a bounded ring, served by long polling
// (GET /admin/requests/tail?after=SEQ). A poll holds no subscription: it
// waits on a channel that the next store write closes, for at most
// maxTailWait, so a browser that goes away leaves nothing behind but a
// handler that returns by itself within that bound.

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/ledger"
	"github.com/aigateway/gateway/engine/store"
	"github.com/valyala/fasthttp"
)

// Bounds of the tail.
const (
	// DefaultTailRows is the ring's size when NewTail is given 0.
	DefaultTailRows = 1000
	// maxTailWait bounds one poll; defaultTailWait is its default.
	maxTailWait     = 30 * time.Second
	defaultTailWait = 25 * time.Second
	// maxTailWaiters bounds the polls waiting at once (429 beyond).
	maxTailWaiters = 64
	// maxTailAnswer bounds the rows of one answer.
	maxTailAnswer = 200
)

// TailRow is a stored ledger row with its place in the tail.
type TailRow struct {
	Seq int64 `json:"seq"`
	store.UsageRow
}

// Tail is the ring of the rows most recently stored by this replica.
//
// # Notes
//
// Safe for concurrent use. Add copies the rows (the ledger reuses their
// memory); it runs on the ledger's flusher goroutine, never on a request.
type Tail struct {
	mu      sync.Mutex
	rows    []TailRow // ring of size rows, grown by append until it is full
	size    int
	next    int64 // seq of the next row; rows hold seq next-len .. next-1
	wake    chan struct{}
	waiters atomic.Int64
	// last holds the previous row's copies of the fields that repeat from
	// row to row (project, key, endpoint, models, provider, error, cache,
	// route reason): a row equal to it shares them instead of copying.
	last [numShared]string
}

// numShared is the number of repeating string fields a row shares.
const numShared = 9

// NewTail returns a tail that keeps the last n rows (0: DefaultTailRows).
func NewTail(n int) *Tail {
	if n <= 0 {
		n = DefaultTailRows
	}
	// The ring grows with the rows: a gateway nobody watches, or that
	// serves few requests, does not hold 1,000 rows' worth (680 KB) idle.
	return &Tail{size: n, next: 1, wake: make(chan struct{})}
}

// Wrap returns a ledger sink that writes to sink and, once the store has
// accepted a batch, adds its rows to t.
func (t *Tail) Wrap(sink ledger.Sink) ledger.Sink { return tailSink{sink, t} }

type tailSink struct {
	ledger.Sink
	t *Tail
}

// AppendUsage forwards to the sink's AppendUsage when it has one.
func (s tailSink) AppendUsage(ctx context.Context, rows []store.UsageRow) (int, error) {
	a, ok := s.Sink.(ledger.Appender)
	if !ok {
		return s.InsertUsage(ctx, rows)
	}
	n, err := a.AppendUsage(ctx, rows)
	if err == nil {
		s.t.Add(rows)
	}
	return n, err
}

func (s tailSink) InsertUsage(ctx context.Context, rows []store.UsageRow) (int, error) {
	n, err := s.Sink.InsertUsage(ctx, rows)
	if err == nil {
		s.t.Add(rows)
	}
	return n, err
}

// Add appends copies of rows to the ring and wakes the waiting polls.
func (t *Tail) Add(rows []store.UsageRow) {
	if len(rows) == 0 {
		return
	}
	t.mu.Lock()
	for i := range rows {
		r := TailRow{Seq: t.next, UsageRow: rows[i]}
		// The row's strings may point into the writer's buffers: the tail
		// keeps copies, shared with the previous row where equal (a
		// steady workload then copies only the request id).
		r.ID = strings.Clone(r.ID)
		for k, f := range [numShared]*string{&r.ProjectID, &r.KeyID, &r.Endpoint, &r.RequestedModel, &r.ServedModel,
			&r.Provider, &r.ErrorCode, &r.Cache, &r.RouteReason} {
			if *f != t.last[k] {
				t.last[k] = strings.Clone(*f)
			}
			*f = t.last[k]
		}
		t.next++
		if len(t.rows) < t.size {
			t.rows = append(t.rows, r)
		} else {
			t.rows[(r.Seq-1)%int64(t.size)] = r
		}
	}
	close(t.wake)
	t.wake = make(chan struct{})
	t.mu.Unlock()
}

// TailFilter selects tail rows; empty fields do not filter.
type TailFilter struct {
	Project, Model string
	Routed         bool
}

func (f *TailFilter) keep(r *TailRow) bool {
	return (f.Project == "" || r.ProjectID == f.Project) &&
		(f.Model == "" || r.ServedModel == f.Model || r.RequestedModel == f.Model) &&
		(!f.Routed || r.RouteReason != "")
}

// Since returns the rows after seq that f keeps, oldest first (at most
// max), the seq to poll after next, and a channel closed by the next Add.
// A seq older than the ring returns what the ring still holds.
func (t *Tail) Since(after int64, f TailFilter, max int) (rows []TailRow, next int64, wake <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int64(len(t.rows))
	first := t.next - n
	if after >= t.next {
		after = 0 // a cursor from before a restart (or another replica)
	}
	if after < first-1 {
		after = first - 1
	}
	next = after
	for seq := after + 1; seq < t.next && len(rows) < max; seq++ {
		r := &t.rows[(seq-1)%int64(t.size)]
		next = seq
		if f.keep(r) {
			rows = append(rows, *r)
		}
	}
	return rows, next, t.wake
}

// Last returns the seq of the newest row (0 when none).
func (t *Tail) Last() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next - 1
}

// Waiting returns the polls waiting now.
func (t *Tail) Waiting() int64 { return t.waiters.Load() }

var errTailBusy = &api.Error{Status: 429, Type: api.TypeRateLimit, Code: "too_many_tails",
	Msg: "Too many live tails are open on this gateway; try again shortly.", RetryAfter: 5}

// handleTail serves GET /admin/requests/tail?after=SEQ&wait=S&project&model&routed=1:
// the rows stored after SEQ on this replica, oldest first, as soon as
// there are any or after wait seconds (default 25, at most 30) with none.
// Without after it answers at once with the cursor (and no rows): the page
// loads the history from /admin/requests and tails from there.
func (a *API) handleTail(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	t := a.Tail
	f := TailFilter{Project: string(args.Peek("project")), Model: string(args.Peek("model")), Routed: string(args.Peek("routed")) == "1"}
	if !args.Has("after") {
		api.WriteJSON(ctx, 200, tailAnswer{Object: "list", Data: []TailRow{}, Next: t.Last()})
		return
	}
	after, err := strconv.ParseInt(string(args.Peek("after")), 10, 64)
	if err != nil || after < 0 {
		api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: "after", Msg: "after: expected a sequence number from a previous answer"})
		return
	}
	wait := defaultTailWait
	if v := args.Peek("wait"); len(v) > 0 {
		s, err := strconv.ParseFloat(string(v), 64)
		if err != nil || s < 0 || s > maxTailWait.Seconds() {
			api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: "wait", Msg: "wait: expected 0 to 30 seconds"})
			return
		}
		wait = time.Duration(s * float64(time.Second))
	}
	if t.waiters.Add(1) > maxTailWaiters {
		t.waiters.Add(-1)
		api.WriteError(ctx, errTailBusy)
		return
	}
	defer t.waiters.Add(-1)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		rows, next, wake := t.Since(after, f, maxTailAnswer)
		if len(rows) > 0 || wait == 0 {
			api.WriteJSON(ctx, 200, tailAnswer{Object: "list", Data: orEmpty(rows), Next: next})
			return
		}
		after = next // rows the filter skipped are not looked at again
		select {
		case <-wake:
		case <-timer.C:
			api.WriteJSON(ctx, 200, tailAnswer{Object: "list", Data: []TailRow{}, Next: after})
			return
		case <-ctx.Done(): // the server shuts down: do not hold the drain
			api.WriteJSON(ctx, 200, tailAnswer{Object: "list", Data: []TailRow{}, Next: after})
			return
		}
	}
}

type tailAnswer struct {
	Object string    `json:"object"`
	Data   []TailRow `json:"data"`
	// Next is the after of the next poll.
	Next int64 `json:"next"`
}

func orEmpty(rows []TailRow) []TailRow {
	if rows == nil {
		return []TailRow{}
	}
	return rows
}
