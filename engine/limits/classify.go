package limits

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/aigateway/gateway/providers"
)

// Class is what an error from a provider call means for retries, fallbacks
// and circuit breakers.
type Class uint8

// Classes of call outcomes. Only ClassUnavailable counts as a breaker
// failure; only ClassUnavailable and ClassRateLimited are retried on the
// same target.
const (
	// ClassOK is success.
	ClassOK Class = iota
	// ClassClient is the request's own fault (a 4xx other than 429) or an
	// error this package does not know: the same request would fail the
	// same way anywhere, so it goes back to the client as it is.
	ClassClient
	// ClassCanceled means the caller gave up (context canceled).
	ClassCanceled
	// ClassFinal is an error marked with Final.
	ClassFinal
	// ClassSkip is an error marked with Skip.
	ClassSkip
	// ClassOpen is a breaker's fast failure (*OpenError).
	ClassOpen
	// ClassAuth means the upstream refused the gateway's own key (code
	// upstream_auth_failed): retrying cannot help, another provider can.
	ClassAuth
	// ClassRateLimited is an upstream 429.
	ClassRateLimited
	// ClassUnavailable is an upstream failure: connection refused or reset,
	// timeout, 500/502/503/504/529, a malformed upstream answer.
	ClassUnavailable
)

var classNames = [...]string{"ok", "client", "canceled", "final", "skip", "open", "auth", "rate_limited", "unavailable"}

// String returns the class's name as used in logs and docs.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Retryable reports whether the same target may be tried again.
func (c Class) Retryable() bool { return c == ClassUnavailable || c == ClassRateLimited }

// CanFallBack reports whether another target may be tried.
func (c Class) CanFallBack() bool {
	switch c {
	case ClassUnavailable, ClassRateLimited, ClassOpen, ClassSkip, ClassAuth:
		return true
	}
	return false
}

// Classify maps an error returned by a provider call (or by the engine's
// call function) to its Class. A nil error is ClassOK.
func Classify(err error) Class {
	if err == nil {
		return ClassOK
	}
	// errors.AsType, unlike errors.As, does not move a target to the heap.
	if me, ok := errors.AsType[*markedError](err); ok {
		if me.mark == markFinal {
			return ClassFinal
		}
		return ClassSkip
	}
	if _, ok := errors.AsType[*OpenError](err); ok {
		return ClassOpen
	}
	if ue, ok := errors.AsType[*providers.UpstreamError](err); ok {
		switch {
		case ue.Code == "upstream_auth_failed":
			return ClassAuth
		case ue.Status == 429:
			return ClassRateLimited
		case ue.Status >= 500 && ue.Status != 501 && ue.Status != 505:
			return ClassUnavailable
		case ue.Status == 408:
			return ClassUnavailable
		case ue.Status == 0:
			// A provider that built an UpstreamError without a status:
			// fall through to the wrapped transport error.
		default:
			return ClassClient
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	case errors.Is(err, providers.ErrTimeout), errors.Is(err, providers.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassUnavailable
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return ClassUnavailable
	}
	return ClassClient
}

// retryAfter is the upstream's Retry-After carried by err, if any.
func retryAfter(err error) time.Duration {
	if ue, ok := errors.AsType[*providers.UpstreamError](err); ok {
		return ue.RetryAfter
	}
	return 0
}
