package cache

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/redistest"
)

// TestRedisSentinelFailover: the shared tier through Sentinel
// (redis+sentinel://) keeps answering while the primary is killed and the
// replica promoted, and two replicas share entries again on the new
// primary.
func TestRedisSentinelFailover(t *testing.T) {
	t.Parallel()
	sn := redistest.StartSentinel(t)
	// Loopback, but -race on shared, busy cores can exceed the default
	// 50 ms; a dead primary refuses connections at once anyway.
	cfg := Config{RedisURL: sn.URL(), RedisTimeout: time.Second, RedisBackoff: 100 * time.Millisecond, RedisMaxBackoff: 400 * time.Millisecond}
	c := newCache(t, cfg)
	cfg.MemoryMB = -1 // every call of the second replica goes to Redis
	c2 := newCache(t, cfg)
	entry := textEntry(t)
	k := keyOf(t, baseReq, "before", "openai", "gpt-4o")
	if err := c.Set(&k, entry, time.Minute); err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	mustGet(t, c2, k, TierRedis)

	// A bounded load on both replicas through the failover.
	d := Decision{Cache: true, TTL: time.Minute}
	var ops, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, cc := range []*Cache{c, c2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := keyOf(t, baseReq, fmt.Sprintf("p%d", (i*7+w)%100), "openai", "gpt-4o")
				e, _, err := cc.Do(k, d, Use, func() (*Entry, error) { return entry, nil })
				ops.Add(1)
				if err != nil || e == nil {
					failures.Add(1)
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	old := sn.Master.Addr()
	sn.Master.Stop()
	primary := sn.WaitFailover(t, old)
	time.Sleep(300 * time.Millisecond) // load on the new primary
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d calls failed during the failover", failures.Load(), ops.Load())
	}
	if primary != sn.Replica.Addr() {
		t.Fatalf("new primary %s, want the replica %s", primary, sn.Replica.Addr())
	}

	// Both replicas follow the new primary: what one stores, the other
	// reads from Redis.
	after := keyOf(t, baseReq, "after", "openai", "gpt-4o")
	waitHealthy(t, c, after)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := c.Set(&after, entry, time.Minute); err != nil {
			t.Fatal(err)
		}
		flush(t, c)
		if e, tier := c2.Get(&after); e != nil && tier == TierRedis {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second replica does not read the first one's entry from the new primary: %+v", *c2.Stats().Redis)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rc := sn.Replica.Client()
	defer rc.Close()
	if n, err := rc.DBSize(t.Context()).Result(); err != nil || n == 0 {
		t.Fatalf("the new primary holds %d keys (%v)", n, err)
	}
}
