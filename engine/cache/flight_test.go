package cache

import (
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
)

var cacheable = Decision{Cache: true, TTL: time.Minute}

// waitFor polls cond; the bound only turns a hang into a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// runConcurrent makes n identical calls; the first upstream call is held
// until the other n-1 are waiting for it.
func runConcurrent(t *testing.T, c *Cache, n int, fn func(call int64) (*Entry, error)) (calls int64, entries, errs int, tiers map[string]int) {
	t.Helper()
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	var ncalls atomic.Int64
	release := make(chan struct{})
	var mu sync.Mutex
	tiers = map[string]int{}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, tier, err := c.Do(k, cacheable, Use, func() (*Entry, error) {
				call := ncalls.Add(1)
				if call == 1 {
					<-release
				}
				return fn(call)
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs++
			}
			if e != nil {
				entries++
			}
			tiers[tier]++
		}()
	}
	waitFor(t, "followers", func() bool { return ncalls.Load() == 1 && c.flights.waiting(k.Sum) == n-1 })
	close(release)
	wg.Wait()
	return ncalls.Load(), entries, errs, tiers
}

func TestSingleFlight100(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{})
	e := textEntry(t)
	calls, entries, errs, tiers := runConcurrent(t, c, 100, func(int64) (*Entry, error) { return e, nil })
	if calls != 1 || entries != 100 || errs != 0 || tiers[TierCoalesced] != 99 || tiers[""] != 1 {
		t.Fatalf("calls %d entries %d errors %d tiers %v", calls, entries, errs, tiers)
	}
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	mustGet(t, c, k, TierMemory) // and it was stored
	if s := c.Stats(); s.CoalescedHits != 99 || s.InFlight != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestSingleFlightLeaderFails: a leader that fails for its own reasons (here
// a local error; in the engine, its client leaving mid-stream) hands over to
// one follower, which goes upstream for all the others.
func TestSingleFlightLeaderFails(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{})
	e := textEntry(t)
	calls, entries, errs, tiers := runConcurrent(t, c, 20, func(call int64) (*Entry, error) {
		if call == 1 {
			return nil, errors.New("client went away")
		}
		time.Sleep(20 * time.Millisecond) // let the others join the new flight
		return e, nil
	})
	if calls < 2 || entries != 19 || errs != 1 || tiers[TierCoalesced]+tiers[TierMemory] < 19-int(calls-1) {
		t.Fatalf("calls %d entries %d errors %d tiers %v", calls, entries, errs, tiers)
	}
}

// TestSingleFlightSharesUpstreamErrors: an upstream error is every
// follower's answer too.
func TestSingleFlightSharesUpstreamErrors(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{})
	upErr := &providers.UpstreamError{Status: 400, Type: "invalid_request_error", Message: "context too long"}
	calls, entries, errs, _ := runConcurrent(t, c, 30, func(int64) (*Entry, error) { return nil, upErr })
	if calls != 1 || entries != 0 || errs != 30 {
		t.Fatalf("calls %d entries %d errors %d", calls, entries, errs)
	}
}

// TestFlightTimeout: followers stop waiting for a leader that takes too long
// and go upstream themselves.
func TestFlightTimeout(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{FlightTimeout: 50 * time.Millisecond})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	leader := c.Begin(k, cacheable, Use)
	if leader.Flight == nil || leader.Header() != "miss" {
		t.Fatalf("leader %+v", leader)
	}
	follower := c.Begin(k, cacheable, Use)
	if follower.Flight == nil || follower.Entry != nil {
		t.Fatalf("follower %+v", follower)
	}
	follower.Flight.Done(textEntry(t), nil)
	leader.Flight.Done(nil, errors.New("late"))
	mustGet(t, c, k, TierMemory)
}

