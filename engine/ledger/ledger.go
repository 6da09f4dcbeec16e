// Package ledger gets usage rows into the store without waiting for it on
// the request path. Record copies a row into an in-memory queue and appends
// it to a local journal file (a copy into a shared file mapping, no system
// call, no fsync) before it returns; one background goroutine writes the
// queue to the store in batches (a group commit every flush interval, or
// sooner when a batch fills) and empties the journal segments it covered
// for reuse. While the store is unreachable
// the rows wait in memory, then go to an append-only spill file (JSON
// lines, fsync per batch) that is replayed into the store when it answers
// again, and at the next start. At start, the journal segments of a
// process that died are replayed like spill files. Replays are harmless:
// the store skips a row whose id it already has.
//
// # Notes
//
//   - A Writer is safe for concurrent use. Record takes one short mutex
//     (an append of a value into a preallocated slice), encodes the row
//     into a pooled buffer and writes it to the journal; it allocates
//     nothing in steady state. Everything else happens on the flusher
//     goroutine.
//   - Record copies the row, but not the bytes behind its strings: they must
//     not alias memory that is reused (a pooled request body).
//   - A process crash (kill -9, OOM kill, panic) loses no row Record
//     returned for: the journal's bytes are in the kernel's page cache.
//     A power cut or kernel crash can lose the rows recorded since the
//     last group commit or spill whose journal pages the kernel had not
//     yet written back (up to vm.dirty_expire_centisecs, 30 s by default,
//     and never more than since the last commit). Without a spill
//     directory, or with DisableJournal, a hard kill loses the rows not
//     yet committed or spilled.
//   - The package does not log: errors go to Config.OnError.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/store"
)

// Sink is where rows go: store.Ledger's InsertUsage.
type Sink interface {
	InsertUsage(ctx context.Context, rows []store.UsageRow) (int, error)
}

// Appender is a Sink that can also store rows it was never given before
// without looking for them (store.Ledger's AppendUsage). The Writer uses it
// for a batch's first attempt, and InsertUsage for a retry and for every
// replayed row.
type Appender interface {
	AppendUsage(ctx context.Context, rows []store.UsageRow) (int, error)
}

// Config tunes a Writer. Zero fields take the defaults.
type Config struct {
	// FlushInterval is the group-commit period (default 1s).
	FlushInterval time.Duration
	// BatchRows writes the queue as soon as this many rows wait (default
	// 1000); it is also the largest batch given to the store at once.
	BatchRows int
	// MaxRows bounds the rows held in memory while the store fails; past
	// it they are spilled (default 100,000). Record drops rows only when
	// four times MaxRows wait (no spill directory, or the spill file
	// cannot be written either, or the flusher is stuck).
	MaxRows int
	// SpillDir holds the spill files; created if missing. Empty disables
	// spilling (rows then wait in memory, up to 4×MaxRows).
	SpillDir string
	// WriteTimeout bounds one store write (default 10s).
	WriteTimeout time.Duration
	// DisableJournal turns the journal off (journal.go): a kill -9 then
	// loses the rows recorded since the last group commit. The journal
	// needs SpillDir.
	DisableJournal bool
	// OnError receives write, spill and replay errors; nil ignores them.
	OnError func(error)
}

