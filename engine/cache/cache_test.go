package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
)

func newCache(t testing.TB, cfg Config) *Cache {
	t.Helper()
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 8
	}
	if cfg.MemoryMB < 0 {
		cfg.MemoryMB = 0
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func flush(t testing.TB, c *Cache) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func textEntry(t testing.TB) *Entry { return rebuild(t, goldenEntries()["text"]) }

func mustGet(t *testing.T, c *Cache, k Key, wantTier string) *Entry {
	t.Helper()
	e, tier := c.Get(&k)
	if tier != wantTier || (wantTier != "") != (e != nil) {
		t.Fatalf("Get: tier %q (entry %v), want %q", tier, e != nil, wantTier)
	}
	return e
}

func TestMemoryTier(t *testing.T) {
	t.Parallel()
	for _, hot := range []int{0, -1} {
		t.Run(fmt.Sprintf("hot=%d", hot), func(t *testing.T) {
			t.Parallel()
			c := newCache(t, Config{HotEntries: hot})
			k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
			mustGet(t, c, k, "")
			if err := c.Set(&k, textEntry(t), time.Minute); err != nil {
				t.Fatal(err)
			}
			e := mustGet(t, c, k, TierMemory)
			sameAnswer(t, e, textEntry(t))
			if e.Project != "acme" || e.Provider != "openai" || e.UpstreamModel != "gpt-4o" {
				t.Fatalf("namespace %q %q %q", e.Project, e.Provider, e.UpstreamModel)
			}
			mustGet(t, c, k, TierMemory) // from the hot set when enabled
			s := c.Stats()
			if s.Memory.Hits != 2 || s.Memory.Misses != 1 || s.Memory.Stores != 1 || s.Memory.Entries != 1 {
				t.Fatalf("stats %+v", s.Memory)
			}
		})
	}
}

func TestMemoryExpiry(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	e := textEntry(t)
	// Store an entry that expired a second ago, in both bigcache and the
	// hot set.
	past := time.Now().Unix() - 1
	stored := appendStored(nil, e, &k, past, 0)
	h := *e
	h.sum, h.Expires = k.Sum, past
	if err := c.mem.set(string(appendStoreKey(nil, &k)), stored, &h); err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, k, "")
	if c.mem.bc.Len() != 0 {
		t.Fatal("the expired entry is still in bigcache")
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	a := newCache(t, Config{RedisURL: r.url()})
	b := newCache(t, Config{RedisURL: r.url()})
	ka := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	kb := keyOf(t, baseReq, "globex", "openai", "gpt-4o")
	if err := a.Set(&ka, textEntry(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	flush(t, a)
	mustGet(t, a, kb, "") // same process, other project
	mustGet(t, b, kb, "") // other replica, other project
	mustGet(t, b, ka, TierRedis)
}

func TestNotStored(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{Policy: Policy{MaxEntryBytes: 100, SkipToolCalls: true}})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	for name, tt := range map[string]struct {
		e    *Entry
		want error
	}{
		"too large":      {textEntry(t), ErrTooLarge},
		"tool calls":     {rebuild(t, &Entry{Model: "m", ToolCalls: []providers.ToolCall{{ID: "1", Name: "f", Arguments: "{}"}}, Finish: "tool_calls"}), errSkipToolCalls},
		"content_filter": {rebuild(t, &Entry{Model: "m", Content: []byte("x"), Finish: "content_filter"}), errFinish},
	} {
		if err := c.Set(&k, tt.e, time.Minute); !errors.Is(err, tt.want) {
			t.Errorf("%s: Set = %v, want %v", name, err, tt.want)
		}
	}
	mustGet(t, c, k, "")
	if got := c.Stats().NotStored; got != 3 {
		t.Fatalf("not stored = %d", got)
	}
}

// TestTwoTiersAndPromotion: two caches sharing one Redis, as two gateway
// replicas do: what one stores, the other finds in Redis and promotes to its
// memory tier.
func TestTwoTiersAndPromotion(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	first := newCache(t, Config{RedisURL: r.url()})
	second := newCache(t, Config{RedisURL: r.url()})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	// A long entry, so that the stored value is compressed.
	long := rebuild(t, &Entry{Model: "gpt-4o", Created: 1, Content: []byte(goldenEntries()["text"].Content), Finish: "stop"})
	if err := first.Set(&k, long, time.Minute); err != nil {
		t.Fatal(err)
	}
	flush(t, first)
	mustGet(t, first, k, TierMemory)
	e := mustGet(t, second, k, TierRedis)
	sameAnswer(t, e, long)
	e = mustGet(t, second, k, TierMemory) // promoted
	sameAnswer(t, e, long)
	if s := second.Stats(); s.Redis.Hits != 1 || s.Memory.Hits != 1 || s.Memory.Stores != 0 || s.Memory.Entries != 1 {
		t.Fatalf("second: memory %+v redis %+v", *s.Memory, *s.Redis)
	}
	// Redis alone (memory_mb = 0) works too.
	redisOnly := newCache(t, Config{RedisURL: r.url(), MemoryMB: -1})
	mustGet(t, redisOnly, k, TierRedis)
	mustGet(t, redisOnly, k, TierRedis)
	// The stored key is namespaced and carries a TTL.
	rc := r.client()
	defer rc.Close()
	key := string(appendStoreKey(nil, &k))
	if key != "gw:cache:acme:openai/gpt-4o:"+k.Hex() {
		t.Fatalf("store key %q", key)
	}
	ttl, err := rc.TTL(context.Background(), key).Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL %v, %v", ttl, err)
	}
}

// TestRedisFlushed: a FLUSHALL reads as misses, never as errors.
func TestRedisFlushed(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	c := newCache(t, Config{RedisURL: r.url(), MemoryMB: -1})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	if err := c.Set(&k, textEntry(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	mustGet(t, c, k, TierRedis)
	rc := r.client()
	defer rc.Close()
	if err := rc.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, k, "")
	if s := c.Stats(); s.Redis.Errors != 0 || !s.Redis.Healthy {
		t.Fatalf("redis %+v", *s.Redis)
	}
}

// TestRedisSlow: a Redis that stops answering (DEBUG SLEEP) costs one
// timeout, then is skipped, and comes back by itself.
func TestRedisSlow(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	c := newCache(t, Config{RedisURL: r.url(), MemoryMB: -1, RedisBackoff: 200 * time.Millisecond})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	mustGet(t, c, k, "") // connects
	rc := r.client()
	defer rc.Close()
	// CLIENT PAUSE holds every other client's commands, as a Redis busy
	// with a slow script or a fork would.
	if err := rc.Do(context.Background(), "CLIENT", "PAUSE", "800", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, k, "") // times out
	mustGet(t, c, k, "") // skipped
	s := c.Stats()
	if s.Redis.Healthy || s.Redis.Errors == 0 || s.Redis.Skipped == 0 {
		t.Fatalf("after a stall: %+v", *s.Redis)
	}
	waitHealthy(t, c, k)
}

// waitHealthy keeps reading until the back-off ends and a probe succeeds.
func waitHealthy(t *testing.T, c *Cache, k Key) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !c.Stats().Redis.Healthy {
		if time.Now().After(deadline) {
			t.Fatalf("the Redis tier did not recover: %+v", *c.Stats().Redis)
		}
		c.Get(&k)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisKilledMidLoad: Redis is killed and restarted while a bounded load
// runs through Do; no call fails or stalls, and the tier recovers.
func TestRedisKilledMidLoad(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	c := newCache(t, Config{RedisURL: r.url(), RedisBackoff: 100 * time.Millisecond, RedisMaxBackoff: 400 * time.Millisecond})
	// A second replica without a memory tier, so that every one of its
	// calls goes to Redis.
	c2 := newCache(t, Config{RedisURL: r.url(), MemoryMB: -1, RedisBackoff: 100 * time.Millisecond, RedisMaxBackoff: 400 * time.Millisecond})
	d := Decision{Cache: true, TTL: time.Minute}
	entry := textEntry(t)
	var calls, failures, ops atomic.Int64
	var slowest atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		c := c
		if w%2 == 1 {
			c = c2
		}
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// A few hundred distinct keys: hits and misses in both tiers.
				k := keyOf(t, baseReq, fmt.Sprintf("p%d", (i*7+w)%300), "openai", "gpt-4o")
				t0 := time.Now()
				e, _, err := c.Do(k, d, Use, func() (*Entry, error) { calls.Add(1); return entry, nil })
				if el := time.Since(t0); el > time.Duration(slowest.Load()) {
					slowest.Store(int64(el))
				}
				ops.Add(1)
				time.Sleep(50 * time.Microsecond) // a bounded load, not a CPU burner
				if err != nil || e == nil {
					failures.Add(1)
				}
				if i%500 == 0 {
					_, _ = c.Purge(context.Background(), fmt.Sprintf("p%d", i%300), "")
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	r.stop()
	time.Sleep(500 * time.Millisecond)
	r.start()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d calls failed", failures.Load(), ops.Load())
	}
	// A stall detector, not a latency assertion: with a 50ms timeout nothing
	// should come near a second.
	if s := time.Duration(slowest.Load()); s > 2*time.Second {
		t.Fatalf("a call took %v", s)
	}
	s := c2.Stats()
	if s.Redis.Errors == 0 || s.Redis.Skipped == 0 {
		t.Fatalf("the outage went unnoticed: %+v", *s.Redis)
	}
	// Recovery: the tier comes back, and a second replica reads what this
	// one stores.
	k := keyOf(t, baseReq, "after", "openai", "gpt-4o")
	waitHealthy(t, c, k)
	if err := c.Set(&k, entry, time.Minute); err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	other := newCache(t, Config{RedisURL: r.url()})
	mustGet(t, other, k, TierRedis)
	t.Logf("%d calls, %d upstream, redis %+v, slowest %v", ops.Load(), calls.Load(), *s.Redis, time.Duration(slowest.Load()))
}

// TestRedisDownAtStart: an unreachable Redis never fails a request.
func TestRedisDownAtStart(t *testing.T) {
	t.Parallel()
	c := newCache(t, Config{RedisURL: "redis://127.0.0.1:1/0"})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	mustGet(t, c, k, "")
	mustGet(t, c, k, "")
	if err := c.Set(&k, textEntry(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	flush(t, c)
	mustGet(t, c, k, TierMemory)
	if s := c.Stats(); s.Redis.Healthy || s.Redis.Skipped == 0 {
		t.Fatalf("redis %+v", *s.Redis)
	}
}

func TestPurge(t *testing.T) {
	t.Parallel()
	r := startRedis(t)
	// Seconds, not the default 50 ms: the test asserts that every write
	// reaches Redis, which a loaded -race run can delay past 50 ms (the tier
	// then drops the write, by design, and backs off).
	const timeout = 2 * time.Second
	c := newCache(t, Config{RedisURL: r.url(), RedisTimeout: timeout})
	type pk struct{ project, provider, model string }
	all := []pk{{"acme", "openai", "gpt-4o"}, {"acme", "anthropic", "claude-sonnet-4-0"}, {"globex", "openai", "gpt-4o"}, {"globex:x*", "ollama", "llama3:8b"}}
	keys := map[pk]Key{}
	fill := func() {
		for _, p := range all {
			k := keyOf(t, baseReq, p.project, p.provider, p.model)
			keys[p] = k
			if err := c.Set(&k, textEntry(t), time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		flush(t, c)
	}
	// present reports, per key, whether memory and Redis hold it.
	present := func() map[pk][2]bool {
		out := map[pk][2]bool{}
		fresh := newCache(t, Config{RedisURL: r.url(), MemoryMB: -1, RedisTimeout: timeout})
		for p, k := range keys {
			e1, _ := c.mem.get(&k, string(appendStoreKey(nil, &k)), time.Now().Unix())
			e2, _ := fresh.Get(&k)
			out[p] = [2]bool{e1 != nil, e2 != nil}
		}
		return out
	}
	tests := []struct {
		name, project, model string
		gone                 []pk
	}{
		{"by model", "", "openai/gpt-4o", []pk{all[0], all[2]}},
		{"by model with a colon", "", "ollama/llama3:8b", []pk{all[3]}},
		{"by project", "acme", "", []pk{all[0], all[1]}},
		{"by project with glob characters", "globex:x*", "", []pk{all[3]}},
		{"by project and model", "globex", "openai/gpt-4o", []pk{all[2]}},
		{"all", "", "", all},
	}
	for _, tt := range tests {
		fill()
		p, err := c.Purge(context.Background(), tt.project, tt.model)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if p.Memory != len(tt.gone) || p.Redis != len(tt.gone) {
			t.Errorf("%s: purged %+v, want %d each", tt.name, p, len(tt.gone))
		}
		got := present()
		for _, k := range all {
			want := true
			for _, g := range tt.gone {
				want = want && g != k
			}
			if got[k] != [2]bool{want, want} {
				t.Errorf("%s: %v present (memory, redis) = %v, want %v", tt.name, k, got[k], want)
			}
		}
	}
}
