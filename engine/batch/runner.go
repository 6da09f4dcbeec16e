package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// The runner: a claimed batch is validated (its lines become items),
// executed (pending items, in line order, at most Options.Concurrency at a
// time across the process) and finalized (its output and error files
// written with the terminal status, in one transaction).

// pageItems is how many pending items the runner reads at a time.
const pageItems = 64

// process drives one claimed batch as far as it can go.
func (s *Service) process(r *run, b store.Batch) {
	ctx, stop := context.WithCancel(s.ctx)
	defer stop()
	var renew sync.WaitGroup
	renew.Add(1)
	go func() {
		defer renew.Done()
		s.renew(ctx, stop, r)
	}()
	defer renew.Wait()
	for ctx.Err() == nil {
		var err error
		switch b.Status {
		case store.BatchValidating:
			err = s.validate(ctx, b)
		case store.BatchInProgress:
			if s.expired(b) {
				err = s.expire(ctx, b)
				break
			}
			if s.o.Native != nil {
				// A refused submission leaves its items to execute.
				s.report(s.submitNative(ctx, b))
			}
			var drained bool
			// Not drained: cancelled, expired or stopped; the status read
			// below says which (or a provider's batch still runs).
			drained, err = s.execute(ctx, r, b)
			if err == nil && drained && s.o.Native != nil {
				drained, err = s.collectNative(ctx, r, b, false)
			}
			if err == nil && drained {
				_, err = s.st.UpdateBatch(ctx, b.ID, store.BatchUpdate{From: []string{store.BatchInProgress}, Status: store.BatchFinalizing})
			}
		case store.BatchFinalizing:
			err = s.finalize(ctx, b, store.BatchCompleted, []string{store.BatchFinalizing})
		case store.BatchCancelling:
			if s.o.Native != nil && !s.expired(b) {
				// The provider batches its items went to are cancelled
				// too; the batch is cancelled once they have ended with
				// what they answered (or it expires).
				var drained bool
				drained, err = s.collectNative(ctx, r, b, true)
				if err != nil || !drained {
					break
				}
			}
			err = s.finalize(ctx, b, store.BatchCancelled, []string{store.BatchCancelling})
		default:
			return // finished
		}
		if err != nil {
			s.report(err)
			if !s.pause(ctx, s.o.Poll) {
				return
			}
		}
		// Read the status again: a step moved it, or a cancel did.
		nb, err := s.st.Batch(ctx, "", b.ID)
		if err != nil {
			s.report(err)
			if !s.pause(ctx, s.o.Poll) {
				return
			}
			continue
		}
		b = nb
	}
}

// renew keeps the lease and watches for a cancel made on another replica;
// a lost lease stops the run.
func (s *Service) renew(ctx context.Context, stop context.CancelFunc, r *run) {
	t := time.NewTicker(s.o.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := s.st.ClaimBatch(ctx, r.id, s.owner, s.o.Now().Add(s.o.Lease))
		if err != nil {
			s.report(err)
			continue
		}
		if !ok {
			stop()
			return
		}
		if b, err := s.st.Batch(ctx, "", r.id); err == nil && b.Status == store.BatchCancelling {
			r.cancel()
		}
	}
}

func (s *Service) pause(ctx context.Context, d time.Duration) bool {
	return s.pauseRun(ctx, nil, d)
}

// pauseRun is pause that a cancel of r ends too (r nil: none).
func (s *Service) pauseRun(ctx context.Context, r *run, d time.Duration) bool {
	var woken chan struct{}
	if r != nil {
		woken = r.woken
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-woken:
		return false
	case <-t.C:
		return true
	}
}

func (s *Service) expired(b store.Batch) bool { return !s.o.Now().Before(b.ExpiresAt) }

// validate reads the input file into items: in_progress, or failed with
// the errors of the lines that cannot be items at all.
func (s *Service) validate(ctx context.Context, b store.Batch) error {
	f, err := s.st.FileContent(ctx, b.ProjectID, b.InputFileID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err // the store: try again
	}
	if err != nil {
		return s.fail(ctx, b, []lineError{{Code: "invalid_file", Param: "input_file_id", Message: "The input file " + b.InputFileID + " could not be read: " + err.Error()}})
	}
	items, errs := parseItems(f.Content, b.Endpoint, s.o.MaxItems)
	if len(errs) > 0 {
		return s.fail(ctx, b, errs)
	}
	_, err = s.st.UpdateBatch(ctx, b.ID, store.BatchUpdate{From: []string{store.BatchValidating}, Status: store.BatchInProgress, Items: items})
	return err
}

func (s *Service) fail(ctx context.Context, b store.Batch, errs []lineError) error {
	body, err := json.Marshal(errorList{Object: "list", Data: errs})
	if err != nil {
		return err
	}
	_, err = s.st.UpdateBatch(ctx, b.ID, store.BatchUpdate{From: []string{store.BatchValidating}, Status: store.BatchFailed, Errors: body})
	return err
}

