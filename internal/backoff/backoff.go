// Package backoff skips a failing dependency (a Redis tier, a remote
// embedder) for a while instead of making every request wait for it.
//
// After a failure the dependency is skipped for a period that starts at Min
// and doubles, up to Max, while failures repeat; when a period ends one
// probe is let through, and its success restores the dependency. Failures
// of operations that were already in flight when the period began do not
// lengthen it.
package backoff

import (
	"sync/atomic"
	"time"
)

// Backoff is one dependency's state. Set Min and Max before use; the zero
// state is healthy. Safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration

	failing   atomic.Bool
	probing   atomic.Bool
	openUntil atomic.Int64 // UnixNano until which the dependency is skipped
	cur       atomic.Int64 // the current period
}

// Allow reports whether an operation may use the dependency now: always
// while it is healthy, never during a period, and once (the probe) after.
func (b *Backoff) Allow() bool {
	if !b.failing.Load() {
		return true
	}
	if time.Now().UnixNano() < b.openUntil.Load() {
		return false
	}
	return b.probing.CompareAndSwap(false, true)
}

// OK records a success: the dependency is healthy again.
func (b *Backoff) OK() {
	if b.failing.Load() {
		b.cur.Store(0)
		b.failing.Store(false)
		b.probing.Store(false)
	}
}

// Fail records a failure and starts (or doubles) the period.
func (b *Backoff) Fail() {
	if b.failing.Load() && time.Now().UnixNano() < b.openUntil.Load() {
		return // operations that were in flight when the period began
	}
	d := time.Duration(b.cur.Load())
	if d == 0 {
		d = b.Min
	} else {
		d = min(2*d, b.Max)
	}
	b.cur.Store(int64(d))
	b.openUntil.Store(time.Now().Add(d).UnixNano())
	b.failing.Store(true)
	b.probing.Store(false)
}

// Healthy reports whether the dependency is in use (no failure since the
// last success).
func (b *Backoff) Healthy() bool { return !b.failing.Load() }

// InPeriod reports whether a period is running: writes that would only be
// queued for the dependency are dropped then, without taking the probe.
func (b *Backoff) InPeriod() bool {
	return b.failing.Load() && time.Now().UnixNano() < b.openUntil.Load()
}

// Period returns the length of the current (or last) period; 0 while the
// dependency is healthy.
func (b *Backoff) Period() time.Duration { return time.Duration(b.cur.Load()) }
