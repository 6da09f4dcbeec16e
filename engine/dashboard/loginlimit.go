package dashboard

import (
	"math"
	"net"
	"sync"
	"time"
)

// Login rate limits: admin-key guesses per client address. A token bucket
// per address holds LoginBurst attempts and refills one per LoginEvery;
// a successful login gives its token back, so only failures (and
// attempts made while failures are pending) count.
const (
	DefaultLoginBurst = 10
	DefaultLoginEvery = 12 * time.Second
	// DefaultLoginAddrs bounds the addresses tracked at once.
	DefaultLoginAddrs = 10000
)

// loginLimiter is the per-address bucket table. Its memory is bounded:
// with maxAddrs tracked, the addresses whose bucket has refilled (they
// lose nothing by being forgotten) are dropped first; if every one is
// still draining, a new address shares one overflow bucket, so that a
// flood from many addresses slows logins from new addresses rather than
// growing the table or resetting anyone's count.
//
// # Notes
//
// IPv6 addresses are keyed by their /64 (one host usually holds the whole
// prefix). Behind a proxy every client has the proxy's address: the limit
// is then the proxy's, which errs on the safe side.
type loginLimiter struct {
	burst    float64
	every    time.Duration
	maxAddrs int

	mu       sync.Mutex
	buckets  map[string]*bucket
	overflow bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLoginLimiter(burst int, every time.Duration, maxAddrs int) *loginLimiter {
	if burst <= 0 {
		burst = DefaultLoginBurst
	}
	if every <= 0 {
		every = DefaultLoginEvery
	}
	if maxAddrs <= 0 {
		maxAddrs = DefaultLoginAddrs
	}
	return &loginLimiter{burst: float64(burst), every: every, maxAddrs: maxAddrs, buckets: map[string]*bucket{},
		overflow: bucket{tokens: float64(burst)}}
}

// addrKey is the bucket key of ip: the address, or an IPv6 address's /64.
func addrKey(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// refill brings b up to now.
func (l *loginLimiter) refill(b *bucket, now time.Time) {
	if !b.last.IsZero() {
		b.tokens = math.Min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.every))
	}
	b.last = now
}

// bucketFor returns key's bucket, making room or sharing the overflow
// bucket when the table is full. Callers hold l.mu.
func (l *loginLimiter) bucketFor(key string, now time.Time) *bucket {
	if b := l.buckets[key]; b != nil {
		return b
	}
	if len(l.buckets) >= l.maxAddrs {
		for k, b := range l.buckets {
			if l.refill(b, now); b.tokens >= l.burst {
				delete(l.buckets, k)
			}
		}
	}
	if len(l.buckets) >= l.maxAddrs {
		return &l.overflow
	}
	b := &bucket{tokens: l.burst, last: now}
	l.buckets[key] = b
	return b
}

// take spends one attempt of key: ok, or how long until the next one.
func (l *loginLimiter) take(key string, now time.Time) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketFor(key, now)
	l.refill(b, now)
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	return true, 0
}

// refund gives key's attempt back (a successful login).
func (l *loginLimiter) refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = &l.overflow
	}
	b.tokens = math.Min(l.burst, b.tokens+1)
}

// tracked is the number of addresses in the table (tests).
func (l *loginLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
