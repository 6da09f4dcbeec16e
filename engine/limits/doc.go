// Package limits keeps the gateway reliable: per-project rate limits (in
// process, or shared by every replica through Redis), circuit breakers per
// provider, and the retry and fallback control flow around provider calls.
//
// The engine owns names and wire formats; this package owns decisions. It
// never logs and never reads configuration files: the engine maps its
// [reliability] table onto [Rate], [BreakerConfig], [RetryPolicy] and
// [RedisConfig].
//
// # Notes
//
// Every exported type is safe for concurrent use once constructed.
// [Local.Allow], [Breaker.Allow] on a closed breaker, [Permit.Done] and a
// [Runner.Run] that succeeds at the first try allocate nothing.
package limits
