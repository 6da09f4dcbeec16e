package limits

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}
	tests := []struct {
		try      int
		wantCeil time.Duration
	}{
		{0, 100 * time.Millisecond},
		{1, 200 * time.Millisecond},
		{2, 400 * time.Millisecond},
		{4, 1600 * time.Millisecond},
		{5, 2 * time.Second},
		{60, 2 * time.Second},
		{1000, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.wantCeil.String(), func(t *testing.T) {
			t.Parallel()
			if got := p.Backoff(tt.try, func(int64) int64 { return 0 }); got != 0 {
				t.Fatalf("full jitter's floor is %v, want 0", got)
			}
			if got := p.Backoff(tt.try, maxRand); got != tt.wantCeil {
				t.Fatalf("Backoff(%d) ceiling = %v, want %v", tt.try, got, tt.wantCeil)
			}
			for range 200 {
				if d := p.Backoff(tt.try, rand.Int64N); d < 0 || d > tt.wantCeil {
					t.Fatalf("Backoff(%d) = %v outside [0, %v]", tt.try, d, tt.wantCeil)
				}
			}
		})
	}
	if d := (RetryPolicy{}).Backoff(3, maxRand); d != 0 {
		t.Fatalf("zero policy backs off %v", d)
	}
}

func TestRetryNext(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 8 * time.Second, MaxRetryAfter: 5 * time.Second}
	tests := []struct {
		name      string
		err       error
		try       int
		wantStep  Step
		wantDelay time.Duration // with maxRand
	}{
		{"502 retries with backoff", err502, 0, StepRetry, time.Second},
		{"504 second retry doubles", err504, 1, StepRetry, 2 * time.Second},
		{"connection refused retries", errRef, 0, StepRetry, time.Second},
		{"reset retries", netErr, 0, StepRetry, time.Second},
		{"attempts exhausted falls back", err502, 2, StepFallback, 0},
		{"429 without Retry-After backs off", err429, 0, StepRetry, time.Second},
		{"short Retry-After is honoured", err429After(3 * time.Second), 0, StepRetry, 3 * time.Second},
		{"Retry-After below the backoff keeps the backoff", err503After(time.Second), 1, StepRetry, 2 * time.Second},
		{"Retry-After at the cap is honoured", err429After(5 * time.Second), 0, StepRetry, 5 * time.Second},
		{"long Retry-After falls back at once", err429After(6 * time.Second), 0, StepFallback, 0},
		{"400 stops", err400, 0, StepStop, 0},
		{"404 stops", err404, 0, StepStop, 0},
		{"canceled stops", context.Canceled, 0, StepStop, 0},
		{"final stops", Final(err502), 0, StepStop, 0},
		{"auth failure falls back", errAut, 0, StepFallback, 0},
		{"open breaker falls back", newOpenError("p", "", time.Second), 0, StepFallback, 0},
		{"skip falls back", Skip(errors.New("busy")), 0, StepFallback, 0},
		{"unknown stops", errors.New("boom"), 0, StepStop, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			step, d := p.Next(tt.err, tt.try, maxRand)
			if step != tt.wantStep || d != tt.wantDelay {
				t.Fatalf("Next = %v %v, want %v %v", step, d, tt.wantStep, tt.wantDelay)
			}
		})
	}
	noRetry := RetryPolicy{MaxAttempts: 1}
	if step, _ := noRetry.Next(err502, 0, maxRand); step != StepFallback {
		t.Fatalf("RETRY_ENABLED=0: Next = %v, want fallback", step)
	}
}

// script answers each attempt on a target with the next error of its list
// (nil for success; past the end, success) and records the calls.
type script struct {
	errs  map[string][]error
	calls []string
}

func (s *script) Call(_ context.Context, a Attempt) error {
	name := a.Target.String()
	s.calls = append(s.calls, name)
	q := s.errs[name]
	if len(q) == 0 {
		return nil
	}
	s.errs[name] = q[1:]
	return q[0]
}