// execute runs the batch's pending items until none is left (drained),
// the batch is cancelled or expires, or the runner stops. Items in flight
// finish.
func (s *Service) execute(ctx context.Context, r *run, b store.Batch) (drained bool, err error) {
	var wg sync.WaitGroup
	defer wg.Wait()
	after, again := 0, false
	for {
		items, err := s.st.BatchItems(ctx, b.ID, store.ItemPending, after, pageItems)
		if err != nil {
			return false, err
		}
		if len(items) == 0 {
			wg.Wait()
			if after == 0 {
				return ctx.Err() == nil && !r.isCancelled(), nil
			}
			// Another pass, for the items whose result could not be
			// stored; paced from the second on.
			if again && !s.pause(ctx, s.o.Poll) {
				return false, nil
			}
			after, again = 0, true
			continue
		}
		for _, it := range items {
			after = it.Line
			if r.isCancelled() || s.expired(b) {
				return false, nil
			}
			select {
			case s.sem <- struct{}{}:
			case <-ctx.Done():
				return false, nil
			}
			if !s.yield(ctx, r) {
				<-s.sem
				return false, nil
			}
			// The wait for a slot may have been long: look again.
			if r.isCancelled() || s.expired(b) || ctx.Err() != nil {
				<-s.sem
				return false, nil
			}
			s.active.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					s.active.Add(-1)
					<-s.sem
					select {
					case s.done <- struct{}{}:
					default:
					}
				}()
				line := s.runItem(ctx, r, b, it)
				if line == nil {
					return // stopped or cancelled before an answer: still pending
				}
				state := store.ItemCompleted
				if !line.ok {
					state = store.ItemFailed
				}
				_, err := s.st.FinishItem(context.WithoutCancel(ctx), b.ID, it.Line, state, line.bytes)
				s.report(err)
			}()
		}
	}
}

// yield waits while interactive requests are in flight and
// Options.YieldConcurrency items already run (a soft bound: dispatchers of
// several batches may each start one). It reports false when the run
// stopped or was cancelled first. An item ending wakes it; so does
// yieldPoll, for interactive traffic that has gone.
func (s *Service) yield(ctx context.Context, r *run) bool {
	if s.o.Interactive == nil {
		return true
	}
	for s.active.Load() >= int64(s.o.YieldConcurrency) && s.o.Interactive() {
		t := time.NewTimer(yieldPoll)
		select {
		case <-ctx.Done():
		case <-r.woken:
		case <-s.done:
		case <-t.C:
		}
		t.Stop()
		if ctx.Err() != nil || r.isCancelled() {
			return false
		}
	}
	return true
}

// yieldPoll is how often a yielding dispatcher looks again whether
// interactive requests are still in flight.
const yieldPoll = 5 * time.Millisecond

// resultLine is an item's line of the output file (ok) or the error file.
type resultLine struct {
	ok    bool
	bytes []byte
}

// runItem executes an item, trying again after a 429 or 503, and returns
// its result line; nil when the run stopped first.
func (s *Service) runItem(ctx context.Context, r *run, b store.Batch, it store.BatchItem) *resultLine {
	backoff := s.o.RetryBackoff
	var res Result
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil || r.isCancelled() {
			return nil
		}
		res = s.o.Exec(ctx, Call{Identity: Identity{Project: b.ProjectID, KeyID: b.KeyID},
			RequestID: b.ID + "-" + strconv.Itoa(it.Line) + "-" + strconv.Itoa(attempt), Endpoint: b.Endpoint, Body: it.Body})
		if (res.Status != 429 && res.Status != 503) || attempt >= s.o.MaxAttempts {
			break
		}
		wait := backoff
		if res.RetryAfter > 0 {
			wait = res.RetryAfter
		}
		if wait > maxBackoff {
			wait = maxBackoff
		}
		if !s.pause(ctx, wait) {
			return nil
		}
		backoff *= 2
	}
	return &resultLine{ok: res.Status >= 200 && res.Status < 300, bytes: responseLine(it.CustomID, res)}
}

// maxBackoff bounds the pause between an item's tries.
const maxBackoff = 30 * time.Second

// expire ends a batch past its completion window: the items not run get
// an error line (batch_expired), and the batch is finalized as expired.
func (s *Service) expire(ctx context.Context, b store.Batch) error {
	for _, state := range []string{store.ItemPending, store.ItemSubmitted} {
		if err := s.expireItems(ctx, b, state); err != nil {
			return err
		}
	}
	return s.finalize(ctx, b, store.BatchExpired, []string{store.BatchInProgress})
}

// expireItems gives the items in state an error line (batch_expired).
func (s *Service) expireItems(ctx context.Context, b store.Batch, state string) error {
	for {
		items, err := s.st.BatchItems(ctx, b.ID, state, 0, pageItems)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			line := errorLine(it.CustomID, "batch_expired", "This request could not be executed before the completion window expired.")
			if _, err := s.st.FinishItem(ctx, b.ID, it.Line, store.ItemFailed, line); err != nil {
				return err
			}
		}
	}
	return nil
}

// finalize writes the output and error files and moves the batch to its
// terminal status in one transaction; each file exists only when it has
// lines.
func (s *Service) finalize(ctx context.Context, b store.Batch, status string, from []string) error {
	u := store.BatchUpdate{From: from, Status: status}
	for _, part := range []struct {
		state, name string
		id          *string
	}{{store.ItemCompleted, "output", &u.OutputFileID}, {store.ItemFailed, "error", &u.ErrorFileID}} {
		var buf bytes.Buffer
		after := 0
		for {
			items, err := s.st.BatchItems(ctx, b.ID, part.state, after, 1000)
			if err != nil {
				return err
			}
			if len(items) == 0 {
				break
			}
			for _, it := range items {
				buf.Write(it.Result)
				buf.WriteByte('\n')
				after = it.Line
			}
		}
		if buf.Len() == 0 {
			continue
		}
		*part.id = "file-" + newSuffix(24)
		u.Files = append(u.Files, store.File{ID: *part.id, ProjectID: b.ProjectID, Purpose: PurposeOutput,
			Filename: b.ID + "_" + part.name + ".jsonl", Content: buf.Bytes()})
	}
	ok, err := s.st.UpdateBatch(ctx, b.ID, u)
	if err != nil {
		return fmt.Errorf("finalize %s: %w", b.ID, err)
	}
	_ = ok // not applied: another step moved the batch; process reads it again
	return nil
}
