package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// spillPending appends the pending rows to the spill file.
func (w *Writer) spillPending() {
	n := w.nPending
	if w.spill == nil {
		// No spill file: keep the newest rows within the cap.
		k, lost := 0, 0
		for k < len(w.pending) && n-lost > w.hardCap {
			lost += w.pending[k].n
			k++
		}
		if k > 0 {
			w.release(k)
			w.drop(lost)
			w.settle(lost)
		}
		return
	}
	rows := make([][]store.UsageRow, len(w.pending))
	for i, c := range w.pending {
		rows[i] = c.rows[:c.n]
	}
	if err := w.spill.append(rows...); err != nil {
		w.report(fmt.Errorf("ledger: spill %d rows: %w", n, err))
		return
	}
	// The file is counted before its rows, so that a reader who sees the
	// rows spilled also sees the file.
	w.spillFiles.Store(int64(w.spill.waiting()))
	w.spilled.Add(int64(n))
	spilledRows.Add(n)
	w.settle(n)
	w.release(len(w.pending))
}

// replay writes spill files back into the store, oldest first, and deletes
// each once it is stored. It stops at the first failure; the file stays.
// Two passes: every file's final rows, then the provisional rows of the
// files that have some (journal segments of a crashed process), so that a
// final row recorded after its provisional one, in the same file or a
// later one, is the one stored.
func (w *Writer) replay() {
	w.spill.closeCurrent()
	files := w.spill.files()
	for pass := range 2 {
		if !w.replayPass(files, pass == 1) {
			break
		}
	}
	w.spillFiles.Store(int64(w.spill.waiting()))
}

// replayPass is one pass of replay; false when it stopped at a failure.
func (w *Writer) replayPass(files []string, provisional bool) bool {
	for _, path := range files {
		n, err := w.spill.replay(path, w.cfg.BatchRows, provisional, func(rows []store.UsageRow) error {
			ctx, cancel := context.WithTimeout(context.Background(), w.cfg.WriteTimeout)
			defer cancel()
			_, err := w.sink.InsertUsage(ctx, rows)
			return err
		})
		w.replayed.Add(int64(n))
		replayedRows.Add(n)
		if err != nil {
			if errors.Is(err, errLocked) {
				continue // another gateway is writing or replaying it
			}
			var torn *tornError
			if errors.As(err, &torn) {
				w.drop(torn.lines)
				w.report(fmt.Errorf("ledger: replay: %w", err))
				continue
			}
			w.failures++
			w.healthy.Store(false)
			w.wrErrs.Add(1)
			writeErrors.Inc()
			w.report(fmt.Errorf("ledger: replay %s: %w", path, err))
			w.nextProbe = time.Now().Add(max(w.cfg.FlushInterval, probeInterval))
			return false
		}
		if n > 0 {
			w.failures = 0
			w.healthy.Store(true)
		}
	}
	return true
}
