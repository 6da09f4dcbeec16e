package limits

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkLocalAllow(b *testing.B) {
	for _, keys := range []int{1, 1000} {
		b.Run("keys="+strconv.Itoa(keys), func(b *testing.B) {
			l := NewLocal()
			ks := make([]Key, keys)
			for i := range ks {
				ks[i] = Key{Project: "bench-" + strconv.Itoa(i)}
			}
			r := PerMinute(1 << 30)
			var n atomic.Uint64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := int(n.Add(1))
				for pb.Next() {
					l.Allow(context.Background(), ks[i%keys], r)
					i++
				}
			})
		})
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	srv := startRedis(b)
	cfg := DefaultRedisConfig()
	cfg.Prefix = "bench:"
	cfg.Timeout = time.Second
	l, _ := newTestRedis(b, srv, cfg)
	r := PerMinute(1 << 30)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d := l.Allow(context.Background(), Key{Project: "bench"}, r); d.Degraded {
				b.Fatal("degraded")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow(context.Background(), Key{Project: "bench"}, r)
			}
		})
	})
}

func BenchmarkBreaker(b *testing.B) {
	bs, _ := NewBreakers(DefaultBreakerConfig())
	b.Run("allow+done/parallel", func(b *testing.B) {
		br := bs.For("bench-provider", "")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p, _ := br.Allow()
				p.Done(nil)
			}
		})
	})
	b.Run("for+allow+done/serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, _ := bs.For("bench-provider", "").Allow()
			p.Done(nil)
		}
	})
	b.Run("open/serial", func(b *testing.B) {
		br := bs.For("bench-open", "")
		for range 5 {
			p, _ := br.Allow()
			p.Done(err502)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.Allow(); err == nil {
				b.Fatal("not open")
			}
		}
	})
}

func BenchmarkRunFirstTry(b *testing.B) {
	bs, _ := NewBreakers(DefaultBreakerConfig())
	r, _ := NewRunner(DefaultRetryPolicy(), bs)
	targets := []Target{{"bench-run", "m"}}
	c := &okCaller{}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = r.Run(context.Background(), targets, c)
	}
}
