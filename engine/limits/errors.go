package limits

import (
	"errors"
	"strconv"
	"time"

	"github.com/aigateway/gateway/providers"
)

// Sentinel errors of the package.
var (
	// ErrOpen reports that a circuit breaker refused a call without trying
	// it; the error is an *OpenError.
	ErrOpen = errors.New("circuit open")
	// ErrNoTargets is returned by Run when it is given nothing to call.
	ErrNoTargets = errors.New("no provider to call")
)

// OpenError is returned by Breaker.Allow while the breaker is open (or
// half-open with its probes in flight). It unwraps to a
// *providers.UpstreamError with status 503, code "circuit_open" and
// RetryAfter rounded up to whole seconds, so the engine's ordinary upstream
// error mapping answers 503 with a Retry-After header.
type OpenError struct {
	// Provider and Model name the breaker (Model is empty for a
	// per-provider breaker).
	Provider, Model string
	// RetryAfter is how long until the breaker lets a probe through.
	RetryAfter time.Duration
	up         providers.UpstreamError
}

func newOpenError(provider, model string, retryAfter time.Duration) *OpenError {
	secs := ceilSeconds(retryAfter)
	name := provider
	if model != "" {
		name += "/" + model
	}
	return &OpenError{
		Provider: provider, Model: model, RetryAfter: retryAfter,
		up: providers.UpstreamError{
			Status: 503, Type: "upstream_error", Code: "circuit_open",
			Message:    "upstream " + name + " is failing and its circuit breaker is open; retry in " + strconv.Itoa(secs) + "s",
			RetryAfter: time.Duration(secs) * time.Second,
		},
	}
}

// Error returns the message the client sees.
func (e *OpenError) Error() string { return e.up.Message }

// Is reports whether target is ErrOpen.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// Unwrap returns the 503 upstream error the engine maps to its envelope.
func (e *OpenError) Unwrap() error { return &e.up }

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1.
func (e *OpenError) RetryAfterSeconds() int { return ceilSeconds(e.RetryAfter) }

// mark tells Run what to do with an error whatever its class.
type mark uint8

const (
	markFinal mark = iota + 1
	markSkip
)

type markedError struct {
	err  error
	mark mark
}

func (e *markedError) Error() string { return e.err.Error() }
func (e *markedError) Unwrap() error { return e.err }

// Final marks err as one after which Run must neither retry nor fall back:
// for instance, bytes of the answer already reached the client. It returns
// nil for nil.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{err, markFinal}
}

// Skip marks err as local to the attempted target: Run moves on to the next
// target at once, without retrying and without counting a breaker failure
// (for instance, the provider's in-flight slots are all taken). It returns
// nil for nil.
func Skip(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{err, markSkip}
}

// ceilSeconds rounds d up to whole seconds, at least 1: the unit of the
// Retry-After header.
func ceilSeconds(d time.Duration) int {
	if d <= time.Second {
		return 1
	}
	return int((d + time.Second - 1) / time.Second)
}
