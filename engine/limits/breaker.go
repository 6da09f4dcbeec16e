package limits

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// State is a circuit breaker's state. The values are those of the
// gateway_breaker_state gauge, ordered by severity.
type State uint8

// Breaker states.
const (
	// Closed lets every call through and counts failures.
	Closed State = 0
	// HalfOpen lets a few probe calls through after the cool-down.
	HalfOpen State = 1
	// Open fails every call fast until the cool-down has passed.
	Open State = 2
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "unknown"
}

// BreakerConfig configures the circuit breakers of one Breakers set. It is
// copied by NewBreakers and not read again.
type BreakerConfig struct {
	// Failures opens a breaker after this many consecutive upstream
	// failures (the seed's CIRCUIT_BREAKER_THRESHOLD); 0 disables the rule.
	Failures int
	// FailureRatio opens a breaker when at least MinRequests calls ended
	// within Window and at least this fraction of them failed; 0 disables
	// the rule.
	FailureRatio float64
	// MinRequests is the smallest sample FailureRatio is judged on.
	MinRequests int
	// Window is the sliding window of the ratio rule (ten buckets).
	Window time.Duration
	// Cooldown is how long an open breaker fails fast before it lets probes
	// through (the seed's CIRCUIT_BREAKER_TIMEOUT).
	Cooldown time.Duration
	// Probes is how many calls a half-open breaker lets through at once;
	// other callers fail fast meanwhile.
	Probes int
	// Successes is how many probe successes close a half-open breaker; one
	// probe failure opens it again.
	Successes int
	// PerModel keys breakers by provider and model instead of by provider:
	// one overloaded model then does not cut off its provider's others.
	PerModel bool

	now func() time.Time // tests
	// onOpen points at the set's SetOnOpen hook.
	onOpen *atomic.Pointer[func(Target)]
}

// DefaultBreakerConfig returns the defaults: open after 5 consecutive
// failures or when half of at least 20 calls in 60 s failed, probe with one
// call after 30 s, close on its success.
func DefaultBreakerConfig() BreakerConfig {
	return BreakerConfig{
		Failures: 5, FailureRatio: 0.5, MinRequests: 20, Window: time.Minute,
		Cooldown: 30 * time.Second, Probes: 1, Successes: 1,
	}
}

// Validate reports the first invalid field, named by its TOML key.
func (c BreakerConfig) Validate() error {
	switch {
	case c.Failures < 0:
		return errors.New("breaker_failures must not be negative")
	case c.FailureRatio < 0 || c.FailureRatio > 1:
		return fmt.Errorf("breaker_failure_ratio %v must be between 0 and 1", c.FailureRatio)
	case c.Failures == 0 && c.FailureRatio == 0:
		return errors.New("breaker_failures and breaker_failure_ratio are both 0: the breaker could never open (set circuit_breaker = false instead)")
	case c.FailureRatio > 0 && c.Window <= 0:
		return errors.New("breaker_window must be positive when breaker_failure_ratio is set")
	case c.MinRequests < 0:
		return errors.New("breaker_min_requests must not be negative")
	case c.Cooldown <= 0:
		return errors.New("breaker_cooldown must be positive")
	case c.Probes < 1:
		return errors.New("breaker_probes must be at least 1")
	case c.Successes < 1:
		return errors.New("breaker_successes must be at least 1")
	}
	return nil
}

// maxBreakers bounds a per-model set: models beyond it share their
// provider's breaker.
const maxBreakers = 1000

// Breakers is the set of circuit breakers of a gateway, one per provider (or
// per provider and model), created on first use. A nil *Breakers is valid and
// hands out nil breakers, which never refuse: circuit_breaker = false.
type Breakers struct {
	cfg  BreakerConfig
	clk  clock
	mu   sync.RWMutex
	m    map[Target]*Breaker
	hook atomic.Pointer[func(Target)]
}

// SetOnOpen makes every breaker of the set call fn, on a goroutine of its
// own, each time it opens (webhooks). nil removes the hook.
func (s *Breakers) SetOnOpen(fn func(Target)) {
	if s == nil {
		return
	}
	if fn == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&fn)
}

