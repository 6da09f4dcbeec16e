package engine

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/api"
)

// Latency buckets in seconds, fine-grained at the low end where gateway
// overhead lives.
var latencyBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
}

var (
	inFlight         atomic.Int64
	_                = metrics.NewGauge(`gateway_in_flight_requests`, func() float64 { return float64(inFlight.Load()) })
	overheadSeconds  = metrics.NewPrometheusHistogramExt(`gateway_overhead_seconds`, latencyBuckets)
	streamDisconnect = metrics.NewCounter(`gateway_stream_client_disconnects_total`)
	streamUpstreamEr = metrics.NewCounter(`gateway_stream_upstream_errors_total`)
	bodyTooLarge     = metrics.NewCounter(`gateway_errors_total{code="body_too_large"}`)
	policySyncErrors = metrics.NewCounter(`gateway_policy_sync_errors_total`)
	classifierErrors = metrics.NewCounter(`gateway_route_classifier_errors_total`)
	// quietInstances and quietBytes count what the quiet trim's release
	// of policy instances closed (Server.ReleaseIdle).
	quietInstances = metrics.NewCounter(`gateway_policy_quiet_released_instances_total`)
	quietBytes     = metrics.NewCounter(`gateway_policy_quiet_released_bytes_total`)
)

// maxSeries bounds distinct (provider, model) label sets so that clients
// naming arbitrary "provider/x" models cannot grow /metrics without limit.
const maxSeries = 2000

type modelKey struct{ provider, model string }

// modelMetrics are the per provider/model series, created once.
type modelMetrics struct {
	e2e, upstream, ttft           *metrics.PrometheusHistogram
	inTok, cachedTok, outTok      *metrics.Counter
	byStatus                      sync.Map // int → *metrics.Counter
	provider, model, labelsPrefix string
}

var (
	modelSeries sync.Map // modelKey → *modelMetrics
	seriesCount atomic.Int64
)

func metricsFor(provider, model string) *modelMetrics {
	k := modelKey{provider, model}
	if v, ok := modelSeries.Load(k); ok {
		return v.(*modelMetrics)
	}
	if seriesCount.Load() >= maxSeries {
		k.model = "other"
		if v, ok := modelSeries.Load(k); ok {
			return v.(*modelMetrics)
		}
	}
	// The key outlives the request: its strings must not alias request
	// memory, whoever the caller is.
	k.provider, k.model = strings.Clone(k.provider), strings.Clone(k.model)
	labels := `{provider="` + api.Label(k.provider) + `",model="` + api.Label(k.model) + `"}`
	mm := &modelMetrics{
		e2e:          metrics.GetOrCreatePrometheusHistogramExt(`gateway_request_duration_seconds`+labels, latencyBuckets),
		upstream:     metrics.GetOrCreatePrometheusHistogramExt(`gateway_upstream_duration_seconds`+labels, latencyBuckets),
		ttft:         metrics.GetOrCreatePrometheusHistogramExt(`gateway_time_to_first_token_seconds`+labels, latencyBuckets),
		inTok:        metrics.GetOrCreateCounter(`gateway_tokens_total{provider="` + api.Label(k.provider) + `",model="` + api.Label(k.model) + `",type="input"}`),
		cachedTok:    metrics.GetOrCreateCounter(`gateway_tokens_total{provider="` + api.Label(k.provider) + `",model="` + api.Label(k.model) + `",type="cached"}`),
		outTok:       metrics.GetOrCreateCounter(`gateway_tokens_total{provider="` + api.Label(k.provider) + `",model="` + api.Label(k.model) + `",type="output"}`),
		provider:     k.provider,
		model:        k.model,
		labelsPrefix: `gateway_requests_total{provider="` + api.Label(k.provider) + `",model="` + api.Label(k.model) + `",status="`,
	}
	if v, loaded := modelSeries.LoadOrStore(k, mm); loaded {
		return v.(*modelMetrics)
	}
	seriesCount.Add(1)
	return mm
}

func (m *modelMetrics) request(status int) {
	if v, ok := m.byStatus.Load(status); ok {
		v.(*metrics.Counter).Inc()
		return
	}
	c := metrics.GetOrCreateCounter(m.labelsPrefix + strconv.Itoa(status) + `"}`)
	m.byStatus.Store(status, c)
	c.Inc()
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func cascadeTotal(outcome, reason string) {
	metrics.GetOrCreateCounter(`gateway_cascade_total{outcome="` + outcome + `",reason="` + reason + `"}`).Inc()
}
