package limits

import (
	"context"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/aigateway/gateway/engine/redisconn"
	"github.com/redis/go-redis/v9"
)

// clusterLimiter is a replica's limiter on a Redis Cluster, with the
// gateway's client tuning (engine/reliability.go) and cfg's timeouts.
func clusterLimiter(t *testing.T, rc *redistest.Cluster, cfg RedisConfig) *Redis {
	t.Helper()
	to := cfg.Timeout
	c, err := redisconn.Open(rc.URL(), redisconn.Tuning{DialTimeout: to, ReadTimeout: to, WriteTimeout: to,
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

// keyOn returns a project whose limiter key lives on node (by slot).
func keyOn(t *testing.T, l *Redis, cc *redis.ClusterClient, node string) Key {
	t.Helper()
	ctx := context.Background()
	for i := range 10000 {
		k := Key{Project: "p" + string(rune('a'+i%26)) + time.Duration(i).String()}
		slot, err := cc.ClusterKeySlot(ctx, l.redisKey(k)).Result()
		if err != nil {
			t.Fatal(err)
		}
		slots, err := cc.ClusterSlots(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range slots {
			if int64(s.Start) <= slot && slot <= int64(s.End) && s.Nodes[0].Addr == node {
				return k
			}
		}
	}
	t.Fatal("no key on " + node)
	return Key{}
}

// A replica whose limiter fell back to local decisions while a master was
// down goes back to Redis once the master is back, and two replicas then
// share one limit again.
func TestRedisClusterMasterRestartReturnsToRedis(t *testing.T) {
	t.Parallel()
	rc := redistest.StartCluster(t, 3)
	cfg := testRedisConfig(t)
	a, b := clusterLimiter(t, rc, cfg), clusterLimiter(t, rc, cfg)
	cc := rc.Client()
	defer cc.Close()
	down := rc.Nodes[2]
	key := keyOn(t, a, cc, down.Addr())
	r := Rate{Limit: 10, Period: time.Hour}
	ctx := context.Background()
	if d := a.Allow(ctx, key, r); d.Degraded || !d.Allowed {
		t.Fatalf("before: %+v", d)
	}

	down.Stop()
	for range 5 {
		if d := a.Allow(ctx, key, r); !d.Degraded {
			t.Fatalf("master down, decision not degraded: %+v", d)
		}
		b.Allow(ctx, key, r)
	}
	down.Restart() // empty: the key's state is gone with it
	rc.WaitOK(t)

	// Back on Redis within a few retry intervals (the probe), for both.
	deadline := time.Now().Add(30 * time.Second)
	for _, l := range []*Redis{a, b} {
		for l.Allow(ctx, Key{Project: "probe"}, r).Degraded || l.Allow(ctx, key, Rate{Limit: 1 << 20, Period: time.Hour}).Degraded {
			if time.Now().After(deadline) {
				t.Fatal("the limiter stays on its local fallback after the master is back")
			}
			time.Sleep(cfg.RetryInterval)
		}
	}
	// One shared limit again: a fresh key, 10 through two replicas.
	fresh := keyOn(t, a, cc, down.Addr())
	fresh.Client = "after"
	admitted := 0
	for i := range 30 {
		l := a
		if i%2 == 1 {
			l = b
		}
		d := l.Allow(ctx, fresh, r)
		if d.Degraded {
			t.Fatalf("decision %d degraded after recovery", i)
		}
		if d.Allowed {
			admitted++
		}
	}
	if admitted != r.Limit {
		t.Fatalf("two replicas admitted %d, want %d", admitted, r.Limit)
	}
}
