// Package cache is the gateway's exact response cache: a key over everything
// that shapes an answer, a cacheability policy, an entry format that is
// independent of streaming, two tiers (an in-process tier on bigcache with a
// small lock-free hot set in front, and a Redis tier shared by every replica),
// and single-flight coalescing of identical concurrent requests.
//
// The engine calls it between model resolution and the provider call:
//
//	k := cache.KeyFor(req, project, provider, upstreamModel)
//	d := c.Policy().Decide(req, project, provider, upstreamModel, deterministic)
//	r := c.Begin(k, d, cache.ParseDirective(xGatewayCache, cacheControl))
//	switch {
//	case r.Entry != nil: // a hit (memory, redis or coalesced): replay it
//	case r.Err != nil:   // the coalesced leader's upstream error
//	default:             // go upstream; r.Flight (may be nil) records the answer
//	}
//
// See docs/caching.md for what is in the key and what is cached.
//
// # Notes
//
// Entries are immutable once built and may be shared by any number of
// goroutines. A Cache is safe for concurrent use. Redis is never on the
// critical path for longer than its configured timeout, and after a failure it
// is skipped for a back-off period.
package cache