// NewBreakers validates cfg and returns an empty set.
func NewBreakers(cfg BreakerConfig) (*Breakers, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MinRequests < 1 {
		cfg.MinRequests = 1
	}
	s := &Breakers{cfg: cfg, clk: newClock(cfg.now), m: map[Target]*Breaker{}}
	s.cfg.onOpen = &s.hook
	return s, nil
}

// For returns the breaker guarding provider/model, creating it on first use.
// The model is ignored unless the set is per-model.
func (s *Breakers) For(provider, model string) *Breaker {
	if s == nil {
		return nil
	}
	k := Target{Provider: provider}
	if s.cfg.PerModel {
		k.Model = model
	}
	s.mu.RLock()
	b := s.m[k]
	s.mu.RUnlock()
	if b != nil {
		return b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b = s.m[k]; b != nil {
		return b
	}
	if len(s.m) >= maxBreakers && k.Model != "" {
		k.Model = ""
		if b = s.m[k]; b != nil {
			return b
		}
	}
	b = newBreaker(k, &s.cfg, s.clk, true)
	s.m[k] = b
	return b
}

// BreakerStatus is one breaker's state, for admin pages and readiness.
type BreakerStatus struct {
	Provider, Model string
	State           State
	// RetryAfter is the time left before an open breaker lets a probe
	// through.
	RetryAfter time.Duration
}

// Status lists every breaker's state, sorted by provider and model.
func (s *Breakers) Status() []BreakerStatus {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	out := make([]BreakerStatus, 0, len(s.m))
	for _, b := range s.m {
		st := BreakerStatus{Provider: b.target.Provider, Model: b.target.Model}
		b.mu.Lock()
		st.State = b.State()
		if st.State == Open {
			if d := b.openUntil - b.clk.nanos(); d > 0 {
				st.RetryAfter = time.Duration(d)
			}
		}
		b.mu.Unlock()
		out = append(out, st)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Model < out[j].Model
	})
	return out
}

const nBuckets = 10

type bucket struct {
	idx       int64 // which bucket-width interval since the epoch it counts
	ok, fails uint32
}

// Breaker is one circuit breaker. A nil *Breaker lets every call through.
//
// # Notes
//
// A call asks Allow for a Permit and reports its outcome with Permit.Done.
// Permits carry the breaker's generation, which changes at every state
// transition, so the outcome of a call admitted before a transition (a slow
// call that ends after the breaker opened) is ignored rather than mistaken
// for a probe's.
type Breaker struct {
	target Target
	cfg    *BreakerConfig
	clk    clock
	// word packs generation<<2 | state so that Allow on a closed breaker
	// reads one atomic and takes no lock.
	word atomic.Uint64

	mu          sync.Mutex
	consecutive int
	openUntil   int64
	probes      int // probes in flight
	probeOK     int
	halfOpenAt  int64 // when the current half-open generation began
	width       int64
	buckets     [nBuckets]bucket
	opened      func() // counts gateway_breaker_open_total
}

func newBreaker(t Target, cfg *BreakerConfig, clk clock, withMetrics bool) *Breaker {
	b := &Breaker{target: t, cfg: cfg, clk: clk, opened: func() {}}
	if cfg.FailureRatio > 0 {
		b.width = max(int64(cfg.Window)/nBuckets, 1)
	}
	if withMetrics {
		c := breakerOpenTotal.get(t)
		b.opened = c.Inc
		registerBreakerGauge(b)
	}
	return b
}

// State returns the breaker's current state. An open breaker whose cool-down
// has passed still reports Open until a call arrives.
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	return State(b.word.Load() & 3)
}

// Permit is a breaker's leave for one call; report the call's outcome with
// Done exactly once. The zero Permit (from a nil breaker) does nothing.
type Permit struct {
	b   *Breaker
	gen uint64
}

