package limits

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/redistest"

	"github.com/redis/go-redis/v9"
)

// redisServer adapts the shared real-redis-server helper to this package's
// tests.
type redisServer struct{ *redistest.Server }

func startRedis(t testing.TB) *redisServer { return &redisServer{redistest.Start(t)} }

func (s *redisServer) addr() string { return s.Addr() }

func (s *redisServer) start() { s.Restart() }

func (s *redisServer) kill() { s.Stop() }

func (s *redisServer) signal(sig syscall.Signal) { s.Signal(sig) }

func newTestRedis(t testing.TB, srv *redisServer, cfg RedisConfig) (*Redis, *redis.Client) {
	t.Helper()
	opt, err := RedisOptions("redis://"+srv.addr()+"/0", cfg.Timeout)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	l, err := NewRedis(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

func testRedisConfig(t testing.TB) RedisConfig {
	cfg := DefaultRedisConfig()
	cfg.Prefix = "test:" + t.Name() + ":"
	cfg.Timeout = 500 * time.Millisecond // loopback, but -race and shared CPUs are slow
	cfg.RetryInterval = 20 * time.Millisecond
	return cfg
}

func TestRedisTwoReplicasShareOneLimit(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	cfg := testRedisConfig(t)
	a, client := newTestRedis(t, srv, cfg)
	b, _ := newTestRedis(t, srv, cfg)
	r := Rate{Limit: 10, Period: time.Hour} // nothing replenishes during the test
	key := Key{Project: "shared"}
	allowed := 0
	for i := range 30 {
		l := a
		if i%2 == 1 {
			l = b
		}
		d := l.Allow(context.Background(), key, r)
		if d.Degraded {
			t.Fatalf("request %d decided without Redis", i)
		}
		if d.Allowed {
			allowed++
			if d.Remaining != 10-allowed {
				t.Fatalf("request %d: Remaining %d, want %d", i, d.Remaining, 10-allowed)
			}
			continue
		}
		if d.RetryAfter <= 0 || d.RetryAfter > 6*time.Minute || d.Remaining != 0 || d.Limit != 10 {
			t.Fatalf("request %d denied with %+v", i, d)
		}
	}
	if allowed != 10 {
		t.Fatalf("two replicas allowed %d requests together, want 10", allowed)
	}
	// Another project is untouched; the key expires once idle.
	if d := b.Allow(context.Background(), Key{Project: "other"}, r); !d.Allowed || d.Remaining != 9 {
		t.Fatalf("another project: %+v", d)
	}
	ttl, err := client.PTTL(context.Background(), a.redisKey(key)).Result()
	if err != nil || ttl <= 0 || ttl > time.Hour+2*time.Second {
		t.Fatalf("PTTL = %v, %v; want the time until the allowance is full again", ttl, err)
	}
}

func TestRedisSurvivesScriptFlush(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	l, client := newTestRedis(t, srv, testRedisConfig(t))
	r := PerMinute(100)
	if d := l.Allow(context.Background(), Key{Project: "p"}, r); !d.Allowed || d.Degraded {
		t.Fatalf("%+v", d)
	}
	if err := client.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if d := l.Allow(context.Background(), Key{Project: "p"}, r); !d.Allowed || d.Degraded || d.Remaining != 98 {
		t.Fatalf("after SCRIPT FLUSH: %+v", d)
	}
}

func TestRedisKilledMidRun(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	l, _ := newTestRedis(t, srv, testRedisConfig(t))
	r := Rate{Limit: 5, Period: time.Hour}
	key := Key{Project: "outage"}
	for i := range 3 {
		if d := l.Allow(context.Background(), key, r); !d.Allowed || d.Degraded {
			t.Fatalf("request %d before the outage: %+v", i, d)
		}
	}
	// Other traffic keeps flowing while Redis dies and comes back.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var background atomic.Int64
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := Key{Project: "background", Client: strconv.Itoa(g)}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if d := l.Allow(context.Background(), k, PerMinute(1000)); d.Limit != 1000 {
					t.Errorf("background decision %+v", d)
					return
				}
				background.Add(1)
				time.Sleep(time.Millisecond)
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	fallback0, errors0 := rateLimitFallback.Get(), rateLimitRedisErrors.Get()
	srv.kill()
	// The replica counted the 3 requests Redis allowed, so alone it allows
	// the 2 left of the burst, not a fresh 5.
	for i, want := range []bool{true, true, false} {
		d := l.Allow(context.Background(), key, r)
		if !d.Degraded || d.Allowed != want {
			t.Fatalf("request %d during the outage: %+v, want allowed=%v degraded", i, d, want)
		}
	}
	if rateLimitFallback.Get() <= fallback0 || rateLimitRedisErrors.Get() <= errors0 {
		t.Fatal("the fallback and Redis error counters did not move")
	}

	srv.start() // empty: no persistence
	for i := 0; ; i++ {
		d := l.Allow(context.Background(), key, r)
		if !d.Degraded {
			if !d.Allowed || d.Remaining != 4 {
				t.Fatalf("first decision after recovery: %+v, want Redis's fresh allowance", d)
			}
			break
		}
		if i == 500 {
			t.Fatal("the limiter did not return to Redis within 10s of its restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if background.Load() == 0 {
		t.Fatal("background traffic did not run")
	}
}

func TestRedisStalledFallsBack(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	cfg := testRedisConfig(t)
	cfg.Timeout = 100 * time.Millisecond
	l, _ := newTestRedis(t, srv, cfg)
	r := PerMinute(100)
	key := Key{Project: "stall"}
	if d := l.Allow(context.Background(), key, r); d.Degraded {
		t.Fatalf("%+v", d)
	}
	srv.signal(syscall.SIGSTOP) // accepts nothing, answers nothing
	d := l.Allow(context.Background(), key, r)
	srv.signal(syscall.SIGCONT)
	if !d.Degraded || !d.Allowed {
		t.Fatalf("with Redis stalled: %+v, want a local decision", d)
	}
	for i := 0; ; i++ {
		if d := l.Allow(context.Background(), key, r); !d.Degraded {
			break
		}
		if i == 500 {
			t.Fatal("did not return to Redis after it resumed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRedisCallerGoneIsNotAnOutage(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	l, _ := newTestRedis(t, srv, testRedisConfig(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := l.Allow(ctx, Key{Project: "gone"}, PerMinute(10)); !d.Degraded {
		t.Fatalf("%+v: a canceled context cannot reach Redis", d)
	}
	if l.health.State() != Closed {
		t.Fatal("a caller's cancellation marked Redis as down")
	}
}

func TestRedisKeyIsUnambiguous(t *testing.T) {
	t.Parallel()
	l := &Redis{cfg: DefaultRedisConfig()}
	tests := []struct {
		a, b Key
	}{
		{Key{Project: "a:b"}, Key{Project: "a", Client: "b"}},
		{Key{Project: "a", Client: "b:"}, Key{Project: "a:b", Client: ""}},
		{Key{Project: "1:x"}, Key{Project: "1", Client: "x"}},
	}
	for _, tt := range tests {
		if l.redisKey(tt.a) == l.redisKey(tt.b) {
			t.Fatalf("%+v and %+v share the key %q", tt.a, tt.b, l.redisKey(tt.a))
		}
	}
	if got := l.redisKey(Key{Project: "proj", Client: "k"}); got != "gateway:ratelimit:4:proj:k" {
		t.Fatalf("redisKey = %q", got)
	}
}

func TestRedisConfigValidate(t *testing.T) {
	t.Parallel()
	if _, err := NewRedis(nil, RedisConfig{}); err == nil {
		t.Fatal("zero timeouts accepted")
	}
	if _, err := RedisOptions("not a url", time.Second); err == nil {
		t.Fatal("bad URL accepted")
	}
	opt, err := RedisOptions("redis://127.0.0.1:6379/2", 50*time.Millisecond)
	if err != nil || !opt.ContextTimeoutEnabled || opt.MaxRetries != -1 || opt.ReadTimeout != 50*time.Millisecond || opt.DB != 2 {
		t.Fatalf("RedisOptions = %+v, %v", opt, err)
	}
}

// The fallback starts from the fleet's usage: a replica that admitted
// half of a limit through Redis, the other half having gone through
// another replica, admits nothing more on its own when Redis dies.
func TestRedisFallbackStartsFromTheSharedState(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	cfg := testRedisConfig(t)
	a, _ := newTestRedis(t, srv, cfg)
	b, _ := newTestRedis(t, srv, cfg)
	r := Rate{Limit: 10, Period: time.Hour}
	key := Key{Project: "fleet"}
	for i := range 10 {
		l := a
		if i%2 == 1 {
			l = b
		}
		if d := l.Allow(context.Background(), key, r); !d.Allowed || d.Degraded {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	srv.kill()
	// a last heard from Redis before b's final request: it may admit that
	// one more; b none. Counting only their own traffic, each would
	// admit 5.
	admitted := 0
	for _, l := range []*Redis{a, b} {
		for range 5 {
			d := l.Allow(context.Background(), key, r)
			if !d.Degraded {
				t.Fatalf("during the outage: %+v", d)
			}
			if d.Allowed {
				admitted++
			}
		}
	}
	if admitted > 1 {
		t.Fatalf("the two replicas admitted %d on their own after the shared limit was spent, want at most 1", admitted)
	}
}

// failingScripter fails the next n script calls, as a Redis round trip
// slower than the timeout does.
type failingScripter struct {
	redis.Scripter
	n atomic.Int32
}

var errSlow = errors.New("i/o timeout")

func (f *failingScripter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	if f.n.Add(-1) >= 0 {
		return redis.NewCmdResult(nil, errSlow)
	}
	return f.Scripter.EvalSha(ctx, sha1, keys, args...)
}

func (f *failingScripter) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	if f.n.Load() >= 0 {
		return redis.NewCmdResult(nil, errSlow)
	}
	return f.Scripter.Eval(ctx, script, keys, args...)
}

// One or two failed round trips are decided locally, each on its own; the
// next decision goes to Redis again. Three in a row send the replica to
// its fallback for the retry interval.
func TestRedisIsolatedFailureStaysOnRedis(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	cfg := testRedisConfig(t)
	cfg.RetryInterval = time.Hour // once open, it stays open for the test
	_, client := newTestRedis(t, srv, cfg)
	fs := &failingScripter{Scripter: client}
	l, err := NewRedis(fs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	key, r := Key{Project: "isolated"}, PerMinute(1000)
	for _, tc := range []struct {
		name     string
		failures int32
		want     []bool // degraded, decision by decision
	}{
		{"one slow call", 1, []bool{true, false}},
		{"two slow calls", 2, []bool{true, true, false}},
		{"three: the fallback", 3, []bool{true, true, true, true}},
	} {
		fs.n.Store(tc.failures)
		for i, want := range tc.want {
			if d := l.Allow(context.Background(), key, r); d.Degraded != want {
				t.Fatalf("%s: decision %d degraded=%v, want %v", tc.name, i, d.Degraded, want)
			}
		}
	}
}
