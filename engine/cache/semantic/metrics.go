package semantic

import (
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
)

// Process-wide series for /metrics; every Cache also keeps its own counters
// for Stats.
var (
	mHits       = metrics.GetOrCreateCounter(`gateway_semantic_cache_lookups_total{result="hit"}`)
	mMisses     = metrics.GetOrCreateCounter(`gateway_semantic_cache_lookups_total{result="miss"}`)
	mIneligible = func() map[string]*metrics.Counter {
		m := map[string]*metrics.Counter{}
		for _, r := range reasons {
			m[r] = metrics.GetOrCreateCounter(`gateway_semantic_cache_ineligible_total{reason="` + r + `"}`)
		}
		return m
	}()
	mRefused = func() (c [numGuards]*metrics.Counter) {
		for g := GuardLanguage; g < numGuards; g++ {
			c[g] = metrics.GetOrCreateCounter(`gateway_semantic_cache_refused_total{guard="` + g.String() + `"}`)
		}
		return c
	}()
	mStores = [...]*metrics.Counter{
		metrics.GetOrCreateCounter(`gateway_semantic_cache_stores_total{tier="memory"}`),
		metrics.GetOrCreateCounter(`gateway_semantic_cache_stores_total{tier="redis"}`),
	}
	mErrors = [...]*metrics.Counter{
		srcRedis:    metrics.GetOrCreateCounter(`gateway_semantic_cache_errors_total{source="redis"}`),
		srcEmbedder: metrics.GetOrCreateCounter(`gateway_semantic_cache_errors_total{source="embedder"}`),
	}
	mLoads      = metrics.GetOrCreateCounter(`gateway_semantic_cache_redis_loads_total`)
	mSimilarity = metrics.GetOrCreateHistogram(`gateway_semantic_cache_hit_similarity`)
)

const (
	srcRedis = iota
	srcEmbedder
)

// counters are one Cache's own tallies.
type counters struct {
	hits, misses, stores, notStored   atomic.Uint64
	ineligible                        [len(reasons)]atomic.Uint64
	refused                           [numGuards]atomic.Uint64
	belowThreshold                    atomic.Uint64
	embedErrors, embedSkipped         atomic.Uint64
	redisErrors, redisSkipped         atomic.Uint64
	redisStores, redisLoads, redisGot atomic.Uint64
}

func (c *counters) ineligibleFor(reason string) {
	for i, r := range reasons {
		if r == reason {
			c.ineligible[i].Add(1)
			mIneligible[r].Inc()
			return
		}
	}
}
