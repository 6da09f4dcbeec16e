package cache

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/providers"
)

// flight is one upstream call that identical requests wait for.
type flight struct {
	started time.Time
	done    chan struct{}
	entry   *Entry // set before done closes: the answer to share
	err     error  // set before done closes: an upstream error to share
	waiters atomic.Int32
}

type flightGroup struct {
	mu sync.Mutex
	m  map[[32]byte]*flight
}

// join returns the flight for sum, creating it (leader true) if there is
// none or the one there is older than maxAge: a leader that never reported
// (a caller bug) must not make every later identical request wait.
func (g *flightGroup) join(sum [32]byte, maxAge time.Duration) (*flight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if f := g.m[sum]; f != nil && now.Sub(f.started) < maxAge {
		f.waiters.Add(1)
		return f, false
	}
	f := &flight{started: now, done: make(chan struct{})}
	g.m[sum] = f
	return f, true
}

func (g *flightGroup) leave(sum [32]byte, f *flight) {
	g.mu.Lock()
	if g.m[sum] == f {
		delete(g.m, sum)
	}
	g.mu.Unlock()
}

func (g *flightGroup) len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.m)
}

// waiting returns how many requests wait for the flight of sum.
func (g *flightGroup) waiting(sum [32]byte) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[sum]; f != nil {
		return int(f.waiters.Load())
	}
	return 0
}

// Flight is a caller's duty to go upstream and report what came back with
// Done (or through Record for a stream). Identical requests may be waiting
// for it.
//
// # Notes
//
// Done must be called exactly once on every path, errors included;
// later calls are ignored. Waiting requests give up after the cache's
// FlightTimeout if it never is.
type Flight struct {
	c     *Cache
	k     Key
	ttl   time.Duration
	f     *flight // nil when nobody can wait for this call (refresh)
	ended atomic.Bool
	skip  atomic.Bool // share with waiters, do not store
}

// SkipStore makes Done hand the answer to the waiting requests without
// storing it: for an answer that is right for this moment but must not be
// replayed later under this key, such as a fallback model's answer to a
// request for the primary.
func (f *Flight) SkipStore() {
	if f != nil {
		f.skip.Store(true)
	}
}

// Done reports the upstream's answer: the assembled entry, or the error. A
// complete answer is stored (if the policy allows) and handed to every
// waiting request, which replays it. An *providers.UpstreamError is handed to
// them too: they would have got the same from the same upstream at the same
// moment, and retrying them all at once would only add load to a failing
// upstream. Any other failure (an interrupted stream, a cancelled call, a
// local error) elects one of the waiting requests to go upstream itself.
func (f *Flight) Done(e *Entry, err error) {
	if f == nil || f.ended.Swap(true) {
		return
	}
	if err != nil {
		e = nil
	}
	if e != nil && !f.skip.Load() {
		_ = f.c.Set(&f.k, e, f.ttl)
	}
	if f.f == nil {
		return
	}
	if e != nil {
		f.f.entry = e
	} else if ue := (*providers.UpstreamError)(nil); errors.As(err, &ue) {
		f.f.err = err
	}
	f.c.flights.leave(f.k.Sum, f.f)
	close(f.f.done)
}

// Record wraps the upstream stream of a leader: the events pass through
// unchanged and feed an Assembler, and when the stream ends the flight is
// done with the assembled entry (or with ErrIncomplete if it ended early, was
// closed before [DONE], or carried an error event). fallbackModel names the
// model if the stream does not.
func (f *Flight) Record(s providers.Stream, fallbackModel string) providers.Stream {
	if f == nil {
		return s
	}
	r := &recorder{inner: s, f: f, model: fallbackModel, asm: assemblerPool.Get()}
	r.asm.Reset()
	return r
}

var assemblerPool = syncPool(func() *Assembler { return new(Assembler) })

// recorder tees a stream into an Assembler.
type recorder struct {
	inner    providers.Stream
	f        *Flight
	model    string
	mu       sync.Mutex // Close may race with Next
	asm      *Assembler
	finished bool
}

var _ providers.Stream = (*recorder)(nil)

// Pending delegates to the recorded stream.
func (r *recorder) Pending() bool {
	p, ok := r.inner.(providers.Pender)
	return ok && p.Pending()
}

func (r *recorder) Next() ([]byte, error) {
	b, err := r.inner.Next()
	r.mu.Lock()
	if !r.finished {
		switch {
		case err == nil:
			r.asm.Write(b)
		case err == io.EOF:
			r.finish()
		default:
			r.finish()
		}
	}
	r.mu.Unlock()
	return b, err
}

