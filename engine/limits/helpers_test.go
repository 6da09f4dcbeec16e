package limits

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/providers"
)

// fakeClock is a manually advanced time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Upstream errors as the providers build them.
var (
	err400 = &providers.UpstreamError{Status: 400, Type: "invalid_request_error", Message: "bad request"}
	err404 = &providers.UpstreamError{Status: 404, Type: "invalid_request_error", Code: "model_not_found", Message: "no such model"}
	err429 = &providers.UpstreamError{Status: 429, Type: "rate_limit_error", Message: "slow down"}
	err502 = &providers.UpstreamError{Status: 502, Type: "upstream_error", Message: "upstream said 500"}
	err503 = &providers.UpstreamError{Status: 503, Type: "upstream_error", Code: "upstream_overloaded", Message: "overloaded"}
	err504 = providers.TransportError("p", errors.New("i/o timeout"), true)
	errRef = providers.TransportError("p", fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED), false)
	errAut = &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_auth_failed", Message: "our key was refused"}
)

func err429After(d time.Duration) error {
	return &providers.UpstreamError{Status: 429, Type: "rate_limit_error", Message: "slow down", RetryAfter: d}
}

func err503After(d time.Duration) error {
	return &providers.UpstreamError{Status: 503, Type: "upstream_error", Message: "busy", RetryAfter: d}
}

// netErr is a net.Error that is not a timeout.
var netErr net.Error = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// counter reads a counter of the default metrics set.
func counter(name string) uint64 { return metrics.GetOrCreateCounter(name).Get() }

// noRand makes Backoff return its ceiling minus one, the largest delay.
func maxRand(n int64) int64 { return n - 1 }
