package cache

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// Process-wide series for /metrics; every Cache also keeps its own counters
// for Stats.
var (
	mHits = [...]*metrics.Counter{
		tierMemory:    metrics.GetOrCreateCounter(`gateway_cache_hits_total{tier="memory"}`),
		tierRedis:     metrics.GetOrCreateCounter(`gateway_cache_hits_total{tier="redis"}`),
		tierCoalesced: metrics.GetOrCreateCounter(`gateway_cache_hits_total{tier="coalesced"}`),
	}
	mMisses = [...]*metrics.Counter{
		tierMemory: metrics.GetOrCreateCounter(`gateway_cache_misses_total{tier="memory"}`),
		tierRedis:  metrics.GetOrCreateCounter(`gateway_cache_misses_total{tier="redis"}`),
	}
	mStores = [...]*metrics.Counter{
		tierMemory: metrics.GetOrCreateCounter(`gateway_cache_stores_total{tier="memory"}`),
		tierRedis:  metrics.GetOrCreateCounter(`gateway_cache_stores_total{tier="redis"}`),
	}
	mErrors = [...]*metrics.Counter{
		tierMemory: metrics.GetOrCreateCounter(`gateway_cache_errors_total{tier="memory"}`),
		tierRedis:  metrics.GetOrCreateCounter(`gateway_cache_errors_total{tier="redis"}`),
	}
	mRedisSkipped = metrics.GetOrCreateCounter(`gateway_cache_redis_skipped_total`)
	mBypass       = metrics.GetOrCreateCounter(`gateway_cache_bypass_total`)
	mNotStored    = metrics.GetOrCreateCounter(`gateway_cache_not_stored_total`)
)

// tier indexes the counters.
type tier uint8

const (
	tierMemory tier = iota
	tierRedis
	tierCoalesced
	numTiers
)

// counters are one Cache's own tallies.
type counters struct {
	hits, misses, stores, errors [numTiers]atomic.Uint64
	skipped, bypass, notStored   atomic.Uint64
}

func (c *counters) hit(t tier) {
	c.hits[t].Add(1)
	mHits[t].Inc()
}

func (c *counters) miss(t tier) {
	c.misses[t].Add(1)
	mMisses[t].Inc()
}

func (c *counters) store(t tier) {
	c.stores[t].Add(1)
	mStores[t].Inc()
}

func (c *counters) fail(t tier) {
	c.errors[t].Add(1)
	mErrors[t].Inc()
}

func (c *counters) skip() {
	c.skipped.Add(1)
	mRedisSkipped.Inc()
}
