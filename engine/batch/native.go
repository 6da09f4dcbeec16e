package batch

import (
	"context"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// Native runs items on providers' own batch APIs (Anthropic's Message
// Batches, at their discount) instead of one by one through Exec. The
// runner asks it, at the start of every in_progress pass, to take what it
// can of the pending items; what it took is stored as submitted with its
// reference (store.Batches.SubmitItems), so that a restarted runner polls
// the provider's batch instead of sending the items again, and is
// collected once the items the runner executes itself are done.
//
// # Notes
//
// Delivery is at least once, as for the items the runner executes: a
// crash between the provider's answer to a submission and SubmitItems
// leaves the items pending, and they are submitted again. A cancel of the
// batch cancels the provider batches it submitted (Cancel) and waits until
// they have ended (polled every Options.NativePoll, bounded by the batch's
// expiry): the items they answered, their cancelled ones included where
// the provider answers those (Anthropic's "canceled" results become error
// lines, code batch_cancelled), are in the output and error files; the
// items they left out (OpenAI's) are left out, as the items the runner
// never ran are.
type Native interface {
	// Submit takes, of a batch's pending items, those a provider's batch
	// API will run, submits them and says which lines each submission took
	// and its reference. Items it does not take run through Exec; on an
	// error the items of the failed submissions do too.
	Submit(ctx context.Context, b store.Batch, items []store.BatchItem) ([]Submission, error)
	// Collect reads the provider batch ref refers to: done false while it
	// runs; once it has ended, a Result for the items (by line) it answered.
	Collect(ctx context.Context, b store.Batch, ref []byte, items []store.BatchItem) (results map[int]Result, done bool, err error)
	// Cancel asks the provider to cancel the batch ref refers to; Collect
	// then reports it done once the provider has ended it.
	Cancel(ctx context.Context, b store.Batch, ref []byte) error
}

// Submission is one provider batch: its reference and the item lines it took.
type Submission struct {
	Ref   []byte
	Lines []int
}

// nativePage is how many pending items one Submit call sees.
const nativePage = 1000

// submitNative hands the batch's pending items to Options.Native.
func (s *Service) submitNative(ctx context.Context, b store.Batch) error {
	after := 0
	for {
		items, err := s.st.BatchItems(ctx, b.ID, store.ItemPending, after, nativePage)
		if err != nil || len(items) == 0 {
			return err
		}
		after = items[len(items)-1].Line
		subs, serr := s.o.Native.Submit(ctx, b, items)
		for _, sub := range subs {
			if _, err := s.st.SubmitItems(context.WithoutCancel(ctx), b.ID, sub.Lines, sub.Ref); err != nil {
				return err
			}
		}
		if serr != nil {
			return serr
		}
	}
}

// collectNative finishes the submitted items whose provider batch ended.
// drained is false while one is still running (after a pause of
// Options.NativePoll, which a cancel of r ends) or the run stopped. With
// cancel (the batch is cancelling) each provider batch is cancelled first,
// once per run, and an item its provider did not answer stays out of the
// files.
func (s *Service) collectNative(ctx context.Context, r *run, b store.Batch, cancel bool) (drained bool, err error) {
	groups := map[string][]store.BatchItem{}
	var order []string
	after := 0
	for {
		items, err := s.st.BatchItems(ctx, b.ID, store.ItemSubmitted, after, nativePage)
		if err != nil {
			return false, err
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			ref := string(it.Result)
			if _, ok := groups[ref]; !ok {
				order = append(order, ref)
			}
			groups[ref] = append(groups[ref], it)
			after = it.Line
		}
	}
	running := false
	for _, ref := range order {
		items := groups[ref]
		if cancel && !r.cancelledRefs[ref] {
			// A refused cancel (the provider's batch has just ended, or the
			// provider is down) is tried again at the next poll, unless
			// the batch ended meanwhile.
			if err := s.o.Native.Cancel(ctx, b, []byte(ref)); err != nil {
				s.report(err)
			} else {
				if r.cancelledRefs == nil {
					r.cancelledRefs = map[string]bool{}
				}
				r.cancelledRefs[ref] = true
			}
		}
		results, done, err := s.o.Native.Collect(ctx, b, []byte(ref), items)
		if err != nil {
			s.report(err)
			running = true
			continue
		}
		if !done {
			running = true
			continue
		}
		for _, it := range items {
			line := errorLine(it.CustomID, "provider_batch_incomplete", "The provider's batch ended without an answer to this request.")
			state := store.ItemFailed
			res, ok := results[it.Line]
			if !ok && cancel {
				continue
			}
			if ok {
				line = responseLine(it.CustomID, res)
				if res.Status >= 200 && res.Status < 300 {
					state = store.ItemCompleted
				}
			}
			if _, err := s.st.FinishItem(context.WithoutCancel(ctx), b.ID, it.Line, state, line); err != nil {
				return false, err
			}
		}
	}
	if running {
		if cancel {
			s.pause(ctx, s.o.NativePoll)
		} else {
			s.pauseRun(ctx, r, s.o.NativePoll)
		}
		return false, nil
	}
	return ctx.Err() == nil, nil
}

// defaultNativePoll is how often a provider's batch is polled.
const defaultNativePoll = 30 * time.Second
