package limits

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// TokenCounter counts a project's tokens over a sliding minute, for
// tokens-per-minute limits: a request is admitted while the last minute's
// tokens are under the limit, and adds its real tokens when it ends. The
// window is two fixed minutes, the previous one weighted by how much of it
// the sliding minute still covers (the approximation Cloudflare and nginx
// use; it never undercounts a steady rate by more than one minute's
// fluctuation).
//
// Requests in flight are not counted until they end, so a burst of
// concurrent requests can overshoot the limit by their own tokens.
type TokenCounter interface {
	// Used estimates the tokens of the minute ending at now.
	Used(ctx context.Context, key string, now time.Time) int64
	// Add counts n tokens at now.
	Add(ctx context.Context, key string, n int64, now time.Time)
}

var (
	_ TokenCounter = (*LocalTokens)(nil)
	_ TokenCounter = (*RedisTokens)(nil)
)

// LocalTokens counts in process.
type LocalTokens struct {
	mu sync.Mutex
	m  map[string]*tokenWindow
}

type tokenWindow struct {
	minute    int64 // Unix minute of cur
	cur, prev int64
}

// NewLocalTokens returns an empty in-process counter.
func NewLocalTokens() *LocalTokens { return &LocalTokens{m: map[string]*tokenWindow{}} }

func (w *tokenWindow) roll(minute int64) {
	switch {
	case minute == w.minute:
	case minute == w.minute+1:
		w.minute, w.prev, w.cur = minute, w.cur, 0
	case minute > w.minute:
		w.minute, w.prev, w.cur = minute, 0, 0
	}
}

func slide(cur, prev int64, now time.Time) int64 {
	into := float64(now.UnixNano()%int64(time.Minute)) / float64(time.Minute)
	return cur + int64(float64(prev)*(1-into))
}

// Used implements TokenCounter.
func (l *LocalTokens) Used(_ context.Context, key string, now time.Time) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	if w == nil {
		return 0
	}
	w.roll(now.Unix() / 60)
	return slide(w.cur, w.prev, now)
}

// Add implements TokenCounter.
func (l *LocalTokens) Add(_ context.Context, key string, n int64, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[key]
	if w == nil {
		if len(l.m) > 100_000 {
			clear(l.m) // bound memory; forgetting costs at most a minute of counts
		}
		w = &tokenWindow{minute: now.Unix() / 60}
		l.m[key] = w
	}
	w.roll(now.Unix() / 60)
	w.cur += n
}

// RedisTokens counts in Redis, shared by every replica: one counter per key
// and minute (gw:tpm:{key}:{minute}, expiring after two minutes). Adds are
// sent by a background goroutine, off the request path; when Redis fails,
// the in-process count decides.
type RedisTokens struct {
	rdb   redis.UniversalClient
	local *LocalTokens
	adds  chan tokenAdd
	stop  chan struct{}
	once  sync.Once
}

type tokenAdd struct {
	key string
	n   int64
	at  time.Time
}

// NewRedisTokens returns a Redis-backed counter; its goroutine lives as long
// as the process.
func NewRedisTokens(rdb redis.UniversalClient) *RedisTokens {
	r := &RedisTokens{rdb: rdb, local: NewLocalTokens(), adds: make(chan tokenAdd, 4096), stop: make(chan struct{})}
	go r.run()
	return r
}

func tpmKey(key string, minute int64) string {
	return "gw:tpm:{" + key + "}:" + strconv.FormatInt(minute, 10)
}

// Used implements TokenCounter.
func (r *RedisTokens) Used(ctx context.Context, key string, now time.Time) int64 {
	m := now.Unix() / 60
	vals, err := r.rdb.MGet(ctx, tpmKey(key, m), tpmKey(key, m-1)).Result()
	if err != nil || len(vals) != 2 {
		return r.local.Used(ctx, key, now)
	}
	num := func(v any) int64 {
		s, _ := v.(string)
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	return slide(num(vals[0]), num(vals[1]), now)
}

// Add implements TokenCounter.
func (r *RedisTokens) Add(ctx context.Context, key string, n int64, now time.Time) {
	r.local.Add(ctx, key, n, now)
	select {
	case <-r.stop:
	case r.adds <- tokenAdd{key: key, n: n, at: now}:
	default: // Redis is not keeping up: the local count still holds it
	}
}

// Close stops the background goroutine; later Adds count locally only.
func (r *RedisTokens) Close() { r.once.Do(func() { close(r.stop) }) }

func (r *RedisTokens) run() {
	for {
		var a tokenAdd
		select {
		case <-r.stop:
			return
		case a = <-r.adds:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		k := tpmKey(a.key, a.at.Unix()/60)
		pipe := r.rdb.Pipeline()
		pipe.IncrBy(ctx, k, a.n)
		pipe.Expire(ctx, k, 2*time.Minute+5*time.Second)
		_, _ = pipe.Exec(ctx)
		cancel()
	}
}