func (c *Config) defaults() {
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.BatchRows <= 0 {
		c.BatchRows = 1000
	}
	if c.MaxRows <= 0 {
		c.MaxRows = 100_000
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
}

// probeInterval is the least time between two replay attempts while the
// store fails.
const probeInterval = 2 * time.Second

// spillAfterFailures is how many failed writes in a row send the rows in
// memory to the spill file even below MaxRows, so that an outage does not
// leave minutes of rows exposed to a crash.
const spillAfterFailures = 2

// Process-wide metrics: every Writer adds to them.
var (
	backlogRows  atomic.Int64
	_            = metrics.NewGauge(`gateway_ledger_backlog_rows`, func() float64 { return float64(backlogRows.Load()) })
	writtenRows  = metrics.NewCounter(`gateway_ledger_written_rows_total`)
	spilledRows  = metrics.NewCounter(`gateway_ledger_spilled_rows_total`)
	journalErrs  = metrics.NewCounter(`gateway_ledger_journal_errors_total`)
	replayedRows = metrics.NewCounter(`gateway_ledger_replayed_rows_total`)
	droppedRows  = metrics.NewCounter(`gateway_ledger_dropped_rows_total`)
	writeErrors  = metrics.NewCounter(`gateway_ledger_write_errors_total`)
	flushSeconds = metrics.NewPrometheusHistogram(`gateway_ledger_flush_seconds`)
)

// Stats are one Writer's counters.
type Stats struct {
	// Backlog is the rows recorded and not yet stored nor spilled.
	Backlog int64
	// Written counts rows the store accepted (new or replayed duplicates),
	// Spilled rows written to the spill file, Replayed rows read back from
	// it into the store, Dropped rows lost (invalid, or no room anywhere).
	Written, Spilled, Replayed, Dropped int64
	// WriteErrors counts failed store writes; Healthy is false while the
	// last one failed.
	WriteErrors int64
	Healthy     bool
	// SpillFiles is the number of spill files waiting to be replayed.
	SpillFiles int
}

// Writer queues usage rows and writes them to a Sink in the background.
type Writer struct {
	sink Sink
	cfg  Config

	mu sync.Mutex
	// queue is a list of fixed-size chunks, the last one being filled:
	// appending never moves the rows already queued, and taking the queue
	// is a swap of two slice headers.
	queue   []*chunk
	queued  int
	free    []*chunk // chunks the flusher gave back
	spareQ  []*chunk
	closed  bool // Close has taken the last queue
	hardCap int

	kick    chan struct{}      // a batch is full
	flushes chan chan struct{} // Flush requests
	done    chan struct{}      // Close asks the flusher to stop
	closing sync.Once
	stopped chan struct{} // the flusher has stopped

	// Owned by the flusher goroutine (and by Close once it has stopped).
	// Pending rows stay in their chunks, whose arenas hold their strings,
	// until they are stored or spilled; only then is a chunk reused.
	pending   []*chunk
	nPending  int
	batch     []store.UsageRow // the rows of one store write
	failures  int              // consecutive failed writes
	nextProbe time.Time        // when a failing store is probed again
	spill     *spiller
	// The journal: seg (guarded by mu) receives the rows being queued;
	// retired segments hold the rows of pending chunks, oldest first;
	// spareSeg is opened ahead so that no file is created under mu.
	seg      *segment
	retired  []*segment
	spareSeg *segment
	jErrs    atomic.Int64  // journal writes that failed since the last report
	ahead    chan struct{} // the current segment wants prefaulting (toucher)
	// freeSegs are emptied segments kept for reuse (segment.reset), at
	// most maxFreeSegs.
	freeSegs []*segment

	backlog                                     atomic.Int64
	written, spilled, replayed, dropped, wrErrs atomic.Int64
	healthy                                     atomic.Bool
	spillFiles                                  atomic.Int64
}

// New starts a Writer. Spill files left by an earlier run are replayed in
// the background as soon as the sink accepts writes.
func New(sink Sink, cfg Config) (*Writer, error) {
	cfg.defaults()
	w := &Writer{
		sink:    sink,
		cfg:     cfg,
		batch:   make([]store.UsageRow, 0, cfg.BatchRows),
		hardCap: 4 * cfg.MaxRows,
		kick:    make(chan struct{}, 1),
		flushes: make(chan chan struct{}),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	w.healthy.Store(true)
	if cfg.SpillDir != "" {
		sp, err := newSpiller(cfg.SpillDir)
		if err != nil {
			return nil, err
		}
		w.spill = sp
		// An earlier run's journal is replayed even when this one runs
		// without: turning the journal off must not lose its rows.
		_, torn, err := adoptJournals(cfg.SpillDir)
		if err != nil {
			return nil, fmt.Errorf("ledger: adopt the journals of an earlier run: %w", err)
		}
		if torn > 0 {
			w.drop(torn)
			w.report(fmt.Errorf("ledger: %d torn journal records of an earlier run skipped (requests a crash cut short)", torn))
		}
		if !cfg.DisableJournal {
			w.ahead = make(chan struct{}, 1)
			if w.seg, err = openSegment(cfg.SpillDir, w.ahead); err != nil {
				return nil, fmt.Errorf("ledger: journal: %w", err)
			}
			go w.toucher()
		}
		w.spillFiles.Store(int64(sp.waiting()))
	}
	go w.run()
	return w, nil
}

// toucher prefaults the current journal segment's pages ahead of its rows
// when a Record asks (segment.write), so that no request takes the page
// faults. It holds the segment as a writer does: it cannot be unmapped
// under it.
func (w *Writer) toucher() {
	for {
		select {
		case <-w.ahead:
		case <-w.stopped:
			return
		}
		w.mu.Lock()
		s := w.seg
		if s != nil {
			s.users.Add(1)
		}
		w.mu.Unlock()
		if s != nil {
			s.prefault(s.off.Load() + touchAhead)
			s.users.Add(-1)
		}
	}
}

// Record queues a copy of *r for the store, its strings included: they are
// copied into the queue's own memory, so r may alias buffers the caller
// reuses as soon as Record returns. It never blocks on I/O and allocates
// nothing in steady state. Rows without an id or a time are dropped (the
// store would refuse the batch).
func (w *Writer) Record(r *store.UsageRow) {
	if r.ID == "" || len(r.ID) > 200 || r.Time.IsZero() {
		w.drop(1)
		return
	}
	need := stringBytes(r)
	var line *lineBuf
	if w.spill != nil && !w.cfg.DisableJournal {
		line = linePool.Get().(*lineBuf)
		line.b = appendRow(line.b[:0], r)
		defer linePool.Put(line)
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.late(r)
		return
	}
	if w.queued >= w.hardCap {
		w.mu.Unlock()
		w.drop(1)
		return
	}
	var c *chunk
	if k := len(w.queue); k > 0 && w.queue[k-1].fits(need) {
		c = w.queue[k-1]
	} else {
		c = w.newChunk()
		w.queue = append(w.queue, c)
	}
	c.add(r, need)
	w.queued++
	n := w.queued
	// The segment is chosen with the chunk, under mu: the flusher retires
	// it with exactly the chunks queued with it.
	seg := w.seg
	if seg != nil && line != nil {
		seg.users.Add(1)
	}
	w.mu.Unlock()
	if seg != nil && line != nil {
		if err := seg.write(line.b); err != nil {
			w.jErrs.Add(1)
			journalErrs.Inc()
		}
		seg.users.Add(-1)
	}
	w.backlog.Add(1)
	backlogRows.Add(1)
	if n >= w.cfg.BatchRows {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// late handles a row recorded after Close: straight to the spill file.
func (w *Writer) late(r *store.UsageRow) {
	if w.spill == nil {
		w.drop(1)
		return
	}
	err := w.spill.append([]store.UsageRow{*r}) // Marshal copies the strings
	// No flusher will close the file: release it for the next start.
	w.spill.closeCurrent()
	if err != nil {
		w.drop(1)
		w.report(fmt.Errorf("ledger: spill a row recorded after close: %w", err))
		return
	}
	w.spilled.Add(1)
	spilledRows.Inc()
}

func (w *Writer) drop(n int) {
	w.dropped.Add(int64(n))
	droppedRows.Add(n)
}

func (w *Writer) report(err error) {
	if w.cfg.OnError != nil {
		w.cfg.OnError(err)
	}
}

// Flush writes everything recorded before the call (or spills it, when the
// store fails) and returns when done or when ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case w.flushes <- reply:
	case <-w.stopped:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errClosed = errors.New("ledger: writer closed")

// Close stops the flusher after writing every queued row to the store, or,
// when the store fails, to the spill file. It returns an error when rows
// could be neither written nor spilled before ctx ended; they are lost.
// Rows recorded after Close go to the spill file directly.
func (w *Writer) Close(ctx context.Context) error {
	w.closing.Do(func() { close(w.done) })
	select {
	case <-w.stopped:
	case <-ctx.Done():
		return fmt.Errorf("ledger: close: %w (%d rows not stored)", ctx.Err(), w.backlog.Load())
	}
	if n := w.backlog.Load(); n > 0 {
		return fmt.Errorf("ledger: close: %d rows could be neither stored nor spilled", n)
	}
	return nil
}

// Stats returns the Writer's counters.
func (w *Writer) Stats() Stats {
	return Stats{
		Backlog:     w.backlog.Load(),
		Written:     w.written.Load(),
		Spilled:     w.spilled.Load(),
		Replayed:    w.replayed.Load(),
		Dropped:     w.dropped.Load(),
		WriteErrors: w.wrErrs.Load(),
		Healthy:     w.healthy.Load(),
		SpillFiles:  int(w.spillFiles.Load()),
	}
}
