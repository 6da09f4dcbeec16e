// Package swaptest is the examples' upload-under-load check: goroutines keep
// running a stage on a Host while a module is uploaded, and every call must
// succeed and show the old or the new behaviour, the new one for every call
// that starts after the upload returned.
package swaptest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/wasm"
)

// Spec describes one swap.
type Spec struct {
	Host   *wasm.Host
	Stage  abi.Stage
	Input  func() *wasm.Input // a fresh Input per goroutine
	Policy string             // the name to upload under
	Module []byte
	// Before and After classify an Output; every call must match one.
	Before, After func(*wasm.Output) bool
	// Workers run calls concurrently (default 4), each pausing Pace between
	// calls (default 500µs) so that the load stays bounded while a
	// multi-megabyte module compiles; each side needs MinCalls calls
	// (default 200) and the whole run stops at MaxCalls (default 100,000).
	Workers, MinCalls, MaxCalls int
	Pace                        time.Duration
}

// Run performs the swap under load and fails t on any failed call, any call
// that matches neither behaviour, or an old-behaviour call that started after
// the upload returned.
func Run(t *testing.T, s Spec) {
	t.Helper()
	if s.Workers == 0 {
		s.Workers = 4
	}
	if s.MinCalls == 0 {
		s.MinCalls = 200
	}
	if s.MaxCalls == 0 {
		s.MaxCalls = 100_000
	}
	if s.Pace == 0 {
		s.Pace = 500 * time.Microsecond
	}
	var (
		before, after, calls atomic.Int64
		uploaded             atomic.Bool
		stop                 = make(chan struct{})
		errs                 = make(chan string, s.Workers)
		wg                   sync.WaitGroup
	)
	for g := 0; g < s.Workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := s.Input()
			var out wasm.Output
			for {
				select {
				case <-stop:
					return
				case <-time.After(s.Pace):
				}
				if calls.Load() >= int64(s.MaxCalls) {
					return
				}
				startedAfter := uploaded.Load()
				out.Reset()
				err := s.Host.Run(context.Background(), s.Stage, in, &out)
				calls.Add(1)
				switch {
				case err != nil || len(out.Failures) > 0:
					errs <- "failed call: " + errString(err) + " " + string(out.AppendText(nil))
					return
				case s.After(&out):
					after.Add(1)
				case s.Before(&out):
					if startedAfter {
						errs <- "old behaviour after the upload returned: " + string(out.AppendText(nil))
						return
					}
					before.Add(1)
				default:
					errs <- "unexpected output: " + string(out.AppendText(nil))
					return
				}
			}
		}()
	}
	wait := func(c *atomic.Int64) bool {
		deadline := time.Now().Add(60 * time.Second)
		for c.Load() < int64(s.MinCalls) && len(errs) == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return c.Load() >= int64(s.MinCalls)
	}
	okBefore := wait(&before)
	var info wasm.Info
	var err error
	if okBefore {
		info, err = s.Host.Upload(s.Policy, s.Module)
		uploaded.Store(true)
	}
	okAfter := err == nil && okBefore && wait(&after)
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if !okBefore || !okAfter {
		t.Fatalf("not enough calls: %d before, %d after the upload", before.Load(), after.Load())
	}
	t.Logf("%d calls, %d with the old module, %d with the new one (%s), 0 failed", calls.Load(), before.Load(), after.Load(), info.Digest[:12])
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Route runs the route stage once on h and returns the decision's model and
// reason: what the configured router (the built-in one, whose decisions are
// a trained model's) does with in, for a Before that does not hard-code it.
func Route(t *testing.T, h *wasm.Host, in *wasm.Input) (model, reason string) {
	t.Helper()
	var out wasm.Output
	if err := h.Run(context.Background(), abi.StageRoute, in, &out); err != nil || len(out.Failures) > 0 || !out.Route.Set {
		t.Fatalf("the configured router made no decision: %v %s", err, out.AppendText(nil))
	}
	return string(out.Route.Model), string(out.Route.Reason)
}

// Decided returns a Before that matches the decision (model, reason).
func Decided(model, reason string) func(*wasm.Output) bool {
	return func(o *wasm.Output) bool { return string(o.Route.Model) == model && string(o.Route.Reason) == reason }
}
