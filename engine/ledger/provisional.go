package ledger

import "github.com/aigateway/gateway/engine/store"

// Hold keeps a provisional row's journal segment on disk until the row's
// final version is recorded (Release). The zero Hold holds nothing.
type Hold struct{ seg *segment }

// Provisional journals r, marked provisional, without queueing it for the
// store: a row whose final figures come later (the engine's savings that
// wait for a token count after the answer is sent) survives a crash of the
// process before them. Record the final row with the same id and time,
// then Release the Hold; the segment stays on disk until then, even once
// its other rows are committed. After a crash, replay stores every final
// row before any provisional one, so that a provisional row only fills in
// for a final row that never reached the journal (the store keeps the
// first of a (time, id)). Without the journal it does nothing. It
// allocates nothing.
//
// # Notes
//
// A Hold that is never released keeps its segment (and the rows in it)
// until the process exits; the next start replays them, harmlessly.
func (w *Writer) Provisional(r *store.UsageRow) Hold {
	if !w.journaling() || r.ID == "" || len(r.ID) > 200 || r.Time.IsZero() {
		return Hold{}
	}
	line := linePool.Get().(*lineBuf)
	defer linePool.Put(line)
	line.b = appendProvisional(line.b[:0], r)
	w.mu.Lock()
	seg := w.seg
	if w.closed || seg == nil {
		w.mu.Unlock()
		return Hold{}
	}
	// Chosen and pinned under mu, like Record's: the flusher retires it
	// only after.
	seg.users.Add(1)
	seg.pin()
	w.mu.Unlock()
	if err := seg.write(line.b); err != nil {
		w.jErrs.Add(1)
		journalErrs.Inc()
	}
	seg.users.Add(-1)
	return Hold{seg: seg}
}

// Release lets the segment go (deleted once its rows are committed).
func (h Hold) Release() {
	if h.seg != nil {
		h.seg.unpin()
	}
}