// Allow admits a call, or refuses it with an *OpenError while the breaker is
// open or its half-open probes are all in flight.
func (b *Breaker) Allow() (Permit, error) {
	if b == nil {
		return Permit{}, nil
	}
	w := b.word.Load()
	if State(w&3) == Closed {
		return Permit{b, w >> 2}, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	w = b.word.Load()
	now := b.clk.nanos()
	switch State(w & 3) {
	case Closed:
		return Permit{b, w >> 2}, nil
	case Open:
		if now < b.openUntil {
			return Permit{}, newOpenError(b.target.Provider, b.target.Model, time.Duration(b.openUntil-now))
		}
		w = b.halfOpen(now)
	}
	if b.probes >= b.cfg.Probes {
		if now-b.halfOpenAt < int64(b.cfg.Cooldown) {
			// A probe is deciding; it takes at most one call's time.
			return Permit{}, newOpenError(b.target.Provider, b.target.Model, time.Second)
		}
		// The probes' outcomes are a whole cool-down late: presume them lost
		// (a caller that never called Done) and start a new generation,
		// which also voids their permits.
		w = b.halfOpen(now)
	}
	b.probes++
	return Permit{b, w >> 2}, nil
}

// Done reports the outcome of the permitted call: nil for success, else the
// call's error, classified by Classify. Only ClassUnavailable counts as a
// failure; success resets the consecutive count; other classes are neutral.
func (p Permit) Done(err error) {
	if p.b != nil {
		p.b.done(p.gen, Classify(err))
	}
}

func (b *Breaker) done(gen uint64, c Class) {
	if c != ClassOK && c != ClassUnavailable && b.word.Load() == gen<<2 {
		return // a neutral outcome on a closed breaker records nothing
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.word.Load()
	if w>>2 != gen {
		return // admitted before the last transition
	}
	now := b.clk.nanos()
	switch State(w & 3) {
	case Closed:
		switch c {
		case ClassOK:
			b.consecutive = 0
			if b.width > 0 {
				b.bucket(now).ok++
			}
		case ClassUnavailable:
			b.consecutive++
			if b.width > 0 {
				b.bucket(now).fails++
			}
			if b.shouldTrip(now) {
				b.open(now)
			}
		}
	case HalfOpen:
		b.probes--
		switch c {
		case ClassOK:
			b.probeOK++
			if b.probeOK >= b.cfg.Successes {
				b.transition(Closed)
				b.reset()
			}
		case ClassUnavailable:
			b.open(now)
		}
	}
}

// Observe records the outcome of a call that bypassed Allow, such as a
// stream that failed after it started: it counts only on a closed breaker.
func (b *Breaker) Observe(err error) {
	if b == nil {
		return
	}
	w := b.word.Load()
	if State(w&3) == Closed {
		b.done(w>>2, Classify(err))
	}
}

// bucket returns the window bucket for now, recycling a stale one.
func (b *Breaker) bucket(now int64) *bucket {
	idx := now / b.width
	bk := &b.buckets[idx%nBuckets]
	if bk.idx != idx {
		*bk = bucket{idx: idx}
	}
	return bk
}

func (b *Breaker) shouldTrip(now int64) bool {
	if b.cfg.Failures > 0 && b.consecutive >= b.cfg.Failures {
		return true
	}
	if b.cfg.FailureRatio == 0 {
		return false
	}
	cur := now / b.width
	var ok, fails int
	for i := range b.buckets {
		if bk := &b.buckets[i]; bk.idx > cur-nBuckets {
			ok += int(bk.ok)
			fails += int(bk.fails)
		}
	}
	total := ok + fails
	return total >= b.cfg.MinRequests && float64(fails) >= b.cfg.FailureRatio*float64(total)
}

func (b *Breaker) halfOpen(now int64) uint64 {
	w := b.transition(HalfOpen)
	b.probes, b.probeOK, b.halfOpenAt = 0, 0, now
	return w
}

func (b *Breaker) open(now int64) {
	b.transition(Open)
	b.openUntil = now + int64(b.cfg.Cooldown)
	b.reset()
	b.opened()
	if h := b.cfg.onOpen; h != nil {
		if fn := h.Load(); fn != nil {
			go (*fn)(b.target)
		}
	}
}

func (b *Breaker) reset() {
	b.consecutive, b.probes, b.probeOK = 0, 0, 0
	b.buckets = [nBuckets]bucket{}
}

// transition moves to s with a new generation; b.mu is held.
func (b *Breaker) transition(s State) uint64 {
	w := ((b.word.Load()>>2)+1)<<2 | uint64(s)
	b.word.Store(w)
	return w
}
