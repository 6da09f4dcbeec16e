package limits

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aigateway/gateway/engine/api"
)

// Target is one provider and upstream model the engine can call. The engine
// resolves names; Run only passes targets back to it.
type Target struct {
	Provider, Model string
}

// String returns "provider/model" (or "provider" without a model).
func (t Target) String() string {
	if t.Model == "" {
		return t.Provider
	}
	return t.Provider + "/" + t.Model
}

// labels returns the Prometheus label set naming t.
func (t Target) labels() string {
	if t.Model == "" {
		return `{provider="` + api.Label(t.Provider) + `"}`
	}
	return `{provider="` + api.Label(t.Provider) + `",model="` + api.Label(t.Model) + `"}`
}

// RetryPolicy decides when a failed call is tried again. It is a value:
// copy it freely.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts on one target, the first one
	// included; 1 disables retries (RETRY_ENABLED=0).
	MaxAttempts int
	// BaseDelay and MaxDelay shape the backoff: the delay before retry n
	// (0-based) is uniform in [0, min(MaxDelay, BaseDelay·2ⁿ)] ("full
	// jitter").
	BaseDelay, MaxDelay time.Duration
	// MaxRetryAfter is the longest upstream Retry-After that is waited for
	// on the same target; a longer one moves on to the next target (or ends
	// the run) at once.
	MaxRetryAfter time.Duration
	// Budget bounds a whole run: no attempt, retry or fallback starts once
	// it has passed since Run began. 0 means no bound but the context's.
	Budget time.Duration
}

// DefaultRetryPolicy returns the defaults: 3 attempts per target, backoff
// from 1 s (the seed's RETRY_BACKOFF_BASE) capped at 10 s, Retry-After
// honoured up to 10 s, 30 s for the whole run.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 10 * time.Second,
		MaxRetryAfter: 10 * time.Second, Budget: 30 * time.Second}
}

// Validate reports the first invalid field, named by its TOML key.
func (p RetryPolicy) Validate() error {
	switch {
	case p.MaxAttempts < 1:
		return errors.New("retry_max_attempts must be at least 1")
	case p.BaseDelay < 0 || p.MaxDelay < 0 || p.MaxRetryAfter < 0 || p.Budget < 0:
		return errors.New("retry durations must not be negative")
	case p.MaxDelay < p.BaseDelay:
		return errors.New("retry_backoff_max must not be below retry_backoff_base")
	}
	return nil
}

// Backoff returns the full-jitter delay before retry number try (0 for the
// first retry); rnd(n) returns a uniform integer in [0, n).
func (p RetryPolicy) Backoff(try int, rnd func(int64) int64) time.Duration {
	ceil := p.BaseDelay
	for i := 0; i < try && ceil < p.MaxDelay; i++ {
		ceil *= 2
	}
	if ceil > p.MaxDelay {
		ceil = p.MaxDelay
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rnd(int64(ceil) + 1))
}

// Step is what Run does after a failed attempt.
type Step uint8

// Steps after a failed attempt.
const (
	// StepStop returns the error to the caller.
	StepStop Step = iota
	// StepRetry tries the same target again after the delay.
	StepRetry
	// StepFallback moves on to the next target at once.
	StepFallback
)

// String returns the step's name.
func (s Step) String() string {
	switch s {
	case StepRetry:
		return "retry"
	case StepFallback:
		return "fallback"
	}
	return "stop"
}

// Next decides what follows a failed attempt number try (0-based) on one
// target: retry with a delay, fall back to the next target, or stop. A
// Retry-After up to MaxRetryAfter is honoured (the delay is at least that
// long); a longer one falls back.
func (p RetryPolicy) Next(err error, try int, rnd func(int64) int64) (Step, time.Duration) {
	c := Classify(err)
	if !c.Retryable() {
		if c.CanFallBack() {
			return StepFallback, 0
		}
		return StepStop, 0
	}
	if try+1 >= p.MaxAttempts {
		return StepFallback, 0
	}
	d := p.Backoff(try, rnd)
	if ra := retryAfter(err); ra > 0 {
		if ra > p.MaxRetryAfter {
			return StepFallback, 0
		}
		d = max(d, ra)
	}
	return StepRetry, d
}

// Attempt describes one call that Run asks the Caller to make.
type Attempt struct {
	Target Target
	// Index is the target's position in the list (0 for the primary).
	Index int
	// Try is the attempt number on this target, from 0.
	Try int
	// Deadline is when the run's budget ends (zero if unbounded). No new
	// attempt starts after it; the engine may also cap a retry's upstream
	// timeout by it.
	Deadline time.Time
}

// Caller makes one upstream call. It returns nil once the call succeeded
// (for a stream: once the upstream answered with a success status, before
// any byte reached the client), or the call's error. It must not have sent
// anything to the client when it returns an error, or it must wrap that
// error with Final.
type Caller interface {
	Call(ctx context.Context, a Attempt) error
}

// CallFunc adapts a function to Caller.
type CallFunc func(ctx context.Context, a Attempt) error

// Call calls f.
func (f CallFunc) Call(ctx context.Context, a Attempt) error { return f(ctx, a) }

// Runner runs calls with retries, circuit breakers and fallbacks.
type Runner struct {
	policy   RetryPolicy
	breakers *Breakers
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
	rnd      func(int64) int64
}

// NewRunner returns a Runner with policy p and breakers b (nil for none).
func NewRunner(p RetryPolicy, b *Breakers) (*Runner, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Runner{policy: p, breakers: b, now: time.Now, sleep: sleepCtx, rnd: rand.Int64N}, nil
}

// Breakers returns the runner's breakers (nil if disabled).
func (r *Runner) Breakers() *Breakers { return r.breakers }

// Run calls c for targets[0] and, when its retries are exhausted, its
// breaker is open or its error says another provider may do better, for
// each following target in order (the fallbacks), until one succeeds. It
// returns the last attempt made and nil, or the error that ended the run:
// the last attempt's error, an *OpenError when the last target's breaker
// refused, or ErrNoTargets.
//
// # Notes
//
// Run sleeps between retries on the calling goroutine and returns early
// when ctx is done. It never calls c again once c has returned nil or an
// error marked with Final.
func (r *Runner) Run(ctx context.Context, targets []Target, c Caller) (Attempt, error) {
	var a Attempt
	if len(targets) == 0 {
		return a, ErrNoTargets
	}
	start := r.now()
	var deadline time.Time
	if r.policy.Budget > 0 {
		deadline = start.Add(r.policy.Budget)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	var last error
	for i, t := range targets {
		if i > 0 {
			if ctx.Err() != nil || (!deadline.IsZero() && !r.now().Before(deadline)) {
				return a, last
			}
			fallbacksTotal.get([2]Target{targets[i-1], t}).Inc()
		}
		br := r.breakers.For(t.Provider, t.Model)
		for try := 0; ; try++ {
			a = Attempt{Target: t, Index: i, Try: try, Deadline: deadline}
			p, err := br.Allow()
			if err != nil {
				last = err
				break
			}
			err = c.Call(ctx, a)
			p.Done(err)
			if err == nil {
				return a, nil
			}
			last = err
			step, delay := r.policy.Next(err, try, r.rnd)
			if step == StepStop {
				return a, err
			}
			if step == StepFallback {
				break
			}
			if !deadline.IsZero() && !r.now().Add(delay).Before(deadline) {
				break // no time left to wait here: try the next target
			}
			if r.sleep(ctx, delay) != nil {
				return a, last
			}
			retriesTotal.get(t.Provider).Inc()
		}
	}
	return a, last
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
