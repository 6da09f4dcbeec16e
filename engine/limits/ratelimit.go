package limits

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// Rate is a rate limit: Limit requests per Period, with bursts of up to
// Burst requests (0 means Limit: an idle client may spend a whole period's
// allowance at once, as the seed's sliding log allowed).
type Rate struct {
	Limit  int
	Period time.Duration
	Burst  int
}

// PerMinute returns n requests per minute with the default burst: the
// meaning of RATE_LIMIT_RPM.
func PerMinute(n int) Rate { return Rate{Limit: n, Period: time.Minute} }

// Validate reports whether r is usable; a zero Limit means unlimited.
func (r Rate) Validate() error {
	switch {
	case r.Limit < 0:
		return errors.New("rate_limit_rpm must not be negative")
	case r.Limit > 0 && r.Period <= 0:
		return errors.New("rate limit period must be positive")
	case r.Burst < 0:
		return errors.New("rate_limit_burst must not be negative")
	}
	return nil
}

// gcra returns the emission interval T (the time one request "costs") and
// the burst tolerance τ = (burst−1)·T of the generic cell rate algorithm.
func (r Rate) gcra() (t, tau int64) {
	t = max(int64(r.Period)/int64(r.Limit), 1)
	burst := r.Burst
	if burst <= 0 {
		burst = r.Limit
	}
	return t, int64(burst-1) * t
}

// Key names what a limit applies to: a project, or one client key within
// it. The Project is the label of gateway_rate_limited_total.
type Key struct {
	Project string
	// Client is empty for a project-wide limit, or the key's name for a
	// per-key one.
	Client string
}

// Decision is a rate limiter's answer.
type Decision struct {
	Allowed bool
	// Limit is the rate's Limit (X-RateLimit-Limit); 0 for unlimited.
	Limit int
	// Remaining is how many more requests would be allowed right now
	// (X-RateLimit-Remaining).
	Remaining int
	// RetryAfter, when denied, is how long until one request would be
	// allowed.
	RetryAfter time.Duration
	// Reset is how long until the whole burst is available again.
	Reset time.Duration
	// Degraded is set when the shared limiter could not reach Redis and
	// this replica decided alone.
	Degraded bool
}

// RetryAfterSeconds is RetryAfter in whole seconds, rounded up, at least 1:
// the Retry-After header of the 429.
func (d Decision) RetryAfterSeconds() int { return ceilSeconds(d.RetryAfter) }

// ResetSeconds is Reset in whole seconds, rounded up (X-RateLimit-Reset).
func (d Decision) ResetSeconds() int {
	if d.Reset <= 0 {
		return 0
	}
	return ceilSeconds(d.Reset)
}

// Limiter decides whether a request may proceed. Implementations never
// fail: when their backing store does, they decide locally and say so in
// Decision.Degraded.
type Limiter interface {
	Allow(ctx context.Context, key Key, r Rate) Decision
}

var (
	_ Limiter = (*Local)(nil)
	_ Limiter = (*Redis)(nil)
)

// decide is one GCRA step at now for a key whose theoretical arrival time
// is tat: it returns the decision and the new tat (unchanged when denied,
// so that refused requests cost nothing, unlike the seed's log).
func decide(tat, now, t, tau int64, limit int) (Decision, int64) {
	tat = max(tat, now)
	if tat-now > tau {
		return Decision{Limit: limit, RetryAfter: time.Duration(tat - now - tau), Reset: time.Duration(tat - now)}, tat
	}
	next := tat + t
	d := Decision{Allowed: true, Limit: limit, Reset: time.Duration(next - now)}
	if slack := tau - (next - now); slack >= 0 {
		d.Remaining = int(slack/t) + 1
	}
	return d, next
}

const (
	nShards = 64
	// sweepAt is the shard size at which idle keys are dropped before a new
	// one is added.
	sweepAt = 4096
)

// Local is an in-process GCRA rate limiter: each key costs one int64, and
// Allow allocates nothing once the key exists.
//
// # Notes
//
// Keys whose allowance is full again are forgotten when their shard grows
// past a few thousand keys, so memory follows the number of recently active
// keys.
type Local struct {
	clk    clock
	seed   maphash.Seed
	shards [nShards]shard
}

type shard struct {
	mu    sync.RWMutex
	m     map[Key]*atomic.Int64 // key → theoretical arrival time (clock nanos)
	sweep int                   // size at which the next add sweeps
	_     [32]byte              // keep shards on separate cache lines
}

// NewLocal returns an empty in-process limiter.
func NewLocal() *Local { return newLocal(nil) }

func newLocal(now func() time.Time) *Local {
	l := &Local{clk: newClock(now), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].m = map[Key]*atomic.Int64{}
	}
	return l
}

// Allow counts one request against key at rate r. A non-positive r.Limit
// always allows.
func (l *Local) Allow(_ context.Context, key Key, r Rate) Decision {
	d := l.allow(key, r)
	if !d.Allowed {
		rateLimitedTotal.get(key.Project).Inc()
	}
	return d
}

func (l *Local) allow(key Key, r Rate) Decision {
	if r.Limit <= 0 {
		return Decision{Allowed: true}
	}
	t, tau := r.gcra()
	h := maphash.String(l.seed, key.Project) ^ maphash.String(l.seed, key.Client)*0x9e3779b97f4a7c15
	sh := &l.shards[h%nShards]
	sh.mu.RLock()
	st := sh.m[key]
	for st == nil { // new key (or swept again right after being added)
		sh.mu.RUnlock()
		sh.add(key, l.clk.nanos())
		sh.mu.RLock()
		st = sh.m[key]
	}
	// The read lock is held across the update so that a sweep cannot drop
	// a key between its lookup and its update.
	for {
		now := l.clk.nanos()
		old := st.Load()
		d, next := decide(old, now, t, tau, r.Limit)
		if !d.Allowed || st.CompareAndSwap(old, next) {
			sh.mu.RUnlock()
			return d
		}
	}
}

// mirror raises key's theoretical arrival time to now+reset: the shared
// limiter's state as Redis reported it (Decision.Reset), so that a fallback
// to this limiter starts from the fleet's usage, not from this replica's
// share of it. It never lowers the local state.
func (l *Local) mirror(key Key, r Rate, reset time.Duration) {
	if r.Limit <= 0 || reset <= 0 {
		return
	}
	h := maphash.String(l.seed, key.Project) ^ maphash.String(l.seed, key.Client)*0x9e3779b97f4a7c15
	sh := &l.shards[h%nShards]
	sh.mu.RLock()
	st := sh.m[key]
	for st == nil {
		sh.mu.RUnlock()
		sh.add(key, l.clk.nanos())
		sh.mu.RLock()
		st = sh.m[key]
	}
	tat := l.clk.nanos() + int64(reset)
	for {
		old := st.Load()
		if old >= tat || st.CompareAndSwap(old, tat) {
			break
		}
	}
	sh.mu.RUnlock()
}

func (sh *shard) add(key Key, now int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[key] != nil {
		return
	}
	if len(sh.m) >= max(sh.sweep, sweepAt) {
		for k, v := range sh.m {
			if v.Load() <= now {
				delete(sh.m, k)
			}
		}
		// When most keys are active, sweep again only after the shard
		// doubled: adding a key stays amortised O(1).
		sh.sweep = 2 * len(sh.m)
	}
	sh.m[key] = new(atomic.Int64)
}
