package limits

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLocalWindow(t *testing.T) {
	t.Parallel()
	// A step is "+" (must be allowed), "-" (must be denied) or a duration
	// to wait; "+3" means three allowed requests in a row.
	tests := []struct {
		name  string
		rate  Rate
		steps []string
	}{
		{"60 rpm: a full minute's burst, then one per second", PerMinute(60),
			[]string{"+60", "-", "999ms", "-", "1ms", "+", "-", "1s", "+", "-"}},
		{"an idle minute restores the whole burst", PerMinute(60),
			[]string{"+60", "-", "60s", "+60", "-"}},
		{"half a minute restores half", PerMinute(60),
			[]string{"+60", "30s", "+30", "-"}},
		{"burst smaller than the rate", Rate{Limit: 60, Period: time.Minute, Burst: 5},
			[]string{"+5", "-", "1s", "+", "-", "10s", "+5", "-"}},
		{"denied requests cost nothing", PerMinute(2),
			[]string{"+2", "-", "-", "-", "-", "30s", "+", "-"}},
		{"over a long run the rate holds", PerMinute(6),
			[]string{"+6", "-", "10s", "+", "-", "10s", "+", "-", "10s", "+", "-", "5s", "-", "5s", "+"}},
		{"zero limit is unlimited", Rate{}, []string{"+1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			l := newLocal(clk.Now)
			key := Key{Project: "window-" + tt.name}
			for i, s := range tt.steps {
				switch s[0] {
				case '+':
					n := 1
					if len(s) > 1 {
						n, _ = strconv.Atoi(s[1:])
					}
					for j := range n {
						if d := l.Allow(context.Background(), key, tt.rate); !d.Allowed {
							t.Fatalf("step %d (%s), request %d denied: %+v", i, s, j, d)
						}
					}
				case '-':
					if d := l.Allow(context.Background(), key, tt.rate); d.Allowed {
						t.Fatalf("step %d allowed: %+v", i, d)
					}
				default:
					d, err := time.ParseDuration(s)
					if err != nil {
						t.Fatal(err)
					}
					clk.Advance(d)
				}
			}
		})
	}
}

func TestLocalDecisionFields(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	l := newLocal(clk.Now)
	key := Key{Project: "fields"}
	r := PerMinute(3) // one request costs 20s
	want := []Decision{
		{Allowed: true, Limit: 3, Remaining: 2, Reset: 20 * time.Second},
		{Allowed: true, Limit: 3, Remaining: 1, Reset: 40 * time.Second},
		{Allowed: true, Limit: 3, Remaining: 0, Reset: 60 * time.Second},
		{Allowed: false, Limit: 3, Remaining: 0, RetryAfter: 20 * time.Second, Reset: 60 * time.Second},
	}
	for i, w := range want {
		if d := l.Allow(context.Background(), key, r); d != w {
			t.Fatalf("request %d: %+v, want %+v", i, d, w)
		}
	}
	clk.Advance(5 * time.Second)
	d := l.Allow(context.Background(), key, r)
	if d.Allowed || d.RetryAfter != 15*time.Second || d.RetryAfterSeconds() != 15 || d.ResetSeconds() != 55 {
		t.Fatalf("after 5s: %+v", d)
	}
	clk.Advance(15 * time.Second)
	if d := l.Allow(context.Background(), key, r); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after the Retry-After: %+v", d)
	}
}

func TestLocalKeysAreIndependent(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	l := newLocal(clk.Now)
	r := PerMinute(1)
	keys := []Key{{Project: "p1"}, {Project: "p2"}, {Project: "p1", Client: "k1"}, {Project: "p1", Client: "k2"}}
	for _, k := range keys {
		if !l.Allow(context.Background(), k, r).Allowed {
			t.Fatalf("%+v: first request denied", k)
		}
	}
	for _, k := range keys {
		if l.Allow(context.Background(), k, r).Allowed {
			t.Fatalf("%+v: second request allowed", k)
		}
	}
}

func TestLocalSweepsIdleKeys(t *testing.T) {
	t.Parallel()
	sh := &shard{m: map[Key]*atomic.Int64{}}
	const now = 1000
	for i := range sweepAt {
		sh.add(Key{Client: strconv.Itoa(i)}, now) // tat 0: idle, full allowance
	}
	sh.add(Key{Client: "new"}, now)
	if len(sh.m) != 1 {
		t.Fatalf("%d keys after a sweep, want only the new one", len(sh.m))
	}
	// Active keys survive, and a shard full of them is not swept again
	// until it has doubled.
	for i := range sweepAt {
		k := Key{Client: "active" + strconv.Itoa(i)}
		sh.add(k, now)
		sh.m[k].Store(now + 1)
	}
	sh.add(Key{Client: "one more"}, now)
	if len(sh.m) != sweepAt+1 {
		t.Fatalf("%d keys, want the %d active ones and the new one", len(sh.m), sweepAt)
	}
	// The sweep at sweepAt keys dropped "new" and kept sweepAt-1 active.
	if sh.sweep != 2*(sweepAt-1) {
		t.Fatalf("next sweep at %d keys, want %d", sh.sweep, 2*(sweepAt-1))
	}
	// Through Allow, a swept key starts again with a full allowance, as if
	// it had been kept.
	clk := newFakeClock()
	l := newLocal(clk.Now)
	k := Key{Project: "sweep"}
	l.Allow(context.Background(), k, PerMinute(1))
	clk.Advance(time.Minute)
	for i := range l.shards {
		l.shards[i].m = map[Key]*atomic.Int64{}
	}
	if !l.Allow(context.Background(), k, PerMinute(1)).Allowed {
		t.Fatal("a forgotten idle key was denied")
	}
}

func TestLocalConcurrentExactBurst(t *testing.T) {
	t.Parallel()
	clk := newFakeClock() // frozen: nothing replenishes during the test
	l := newLocal(clk.Now)
	r := Rate{Limit: 100, Period: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if l.Allow(context.Background(), Key{Project: "concurrent"}, r).Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Fatalf("%d of 400 concurrent requests allowed, want exactly 100", n)
	}
}

func TestRateLimitedMetric(t *testing.T) {
	t.Parallel()
	l := newLocal(newFakeClock().Now)
	name := `gateway_rate_limited_total{project="metric-project"}`
	before := counter(name)
	for range 5 {
		l.Allow(context.Background(), Key{Project: "metric-project"}, PerMinute(2))
	}
	if got := counter(name) - before; got != 3 {
		t.Fatalf("gateway_rate_limited_total grew by %d, want 3", got)
	}
}

func TestRateValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Rate
		ok   bool
	}{
		{"per minute", PerMinute(60), true},
		{"unlimited", Rate{}, true},
		{"negative", Rate{Limit: -1, Period: time.Minute}, false},
		{"no period", Rate{Limit: 1}, false},
		{"negative burst", Rate{Limit: 1, Period: time.Second, Burst: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.r.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
}
