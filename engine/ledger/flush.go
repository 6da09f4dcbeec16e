package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// run is the flusher goroutine.
func (w *Writer) run() {
	defer close(w.stopped)
	t := time.NewTicker(w.cfg.FlushInterval)
	defer t.Stop()
	// What an earlier run left (spill files, a dead process's journal) is
	// replayed now, not a flush interval later.
	if w.spill != nil && w.spillFiles.Load() > 0 {
		w.replay()
	}
	for {
		var reply chan struct{}
		select {
		case <-t.C:
		case <-w.kick:
		case reply = <-w.flushes:
		case <-w.done:
			w.final()
			return
		}
		w.cycle(reply != nil)
		if reply != nil {
			close(reply)
		}
	}
}

// newChunk returns an empty chunk; w.mu is held.
func (w *Writer) newChunk() *chunk {
	if k := len(w.free); k > 0 {
		c := w.free[k-1]
		w.free = w.free[:k-1]
		return c
	}
	return &chunk{arena: make([]byte, 0, arenaBytes)}
}

// journaling reports whether Record writes to the journal.
func (w *Writer) journaling() bool { return w.spill != nil && !w.cfg.DisableJournal }

// take moves the queue's chunks to pending and, with the journal, retires
// the segment that holds their rows: the rows recorded from now on go to a
// new one.
func (w *Writer) take(last bool) {
	var next *segment
	if w.journaling() && !last {
		if w.spareSeg == nil {
			if k := len(w.freeSegs); k > 0 {
				w.spareSeg = w.freeSegs[k-1]
				w.freeSegs[k-1] = nil
				w.freeSegs = w.freeSegs[:k-1]
			} else {
				sp, err := openSegment(w.cfg.SpillDir, w.ahead)
				if err != nil {
					w.report(fmt.Errorf("ledger: journal: %w", err))
				}
				w.spareSeg = sp
			}
		}
		next = w.spareSeg
	}
	w.mu.Lock()
	q := w.queue
	w.queue = w.spareQ[:0]
	w.queued = 0
	var old *segment
	rotate := w.journaling() && (len(q) > 0 || last || w.seg == nil)
	if rotate {
		old, w.seg = w.seg, next
	}
	if last {
		w.closed = true
	}
	w.mu.Unlock()
	if rotate {
		if next != nil {
			w.spareSeg = nil
		}
		if old == nil {
			old = &segment{} // the rows had no segment: keep the count aligned
		}
		old.chunks = len(q)
		if old.chunks == 0 {
			w.recycle(old)
		} else {
			w.retired = append(w.retired, old)
		}
	}
	if last && w.spareSeg != nil {
		w.spareSeg.remove()
		w.spareSeg = nil
	}
	for _, c := range q {
		w.pending = append(w.pending, c)
		w.nPending += c.n
	}
	clear(q)
	w.spareQ = q[:0]
}

// release recycles the first k pending chunks, whose rows are stored or
// spilled.
func (w *Writer) release(k int) {
	// Delete the journal segments whose every chunk is now done.
	for j := k; j > 0 && len(w.retired) > 0; {
		sg := w.retired[0]
		d := min(j, sg.chunks)
		sg.chunks -= d
		j -= d
		if sg.chunks > 0 {
			break
		}
		w.recycle(sg)
		rest := copy(w.retired, w.retired[1:])
		w.retired[rest] = nil
		w.retired = w.retired[:rest]
	}
	done := w.pending[:k]
	n := 0
	for _, c := range done {
		n += c.n
		c.reset()
	}
	w.mu.Lock()
	for _, c := range done {
		if len(w.free) < maxFreeChunks {
			w.free = append(w.free, c)
		}
	}
	w.mu.Unlock()
	rest := copy(w.pending, w.pending[k:])
	clear(w.pending[rest:])
	w.pending = w.pending[:rest]
	w.nPending -= n
}

// cycle is one flush: write what waits, spill it when the store keeps
// failing, replay spill files when it works.
func (w *Writer) cycle(forced bool) {
	if n := w.jErrs.Swap(0); n > 0 {
		w.report(fmt.Errorf("ledger: journal: %d row writes failed (those rows would not survive a crash before their commit)", n))
	}
	w.take(false)
	w.writePending()
	if w.nPending > 0 && (forced || w.failures >= spillAfterFailures || w.nPending >= w.cfg.MaxRows) {
		w.spillPending()
	}
	// With nothing else to write, a replay is also the probe that finds
	// the store back (at most every probeInterval while it fails: each
	// probe closes the current spill file).
	if w.nPending == 0 && w.spill != nil && w.spillFiles.Load() > 0 && (w.failures == 0 || !time.Now().Before(w.nextProbe)) {
		w.replay()
	}
}

// final runs once Close asked: the last rows go to the store, or to the
// spill file.
func (w *Writer) final() {
	w.take(true)
	w.writePending()
	if w.nPending > 0 {
		w.spillPending()
	}
	if w.spill != nil {
		w.spill.closeCurrent()
	}
	for _, sg := range w.freeSegs {
		sg.remove()
	}
	w.freeSegs = nil
}

// maxFreeSegs bounds the emptied segments kept for reuse: the spare is
// taken from them, and one more covers a flush that retires two.
const maxFreeSegs = 2

// recycle keeps a segment whose rows are all committed or spilled for
// reuse, or deletes it (not reusable, enough kept, or closing).
func (w *Writer) recycle(sg *segment) {
	if sg.f == nil {
		return
	}
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	// A segment a provisional row pins keeps its bytes: remove leaves it
	// to the last unpin. No new pin can come (it is no longer current).
	if closed || !sg.reusable() || len(w.freeSegs) >= maxFreeSegs || sg.pinned() {
		sg.remove()
		return
	}
	sg.reset()
	w.freeSegs = append(w.freeSegs, sg)
}

// writePending stores the pending rows in batches of up to BatchRows
// (whole chunks), stopping at the first failure.
func (w *Writer) writePending() {
	for len(w.pending) > 0 {
		k := 0
		w.batch = w.batch[:0]
		for k < len(w.pending) && (k == 0 || len(w.batch)+w.pending[k].n <= w.cfg.BatchRows) {
			c := w.pending[k]
			w.batch = append(w.batch, c.rows[:c.n]...)
			k++
		}
		ok := w.write(w.batch)
		clear(w.batch)
		if !ok {
			return
		}
		w.release(k)
	}
}

// write stores one batch and reports success.
func (w *Writer) write(batch []store.UsageRow) bool {
	n := len(batch)
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
	t0 := time.Now()
	var err error
	if a, ok := w.sink.(Appender); ok && w.failures == 0 {
		// The previous write succeeded, so this batch was never tried:
		// the batch after a failure is retried from the start (writePending).
		_, err = a.AppendUsage(ctx, batch)
	} else {
		_, err = w.sink.InsertUsage(ctx, batch)
	}
	cancel()
	flushSeconds.Update(time.Since(t0).Seconds())
	if err != nil {
		w.failures++
		w.healthy.Store(false)
		w.wrErrs.Add(1)
		writeErrors.Inc()
		w.report(fmt.Errorf("ledger: write %d rows: %w", n, err))
		return false
	}
	w.failures = 0
	w.healthy.Store(true)
	w.written.Add(int64(n))
	writtenRows.Add(n)
	w.settle(n)
	return true
}

// settle takes n rows off the backlog.
func (w *Writer) settle(n int) {
	w.backlog.Add(-int64(n))
	backlogRows.Add(-int64(n))
}
