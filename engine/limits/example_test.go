package limits_test

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/providers"
)

// flaky fails its first calls with a 503, like an overloaded upstream.
type flaky struct {
	name  string
	fails int
}

func (f *flaky) Name() string { return f.name }

func (f *flaky) Chat(ctx context.Context, call *providers.Call) (*providers.Response, error) {
	if f.fails > 0 {
		f.fails--
		return nil, &providers.UpstreamError{Status: 503, Type: "upstream_error", Message: "overloaded"}
	}
	r := providers.NewResponse(nil)
	r.Body = []byte(`{"model":"` + call.Model + `"}`)
	return r, nil
}

// exchange stands for the engine's per-request state. A pointer type that
// implements Caller costs no allocation per Run, unlike a closure.
type exchange struct {
	upstreams map[string]providers.Provider
	call      providers.Call
	resp      *providers.Response
}

// Call makes one attempt. For a stream, Chat returns once the upstream has
// answered 200 and before anything reaches the client, so a failed stream
// start is retried like any other call.
func (x *exchange) Call(_ context.Context, a limits.Attempt) error {
	x.call.Model = a.Target.Model
	resp, err := x.upstreams[a.Target.Provider].Chat(context.Background(), &x.call)
	if err != nil {
		return err
	}
	x.resp = resp
	return nil
}

func ExampleRunner_Run() {
	breakers, _ := limits.NewBreakers(limits.DefaultBreakerConfig())
	policy := limits.DefaultRetryPolicy() // 3 attempts per target
	policy.BaseDelay, policy.MaxDelay = time.Millisecond, time.Millisecond
	runner, _ := limits.NewRunner(policy, breakers)

	x := &exchange{
		upstreams: map[string]providers.Provider{
			"example-primary": &flaky{name: "example-primary", fails: 5},
			"example-backup":  &flaky{name: "example-backup", fails: 1},
		},
		call: providers.Call{Req: &providers.Request{}},
	}
	targets := []limits.Target{
		{Provider: "example-primary", Model: "big"},  // the requested model
		{Provider: "example-backup", Model: "small"}, // its fallback
	}
	a, err := runner.Run(context.Background(), targets, x)
	fmt.Println(a.Target, "try", a.Try, err, string(x.resp.Body))
	// Output: example-backup/small try 1 <nil> {"model":"small"}
}

func ExampleLimiter() {
	var lim limits.Limiter = limits.NewLocal() // or limits.NewRedis(client, cfg)
	rate := limits.PerMinute(2)                // RATE_LIMIT_RPM=2
	for range 3 {
		d := lim.Allow(context.Background(), limits.Key{Project: "example"}, rate)
		if !d.Allowed {
			fmt.Println("429 Retry-After:", d.RetryAfterSeconds())
			continue
		}
		fmt.Println("allowed, X-RateLimit-Remaining:", strconv.Itoa(d.Remaining))
	}
	// Output:
	// allowed, X-RateLimit-Remaining: 1
	// allowed, X-RateLimit-Remaining: 0
	// 429 Retry-After: 30
}
