package semantic

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/redistest"

	"github.com/redis/go-redis/v9"
)

// redisServer adapts the shared real-redis-server helper to this package's
// tests.
type redisServer struct{ *redistest.Server }

func startRedis(t testing.TB) *redisServer { return &redisServer{redistest.Start(t)} }

func (s *redisServer) url() string { return s.URL() }

func (s *redisServer) start() { s.Restart() }

func (s *redisServer) stop() { s.Stop() }

func (s *redisServer) client() *redis.Client { return s.Client() }

// testTimeout replaces the 50ms default: the tests share a loaded machine,
// and a slow round trip would open the back-off and read as a miss.
const testTimeout = 2 * time.Second

func flush(t testing.TB, c *Cache) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRedisSharedByInstances: a second instance (another replica, or this
// one after a restart) finds what the first stored, by loading the scope
// on its local miss; tenants and scopes stay apart; a purge reaches Redis.
func TestRedisSharedByInstances(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	ctx := context.Background()
	first := newTestCache(t, Config{Timeout: testTimeout, RedisURL: srv.url()})
	stored := turn(t, "You are terse.", "How do I enable logging in main.go?")
	if err := first.Store(ctx, stored, "acme", "openai", "gpt-4o", answer(t, "Call log.SetOutput.")); err != nil {
		t.Fatal(err)
	}
	flush(t, first)
	if st := first.Stats(); st.Redis == nil || st.Redis.Stores != 1 || !st.Redis.Healthy {
		t.Fatalf("first: %+v", st.Redis)
	}

	second := newTestCache(t, Config{Timeout: testTimeout, RedisURL: srv.url()})
	e, sim, ok := second.Lookup(ctx, turn(t, "You are terse.", "how do I enable logging in main.go"), "acme", "openai", "gpt-4o")
	if !ok || string(e.Content) != "Call log.SetOutput." || sim < DefaultThreshold {
		t.Fatalf("second instance: ok=%v sim=%v", ok, sim)
	}
	if e.Usage.CompletionTokens != 34 || e.Model != "gpt-4o" || e.Project != "acme" {
		t.Errorf("entry after Redis: %+v", e)
	}
	st := second.Stats()
	if st.Redis.Loads != 1 || st.Redis.Loaded != 1 || st.Entries != 1 {
		t.Errorf("second: %+v / %+v", st, st.Redis)
	}
	// Now local: no further load for this scope.
	second.Lookup(ctx, turn(t, "You are terse.", "How do I enable logging in main.go?"), "acme", "openai", "gpt-4o")
	if n := second.Stats().Redis.Loads; n != 1 {
		t.Errorf("%d loads after a local hit", n)
	}
	// Near misses stay misses after a load; other tenants and scopes see nothing.
	for name, probe := range map[string]func() bool{
		"disable": func() bool {
			_, _, ok := second.Lookup(ctx, turn(t, "You are terse.", "How do I disable logging in main.go?"), "acme", "openai", "gpt-4o")
			return ok
		},
		"other tenant": func() bool {
			_, _, ok := second.Lookup(ctx, stored, "globex", "openai", "gpt-4o")
			return ok
		},
		"other system prompt": func() bool {
			_, _, ok := second.Lookup(ctx, turn(t, "You are verbose.", "How do I enable logging in main.go?"), "acme", "openai", "gpt-4o")
			return ok
		},
	} {
		if probe() {
			t.Errorf("%s: hit", name)
		}
	}

	// Keys follow the documented layout.
	rc := srv.client()
	defer rc.Close()
	keys, err := rc.Keys(ctx, "gw:sem:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var idx, recs int
	for _, k := range keys {
		parts := strings.Split(k, ":")
		// The scope is a hash tag: {32 hex digits}.
		if len(parts) != 5 || parts[2] != "acme" || len(parts[3]) != 34 || parts[3][0] != '{' || parts[3][33] != '}' {
			t.Errorf("key %q", k)
		}
		if parts[4] == "idx" {
			idx++
		} else {
			recs++
			if ttl := rc.TTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
				t.Errorf("record TTL %v", ttl)
			}
		}
	}
	if idx != 1 || recs != 1 {
		t.Errorf("keys %v", keys)
	}

	got, err := second.Purge(ctx, "acme", "")
	if err != nil || got.Memory != 1 || got.Redis != 2 {
		t.Errorf("purge: %+v %v", got, err)
	}
	third := newTestCache(t, Config{Timeout: testTimeout, RedisURL: srv.url()})
	if _, _, ok := third.Lookup(ctx, stored, "acme", "openai", "gpt-4o"); ok {
		t.Error("hit after purge")
	}
}

// TestRedisRefresh: a scope already loaded is loaded again after
// RefreshInterval, so records other replicas store later are found.
func TestRedisRefresh(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	ctx := context.Background()
	a := newTestCache(t, Config{Timeout: testTimeout, RedisURL: srv.url()})
	b := newTestCache(t, Config{Timeout: testTimeout, RedisURL: srv.url(), RefreshInterval: time.Hour})
	now := time.Now()
	b.now = func() time.Time { return now }
	q := turn(t, "s", "what is a goroutine")
	if _, _, ok := b.Lookup(ctx, q, "p", "openai", "m"); ok {
		t.Fatal("hit in empty Redis")
	}
	_ = a.Store(ctx, q, "p", "openai", "m", answer(t, "x"))
	flush(t, a)
	if _, _, ok := b.Lookup(ctx, q, "p", "openai", "m"); ok {
		t.Fatal("reloaded within the refresh interval")
	}
	now = now.Add(2 * time.Hour)
	// The record expires in an hour: move a's clock as well, store again.
	a.now = b.now
	_ = a.Store(ctx, q, "p", "openai", "m", answer(t, "x"))
	flush(t, a)
	if _, _, ok := b.Lookup(ctx, q, "p", "openai", "m"); !ok {
		t.Fatal("not reloaded after the refresh interval")
	}
}

// TestRedisDown: with Redis unreachable, killed or corrupt, lookups miss
// quickly, stores succeed in memory, and the tier recovers by itself.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "redis://" + l.Addr().String() + "/0"
	l.Close()
	c := newTestCache(t, Config{Timeout: testTimeout, RedisURL: dead, RefreshInterval: time.Nanosecond, RedisBackoff: 50 * time.Millisecond})
	q := turn(t, "s", "what is a goroutine")
	for range 5 {
		t0 := time.Now()
		if _, _, ok := c.Lookup(ctx, q, "p", "openai", "m"); ok {
			t.Fatal("hit")
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("a lookup with Redis down took %v", d)
		}
	}
	if err := c.Store(ctx, q, "p", "openai", "m", answer(t, "x")); err != nil {
		t.Fatalf("store with Redis down: %v", err)
	}
	if _, _, ok := c.Lookup(ctx, q, "p", "openai", "m"); !ok {
		t.Fatal("the memory tier lost the record")
	}
	st := c.Stats()
	if st.Redis.Healthy || st.Redis.Errors == 0 || st.Redis.Skipped == 0 {
		t.Errorf("redis stats %+v", st.Redis)
	}

	// Killed and restarted: the tier comes back without a restart.
	srv := startRedis(t)
	c = newTestCache(t, Config{Timeout: testTimeout, RedisURL: srv.url(), RefreshInterval: time.Nanosecond, RedisBackoff: 20 * time.Millisecond, RedisMaxBackoff: 40 * time.Millisecond})
	srv.stop()
	other := turn(t, "s2", "what is a channel")
	c.Lookup(ctx, other, "p", "openai", "m")
	if c.Stats().Redis.Healthy {
		t.Fatal("healthy with Redis killed")
	}
	srv.start()
	w := newTestCache(t, Config{Timeout: testTimeout, RedisURL: srv.url()})
	_ = w.Store(ctx, other, "p", "openai", "m", answer(t, "y"))
	flush(t, w)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, ok := c.Lookup(ctx, other, "p", "openai", "m"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery: %+v", c.Stats().Redis)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A corrupt record is skipped, not served.
	rc := srv.client()
	defer rc.Close()
	keys := rc.Keys(ctx, "gw:sem:p:*").Val()
	for _, k := range keys {
		if !strings.HasSuffix(k, ":idx") {
			rc.Set(ctx, k, "garbage", time.Hour)
		}
	}
	fresh := newTestCache(t, Config{Timeout: testTimeout, RedisURL: srv.url()})
	if _, _, ok := fresh.Lookup(ctx, other, "p", "openai", "m"); ok {
		t.Error("hit on a corrupt record")
	}
	if fresh.Stats().Redis.Errors == 0 {
		t.Error("corrupt record not counted")
	}
}

// TestRedisScopeCap: the Redis index keeps at most MaxEntriesPerScope ids.
func TestRedisScopeCap(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	ctx := context.Background()
	c := newTestCache(t, Config{Timeout: testTimeout, RedisURL: srv.url(), MaxEntriesPerScope: 3})
	for i := range 6 {
		_ = c.Store(ctx, turn(t, "s", "question "+strconv.Itoa(i)), "p", "openai", "m", answer(t, "x"))
	}
	flush(t, c)
	rc := srv.client()
	defer rc.Close()
	for _, k := range rc.Keys(ctx, "gw:sem:p:*:idx").Val() {
		if n := rc.ZCard(ctx, k).Val(); n != 3 {
			t.Errorf("index holds %d ids, want 3", n)
		}
	}
}
