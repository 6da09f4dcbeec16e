package cache

import "errors"

// Sentinel errors.
var (
	// ErrIncomplete reports a stream that ended before its finish and [DONE]
	// events, or was closed early: it is never cached.
	ErrIncomplete = errors.New("cache: stream incomplete")
	// ErrUpstreamFailed reports an answer that carried an error (an in-stream
	// error event or an error body): it is never cached.
	ErrUpstreamFailed = errors.New("cache: answer is an upstream error")
	// ErrNotCacheable reports a well-formed answer that the entry format
	// cannot represent (several choices, logprobs, audio).
	ErrNotCacheable = errors.New("cache: answer not representable")
	// ErrCorrupt reports stored bytes that are not a valid entry.
	ErrCorrupt = errors.New("cache: corrupt entry")
	// ErrTooLarge reports an entry above the configured maximum size.
	ErrTooLarge = errors.New("cache: entry too large")
	// ErrRedisSkipped reports that the Redis tier was skipped because it is
	// in its back-off period after a failure.
	ErrRedisSkipped = errors.New("cache: redis tier skipped after failures")
	// ErrClosed reports use of a closed Cache.
	ErrClosed = errors.New("cache: closed")
)
