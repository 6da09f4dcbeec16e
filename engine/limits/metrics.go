package limits

import (
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/api"
)

// maxLabelValues bounds each labelled family so that names a client can
// influence (model names in per-model breakers) cannot grow /metrics without
// limit; later values share the series labelled "other".
const maxLabelValues = 1000

var (
	rateLimitFallback    = metrics.NewCounter(`gateway_rate_limit_fallback_total`)
	rateLimitRedisErrors = metrics.NewCounter(`gateway_rate_limit_redis_errors_total`)

	retriesTotal = newVec("other", func(p string) string {
		return `gateway_retries_total{provider="` + api.Label(p) + `"}`
	})
	rateLimitedTotal = newVec("other", func(p string) string {
		return `gateway_rate_limited_total{project="` + api.Label(p) + `"}`
	})
	breakerOpenTotal = newVec(Target{Provider: "other"}, func(t Target) string {
		return `gateway_breaker_open_total` + t.labels()
	})
	fallbacksTotal = newVec([2]Target{{Provider: "other"}, {Provider: "other"}}, func(k [2]Target) string {
		return `gateway_fallbacks_total{from="` + api.Label(k[0].String()) + `",to="` + api.Label(k[1].String()) + `"}`
	})
)

// vec caches the counters of one labelled family by label value, so that a
// lookup costs a map read and no string building.
type vec[K comparable] struct {
	mu    sync.RWMutex
	m     map[K]*metrics.Counter
	name  func(K) string
	other K
}

func newVec[K comparable](other K, name func(K) string) *vec[K] {
	return &vec[K]{m: map[K]*metrics.Counter{}, name: name, other: other}
}

func (v *vec[K]) get(k K) *metrics.Counter {
	v.mu.RLock()
	c := v.m[k]
	v.mu.RUnlock()
	if c != nil {
		return c
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c = v.m[k]; c != nil {
		return c
	}
	name := v.name(k)
	if len(v.m) >= maxLabelValues {
		name = v.name(v.other)
	}
	c = metrics.GetOrCreateCounter(name)
	v.m[k] = c
	return c
}

// breakerGauges maps a gateway_breaker_state series to the breaker it
// reports. The gauge's callback is fixed when the series is created, so it
// reads through this map: a breaker created later under the same name (after
// a configuration reload) takes the series over.
var breakerGauges sync.Map // string → *Breaker

func registerBreakerGauge(b *Breaker) {
	name := `gateway_breaker_state` + b.target.labels()
	breakerGauges.Store(name, b)
	metrics.GetOrCreateGauge(name, func() float64 {
		v, ok := breakerGauges.Load(name)
		if !ok {
			return 0
		}
		return float64(v.(*Breaker).State())
	})
}
