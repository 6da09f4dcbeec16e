package wasm

import (
	"sort"
	"sync/atomic"
)

// latency is a policy's call-duration histogram kept beside the
// gateway_policy_duration_seconds series, over the same buckets, so that
// the admin API can say p50 and p99 without scraping /metrics (the
// Prometheus histogram has no getter). Observe is two atomic adds and no
// allocation; Quantile reads the counts without a lock, so a quantile read
// during calls may mix counts from either side of a call (harmless).
//
// # Notes
//
// The counts are this replica's, since the name's metrics were created
// (they outlive module versions, like the calls counter). A fleet-wide
// quantile is Prometheus's histogram_quantile over the summed buckets of
// every replica, which interpolates the same way (docs/policies.md).
type latency struct {
	counts [numDurationBuckets + 1]atomic.Uint64 // the +Inf bucket last
}

// observe counts one call of d seconds in the first bucket whose upper
// bound is at least d (Prometheus's le).
func (l *latency) observe(d float64) {
	l.counts[sort.SearchFloat64s(durationBuckets, d)].Add(1)
}

// quantile is the q-quantile (0 < q <= 1) in seconds, interpolated
// linearly inside its bucket as histogram_quantile does; a quantile in the
// +Inf bucket is the last finite bound. 0 when nothing was observed.
func (l *latency) quantile(q float64) float64 {
	var snap [len(latency{}.counts)]uint64
	var n uint64
	for i := range l.counts {
		snap[i] = l.counts[i].Load()
		n += snap[i]
	}
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var seen uint64
	for i, c := range snap {
		if c == 0 || float64(seen+c) < rank {
			seen += c
			continue
		}
		if i == len(durationBuckets) {
			return durationBuckets[i-1]
		}
		lower := 0.0
		if i > 0 {
			lower = durationBuckets[i-1]
		}
		return lower + (durationBuckets[i]-lower)*(rank-float64(seen))/float64(c)
	}
	return durationBuckets[len(durationBuckets)-1]
}