func testRunner(t *testing.T, p RetryPolicy, b *Breakers) (*Runner, *[]time.Duration, *fakeClock) {
	t.Helper()
	r, err := NewRunner(p, b)
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock()
	var slept []time.Duration
	r.now = clk.Now
	r.rnd = maxRand
	r.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		clk.Advance(d)
		return ctx.Err()
	}
	return r, &slept, clk
}

func TestRunFallbackOrder(t *testing.T) {
	t.Parallel()
	a := Target{"prov-a", "m1"}
	b := Target{"prov-b", "m2"}
	c := Target{"prov-c", "m3"}
	targets := []Target{a, b, c}
	tests := []struct {
		name      string
		errs      map[string][]error
		wantCalls string
		wantErr   error
		wantWin   Target
		wantSlept []time.Duration
	}{
		{"primary succeeds", nil, "a", nil, a, nil},
		{"retry then succeed", map[string][]error{"prov-a/m1": {err502, err503}}, "a a a", nil, a,
			[]time.Duration{time.Second, 2 * time.Second}},
		{"retries exhausted then first fallback", map[string][]error{"prov-a/m1": {err502, err502, err502}},
			"a a a b", nil, b, []time.Duration{time.Second, 2 * time.Second}},
		{"client error stops without fallback", map[string][]error{"prov-a/m1": {err400}}, "a", err400, a, nil},
		{"auth failure falls back at once", map[string][]error{"prov-a/m1": {errAut}}, "a b", nil, b, nil},
		{"long Retry-After falls back at once", map[string][]error{"prov-a/m1": {err429After(time.Minute)}}, "a b", nil, b, nil},
		{"short Retry-After is waited for", map[string][]error{"prov-a/m1": {err429After(4 * time.Second)}}, "a a", nil, a,
			[]time.Duration{4 * time.Second}},
		{"all fail: the last error", map[string][]error{
			"prov-a/m1": {err502, err502, err502}, "prov-b/m2": {errAut}, "prov-c/m3": {err504, err504, err503}},
			"a a a b c c c", err503, c, []time.Duration{time.Second, 2 * time.Second, time.Second, 2 * time.Second}},
		{"final error stops everything", map[string][]error{"prov-a/m1": {err502, Final(err502)}}, "a a", nil, a,
			[]time.Duration{time.Second}},
		{"skip moves on without retry", map[string][]error{"prov-a/m1": {Skip(errors.New("busy"))}}, "a b", nil, b, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 8 * time.Second, MaxRetryAfter: 5 * time.Second}
			r, slept, _ := testRunner(t, p, nil)
			s := &script{errs: map[string][]error{}}
			for k, v := range tt.errs {
				s.errs[k] = v
			}
			got, err := r.Run(context.Background(), targets, s)
			calls := strings.Join(s.calls, " ")
			calls = strings.NewReplacer("prov-a/m1", "a", "prov-b/m2", "b", "prov-c/m3", "c").Replace(calls)
			if calls != tt.wantCalls {
				t.Fatalf("calls %q, want %q", calls, tt.wantCalls)
			}
			if tt.name == "final error stops everything" {
				if Classify(err) != ClassFinal {
					t.Fatalf("err = %v, want the Final error", err)
				}
			} else if !errors.Is(err, tt.wantErr) && err != tt.wantErr {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got.Target != tt.wantWin {
				t.Fatalf("last attempt on %v, want %v", got.Target, tt.wantWin)
			}
			if !slices.Equal(*slept, tt.wantSlept) {
				t.Fatalf("slept %v, want %v", *slept, tt.wantSlept)
			}
		})
	}
}

