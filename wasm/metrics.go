package wasm

import (
	"strconv"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// policyMetrics are the gateway_policy_* series of one policy name. They
// outlive module versions, so counters keep counting across uploads.
type policyMetrics struct {
	calls, errors, timeouts, quarantines, skipped *metrics.Counter
	// untriggered counts requests the policy's trigger let pass by.
	untriggered *metrics.Counter
	duration    *metrics.PrometheusHistogram
	// failures counts failed calls by reason (FailureKind.Label).
	failures [numFailureKinds]*metrics.Counter
	recent   *failureLog
	// lat mirrors duration for the admin API's p50 and p99.
	lat latency
}

// durationBuckets span 1µs to about 1s.
var durationBuckets = metrics.ExponentialBuckets(1e-6, 2, numDurationBuckets)

// numDurationBuckets is the number of finite duration buckets.
const numDurationBuckets = 21

// metricsFor returns name's metrics, creating them on first use. Callers
// hold h.mu.
func (h *Host) metricsFor(name string) *policyMetrics {
	if m, ok := h.pm[name]; ok {
		return m
	}
	label := `{policy=` + strconv.Quote(name) + `}`
	m := &policyMetrics{
		calls:       h.set.NewCounter("gateway_policy_calls_total" + label),
		errors:      h.set.NewCounter("gateway_policy_errors_total" + label),
		timeouts:    h.set.NewCounter("gateway_policy_timeouts_total" + label),
		quarantines: h.set.NewCounter("gateway_policy_quarantines_total" + label),
		skipped:     h.set.NewCounter("gateway_policy_skipped_total" + label),
		untriggered: h.set.NewCounter("gateway_policy_untriggered_total" + label),
		duration:    h.set.NewPrometheusHistogramExt("gateway_policy_duration_seconds"+label, durationBuckets),
		recent:      newFailureLog(h.opts.RecentFailures),
	}
	for k := FailTrap; int(k) < numFailureKinds; k++ {
		m.failures[k] = h.set.NewCounter(`gateway_policy_failures_total{policy=` + strconv.Quote(name) + `,reason="` + k.Label() + `"}`)
	}
	current := func() *version {
		if p := h.reg.Load().byName[name]; p != nil {
			return p.cur.Load()
		}
		return nil
	}
	h.set.NewGauge("gateway_policy_instances"+label, func() float64 {
		if v := current(); v != nil {
			return float64(v.count.Load())
		}
		return 0
	})
	h.set.NewGauge("gateway_policy_memory_bytes"+label, func() float64 {
		if v := current(); v != nil {
			return float64(v.mem.Load())
		}
		return 0
	})
	h.set.NewGauge("gateway_policy_quarantined"+label, func() float64 {
		if v := current(); v != nil && v.quarantinedUntil.Load() > time.Now().UnixNano() {
			return 1
		}
		return 0
	})
	h.pm[name] = m
	return m
}
