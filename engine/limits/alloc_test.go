package limits

import (
	"context"
	"testing"
	"time"
)

// okCaller succeeds at once; a pointer type, so passing it as a Caller
// allocates nothing (as the engine's *exchange would).
type okCaller struct{ n int }

func (c *okCaller) Call(context.Context, Attempt) error { c.n++; return nil }

// TestHotPathAllocs: the limiter, breaker and retry runner allocate nothing
// per request in steady state.
func TestHotPathAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	local := NewLocal()
	bs, _ := NewBreakers(DefaultBreakerConfig())
	runner, _ := NewRunner(DefaultRetryPolicy(), bs)
	targets := []Target{{"alloc-provider", "m"}, {"alloc-fallback", "m"}}
	caller := &okCaller{}
	br := bs.For("alloc-provider", "m")
	allowKey, denyKey := Key{Project: "alloc", Client: "k"}, Key{Project: "alloc-denied"}
	local.Allow(ctx, allowKey, PerMinute(1<<30)) // create the keys first
	local.Allow(ctx, denyKey, Rate{Limit: 1, Period: time.Hour})
	tests := []struct {
		name string
		fn   func()
	}{
		{"Local.Allow allowed", func() { local.Allow(ctx, allowKey, PerMinute(1<<30)) }},
		{"Local.Allow denied", func() { local.Allow(ctx, denyKey, Rate{Limit: 1, Period: time.Hour}) }},
		{"Breaker.Allow and Done", func() {
			p, _ := br.Allow()
			p.Done(nil)
		}},
		{"Breaker.Done neutral", func() {
			p, _ := br.Allow()
			p.Done(err400)
		}},
		{"Breakers.For", func() { bs.For("alloc-provider", "m") }},
		{"Runner.Run first try", func() { _, _ = runner.Run(ctx, targets, caller) }},
		{"Classify upstream error", func() { Classify(err502) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.fn); n != 0 {
				t.Fatalf("%v allocations per call, want 0", n)
			}
		})
	}
}