func TestBeginDirectives(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	if err := c.Set(&k, textEntry(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		d      Decision
		dir    Directive
		header string
		flight bool
	}{
		{"hit", cacheable, Use, "hit-memory", false},
		{"no-store still reads", cacheable, NoStore, "hit-memory", false},
		{"bypass", cacheable, Bypass, "bypass", false},
		{"not cacheable", Decision{Reason: "temperature"}, Use, "bypass", false},
		{"refresh goes upstream and stores", cacheable, Refresh, "miss", true},
	}
	for _, tt := range tests {
		r := c.Begin(k, tt.d, tt.dir)
		if r.Header() != tt.header || (r.Flight != nil) != tt.flight {
			t.Errorf("%s: header %q flight %v", tt.name, r.Header(), r.Flight != nil)
		}
		r.Flight.Done(textEntry(t), nil)
	}
	var nilCache *Cache
	if r := nilCache.Begin(k, cacheable, Use); r.Header() != "bypass" || r.Flight != nil {
		t.Fatalf("nil cache: %+v", r)
	}
}

// sliceStream is a providers.Stream over prepared events.
type sliceStream struct {
	events []string
	i      int
	closed bool
	usage  providers.Usage
}

func (s *sliceStream) Next() ([]byte, error) {
	if s.closed {
		return nil, io.ErrClosedPipe
	}
	if s.i >= len(s.events) {
		return nil, io.EOF
	}
	s.i++
	return []byte(s.events[s.i-1]), nil
}
func (s *sliceStream) Usage() providers.Usage { return s.usage }
func (s *sliceStream) Close() error           { s.closed = true; return nil }

// TestRecordFeedsFollowers: a streaming leader's answer is assembled as it
// passes and replayed to a non-streaming and a streaming follower.
func TestRecordFeedsFollowers(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	leader := c.Begin(k, cacheable, Use)
	got := make(chan Result, 2)
	for range 2 {
		go func() { got <- c.Begin(k, cacheable, Use) }()
	}
	waitFor(t, "followers", func() bool { return c.flights.waiting(k.Sum) == 2 })
	s := leader.Flight.Record(&sliceStream{events: strings.SplitAfter(openAIStream, "\n\n")}, "gpt-4o")
	relayed := drain(t, s)
	if string(relayed) != openAIStream {
		t.Fatal("recording changed the stream")
	}
	s.Close()
	for range 2 {
		r := <-got
		if r.Header() != "hit-coalesced" {
			t.Fatalf("follower: %q", r.Header())
		}
		sameAnswer(t, r.Entry, wantOpenAIEntry())
	}
	sameAnswer(t, mustGet(t, c, k, TierMemory), wantOpenAIEntry())
}

// TestRecordInterrupted: a stream closed before [DONE] is never stored.
func TestRecordInterrupted(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	r := c.Begin(k, cacheable, Use)
	s := r.Flight.Record(&sliceStream{events: strings.SplitAfter(openAIStream, "\n\n")}, "gpt-4o")
	for range 3 {
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close() // the client left
	mustGet(t, c, k, "")
	if c.Stats().InFlight != 0 {
		t.Fatal("the flight is still open")
	}
	// And an in-stream error event is not stored either.
	r = c.Begin(k, cacheable, Use)
	events := strings.SplitAfter(openAIStream, "\n\n")[:3]
	events = append(events, string(providers.AppendErrorEvent(nil, "upstream_error", "upstream_error", "reset")))
	s = r.Flight.Record(&sliceStream{events: events}, "gpt-4o")
	drain(t, s)
	s.Close()
	mustGet(t, c, k, "")
}

// TestFlightLeaked: a leader that never calls Done delays identical requests
// by at most FlightTimeout once; after that a new leader takes over.
func TestFlightLeaked(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{FlightTimeout: 30 * time.Millisecond})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	if r := c.Begin(k, cacheable, Use); r.Flight == nil {
		t.Fatal("no leader")
	} // never Done
	time.Sleep(40 * time.Millisecond)
	r := c.Begin(k, cacheable, Use)
	if r.Flight == nil || r.Flight.f == nil {
		t.Fatalf("the stale flight was not replaced: %+v", r)
	}
	r.Flight.Done(textEntry(t), nil)
	mustGet(t, c, k, TierMemory)
}

// TestSkipStore: a fallback's answer reaches the waiters but is not stored.
func TestSkipStore(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	leader := c.Begin(k, cacheable, Use)
	got := make(chan Result, 1)
	go func() { got <- c.Begin(k, cacheable, Use) }()
	waitFor(t, "follower", func() bool { return c.flights.waiting(k.Sum) == 1 })
	leader.Flight.SkipStore()
	leader.Flight.Done(textEntry(t), nil)
	if r := <-got; r.Header() != "hit-coalesced" {
		t.Fatalf("follower %q", r.Header())
	}
	mustGet(t, c, k, "")
}