func TestRunSkipsOpenBreakers(t *testing.T) {
	t.Parallel()
	cfg := DefaultBreakerConfig()
	cfg.FailureRatio = 0
	cfg.Failures = 2
	bs, _ := NewBreakers(cfg)
	p := RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxRetryAfter: time.Second}
	r, _, _ := testRunner(t, p, bs)
	primary, backup := Target{"open-primary", "m"}, Target{"open-backup", "m"}
	fromTo := `gateway_fallbacks_total{from="open-primary/m",to="open-backup/m"}`
	retries := `gateway_retries_total{provider="open-primary"}`
	f0, r0 := counter(fromTo), counter(retries)

	s := &script{errs: map[string][]error{"open-primary/m": {err502, err502}}}
	if _, err := r.Run(context.Background(), []Target{primary, backup}, s); err != nil {
		t.Fatal(err)
	}
	if bs.For("open-primary", "").State() != Open {
		t.Fatal("two upstream failures did not open the primary's breaker")
	}
	s.calls = nil
	a, err := r.Run(context.Background(), []Target{primary, backup}, s)
	if err != nil || a.Target != backup || strings.Join(s.calls, " ") != "open-backup/m" {
		t.Fatalf("open primary: calls %v, err %v; want the backup alone", s.calls, err)
	}
	if got := counter(fromTo) - f0; got != 2 {
		t.Fatalf("gateway_fallbacks_total grew by %d, want 2", got)
	}
	if got := counter(retries) - r0; got != 1 {
		t.Fatalf("gateway_retries_total grew by %d, want 1", got)
	}

	// Only the primary, and it is open: the engine gets a 503 with Retry-After.
	_, err = r.Run(context.Background(), []Target{primary}, s)
	var oe *OpenError
	if !errors.As(err, &oe) || oe.RetryAfter <= 0 {
		t.Fatalf("err = %v, want *OpenError", err)
	}
}

func TestRunBudget(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 5, BaseDelay: 4 * time.Second, MaxDelay: 60 * time.Second, MaxRetryAfter: time.Minute, Budget: 10 * time.Second}
	tests := []struct {
		name      string
		targets   []Target
		errs      map[string][]error
		wantCalls string
	}{
		// Waits 4s, then 8s would pass the 10s budget: fall back at once.
		{"a retry that would pass the budget falls back", []Target{{"x", ""}, {"y", ""}},
			map[string][]error{"x": {err502, err502}}, "x x y"},
		{"no fallback once the budget is spent", []Target{{"x", ""}, {"y", ""}},
			map[string][]error{"x": {slow{err502, 11 * time.Second}}}, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, _, clk := testRunner(t, p, nil)
			s := &script{errs: tt.errs}
			c := CallFunc(func(ctx context.Context, a Attempt) error {
				if a.Deadline.IsZero() {
					t.Error("attempt without a deadline under a budget")
				}
				err := s.Call(ctx, a)
				if sl, ok := err.(slow); ok {
					clk.Advance(sl.d)
					return sl.error
				}
				return err
			})
			_, _ = r.Run(context.Background(), tt.targets, c)
			if got := strings.Join(s.calls, " "); got != tt.wantCalls {
				t.Fatalf("calls %q, want %q", got, tt.wantCalls)
			}
		})
	}
}

// slow is an error whose call took d.
type slow struct {
	error
	d time.Duration
}

func TestRunStopsWhenTheCallerLeaves(t *testing.T) {
	t.Parallel()
	r, _, _ := testRunner(t, DefaultRetryPolicy(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	s := &script{errs: map[string][]error{"a": {err502, err502}}}
	c := CallFunc(func(ctx context.Context, a Attempt) error {
		cancel() // the client disconnects during the first attempt
		return s.Call(ctx, a)
	})
	_, err := r.Run(ctx, []Target{{"a", ""}, {"b", ""}}, c)
	if !errors.Is(err, err502) || len(s.calls) != 1 {
		t.Fatalf("err %v after calls %v; want the first error and no more calls", err, s.calls)
	}
}

func TestRunNoTargets(t *testing.T) {
	t.Parallel()
	r, _, _ := testRunner(t, DefaultRetryPolicy(), nil)
	if _, err := r.Run(context.Background(), nil, &script{}); !errors.Is(err, ErrNoTargets) {
		t.Fatalf("err = %v", err)
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    RetryPolicy
		ok   bool
	}{
		{"defaults", DefaultRetryPolicy(), true},
		{"no retries", RetryPolicy{MaxAttempts: 1}, true},
		{"zero attempts", RetryPolicy{}, false},
		{"negative delay", RetryPolicy{MaxAttempts: 2, BaseDelay: -1}, false},
		{"max below base", RetryPolicy{MaxAttempts: 2, BaseDelay: 2, MaxDelay: 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate = %v", err)
			}
		})
	}
}