// finish ends the flight; r.mu is held.
func (r *recorder) finish() {
	r.finished = true
	e, err := (*Entry)(nil), error(ErrIncomplete)
	if r.asm.Done() {
		r.asm.SetUsage(r.inner.Usage())
		e, err = r.asm.Entry(r.model)
	}
	assemblerPool.Put(r.asm)
	r.asm = nil
	r.f.Done(e, err)
}

func (r *recorder) Usage() providers.Usage { return r.inner.Usage() }

func (r *recorder) Close() error {
	r.mu.Lock()
	if !r.finished {
		r.finish()
	}
	r.mu.Unlock()
	return r.inner.Close()
}

// Result is what Begin decided for one request.
type Result struct {
	// Entry is the answer on a hit; Tier says where it came from
	// (TierMemory, TierRedis, or TierCoalesced for an identical request's
	// answer that this one waited for).
	Entry *Entry
	Tier  string
	// Err is the upstream error of the identical request this one waited
	// for; serve it as if it were this request's own.
	Err error
	// Flight is set when the caller must go upstream and report the answer
	// with Flight.Done or Flight.Record. It is nil for requests the cache
	// does not handle (bypass, not cacheable, no-store): go upstream and
	// store nothing.
	Flight *Flight

	bypass bool
}

// Header is the X-Gateway-Cache response header value: "hit-memory",
// "hit-redis", "hit-coalesced", "miss" or "bypass".
func (r *Result) Header() string {
	switch {
	case r.Entry != nil:
		switch r.Tier {
		case TierMemory:
			return "hit-memory"
		case TierRedis:
			return "hit-redis"
		}
		return "hit-coalesced"
	case r.bypass:
		return "bypass"
	}
	return "miss"
}

// Begin looks the request up and, on a miss, either makes the caller the one
// request that goes upstream for k (Result.Flight) or waits for the identical
// request already doing so and returns its answer. A request waits at most
// FlightTimeout; if the leader fails for reasons of its own, one waiting
// request becomes the new leader. d is the policy's Decision and dir the
// client's Directive.
//
// Begin blocks only while it waits for another request's upstream call.
func (c *Cache) Begin(k Key, d Decision, dir Directive) Result {
	if c == nil || c.closed.Load() || !d.Cache || dir == Bypass {
		if c != nil {
			c.ctr.bypass.Add(1)
			mBypass.Inc()
		}
		return Result{bypass: true}
	}
	if dir.Read() {
		if e, tier := c.Get(&k); e != nil {
			return Result{Entry: e, Tier: tier}
		}
	}
	if !dir.Write() {
		return Result{}
	}
	if !dir.Read() {
		return Result{Flight: &Flight{c: c, k: k, ttl: d.TTL}}
	}
	deadline := time.Now().Add(c.cfg.FlightTimeout)
	for {
		f, leader := c.flights.join(k.Sum, c.cfg.FlightTimeout)
		if leader {
			// The previous leader may have stored the answer between our
			// lookup and join.
			if c.mem != nil {
				if e := c.mem.getHot(&k, time.Now().Unix()); e != nil {
					f.entry = e
					c.flights.leave(k.Sum, f)
					close(f.done)
					c.ctr.hit(tierMemory)
					return Result{Entry: e, Tier: TierMemory}
				}
			}
			return Result{Flight: &Flight{c: c, k: k, ttl: d.TTL, f: f}}
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			f.waiters.Add(-1)
			return Result{Flight: &Flight{c: c, k: k, ttl: d.TTL}}
		}
		t := time.NewTimer(wait)
		select {
		case <-f.done:
			t.Stop()
		case <-t.C:
			// The leader is too slow: go upstream without coalescing.
			f.waiters.Add(-1)
			return Result{Flight: &Flight{c: c, k: k, ttl: d.TTL}}
		}
		f.waiters.Add(-1)
		switch {
		case f.entry != nil:
			c.ctr.hit(tierCoalesced)
			return Result{Entry: f.entry, Tier: TierCoalesced}
		case f.err != nil:
			return Result{Err: f.err}
		}
		// The leader failed for its own reasons: elect a new one.
	}
}

// Do is Begin for callers whose upstream call is one function: on a hit it
// returns the entry and its tier; otherwise it calls fn (unless an identical
// request's answer or upstream error arrives first) and reports its result.
// tier is "" when fn ran.
func (c *Cache) Do(k Key, d Decision, dir Directive, fn func() (*Entry, error)) (e *Entry, tier string, err error) {
	r := c.Begin(k, d, dir)
	switch {
	case r.Entry != nil:
		return r.Entry, r.Tier, nil
	case r.Err != nil:
		return nil, "", r.Err
	}
	e, err = fn()
	r.Flight.Done(e, err)
	return e, "", err
}
