package limits

import (
	"context"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/aigateway/gateway/engine/redisconn"
)

// Through Sentinel (redis+sentinel://), two replicas share one limit; while
// the primary is down they decide locally; after the failover they share
// the limit again on the promoted replica.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	sn := redistest.StartSentinel(t)
	cfg := testRedisConfig(t)
	open := func() *Redis {
		to := cfg.Timeout
		c, err := redisconn.Open(sn.URL(), redisconn.Tuning{DialTimeout: to, ReadTimeout: to, WriteTimeout: to,
			PoolTimeout: to, MaxRetries: -1, DialerRetries: 1, ContextTimeout: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		l, err := NewRedis(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := open(), open()
	r := Rate{Limit: 10, Period: time.Hour}
	ctx := context.Background()
	share := func(key Key) int {
		admitted := 0
		for i := range 30 {
			l := a
			if i%2 == 1 {
				l = b
			}
			d := l.Allow(ctx, key, r)
			if d.Degraded {
				t.Fatalf("decision %d on %v degraded", i, key)
			}
			if d.Allowed {
				admitted++
			}
		}
		return admitted
	}
	if n := share(Key{Project: "before"}); n != r.Limit {
		t.Fatalf("before the failover: %d admitted, want %d", n, r.Limit)
	}

	old := sn.Master.Addr()
	sn.Master.Stop()
	if d := a.Allow(ctx, Key{Project: "during"}, r); !d.Allowed {
		t.Fatalf("during the failover: %+v", d) // locally, or on the new primary
	}
	sn.WaitFailover(t, old)

	deadline := time.Now().Add(30 * time.Second)
	for _, l := range []*Redis{a, b} {
		for l.Allow(ctx, Key{Project: "probe"}, PerMinute(1<<20)).Degraded {
			if time.Now().After(deadline) {
				t.Fatal("the limiter stays on its local fallback after the failover")
			}
			time.Sleep(cfg.RetryInterval)
		}
	}
	if n := share(Key{Project: "after"}); n != r.Limit {
		t.Fatalf("after the failover: %d admitted, want %d", n, r.Limit)
	}
}
