package limits

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A breaker script is a list of steps, one per string:
//
//	ok | fail | client | 429     Allow, then Done with that outcome
//	refuse                       Allow must fail with ErrOpen
//	refuse:30s                   ... and RetryAfter must be 30s
//	take                         Allow, keep the permit on a stack
//	done:ok | done:fail          Done the oldest kept permit
//	wait:30s                     advance the clock
//	=closed | =open | =half-open the state must be this
type breakerCase struct {
	name  string
	cfg   func(*BreakerConfig)
	steps string
}

func TestBreakerStateMachine(t *testing.T) {
	t.Parallel()
	consecutiveOnly := func(c *BreakerConfig) { c.FailureRatio = 0 }
	tests := []breakerCase{
		{"opens after 5 consecutive failures", consecutiveOnly,
			"fail fail fail fail =closed fail =open refuse:30s"},
		{"success resets the count", consecutiveOnly,
			"fail fail fail fail ok fail fail fail fail =closed fail =open"},
		{"4xx and 429 are neutral: neither count nor reset", consecutiveOnly,
			"fail fail fail fail client client 429 429 =closed fail =open"},
		{"connection refused and timeouts count", consecutiveOnly,
			"refused timeout refused timeout refused =open"},
		{"open fails fast until the cool-down ends", consecutiveOnly,
			"fail fail fail fail fail =open wait:10s refuse:20s wait:19s refuse:1s wait:1s ok =closed"},
		{"probe success closes", consecutiveOnly,
			"fail fail fail fail fail wait:30s take =half-open done:ok =closed ok ok"},
		{"probe failure reopens for a full cool-down", consecutiveOnly,
			"fail fail fail fail fail wait:30s take done:fail =open refuse:30s"},
		{"a neutral probe frees its slot without deciding", consecutiveOnly,
			"fail fail fail fail fail wait:30s take done:client =half-open take done:ok =closed"},
		{"half-open admits one probe at a time", consecutiveOnly,
			"fail fail fail fail fail wait:30s take refuse:1s refuse done:ok =closed"},
		{"two successes needed when configured", func(c *BreakerConfig) { c.FailureRatio = 0; c.Successes = 2 },
			"fail fail fail fail fail wait:30s ok =half-open ok =closed"},
		{"several probes when configured", func(c *BreakerConfig) { c.FailureRatio = 0; c.Probes = 2; c.Successes = 2 },
			"fail fail fail fail fail wait:30s take take refuse done:ok =half-open done:ok =closed"},
		{"ratio rule opens on half of 10 failing", func(c *BreakerConfig) { c.Failures = 0; c.MinRequests = 10 },
			"ok fail ok fail ok fail ok fail ok =closed fail =open"},
		{"ratio rule waits for MinRequests", func(c *BreakerConfig) { c.Failures = 0; c.MinRequests = 10 },
			"fail fail fail fail fail fail fail fail fail =closed fail =open"},
		{"ratio rule ignores calls older than the window", func(c *BreakerConfig) { c.Failures = 0; c.MinRequests = 10 },
			"fail fail fail fail fail fail fail fail fail wait:61s fail =closed ok ok ok ok ok ok ok ok fail =closed"},
		{"ratio rule below the ratio stays closed", func(c *BreakerConfig) { c.Failures = 0; c.MinRequests = 4; c.FailureRatio = 0.75 },
			"ok fail fail ok fail ok fail ok =closed"},
		{"either rule opens", func(c *BreakerConfig) { c.Failures = 3; c.MinRequests = 100 },
			"fail fail fail =open"},
		{"a lost probe is replaced after a cool-down", consecutiveOnly,
			"fail fail fail fail fail wait:30s take refuse wait:29s refuse wait:1s take done:fail =half-open done:ok =closed"},
		{"a permit from before the opening is ignored", consecutiveOnly,
			"take fail fail fail fail fail =open wait:30s take done:fail =half-open done:ok =closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runBreakerScript(t, tt)
		})
	}
}

func runBreakerScript(t *testing.T, tt breakerCase) {
	t.Helper()
	clk := newFakeClock()
	cfg := DefaultBreakerConfig()
	cfg.now = clk.Now
	if tt.cfg != nil {
		tt.cfg(&cfg)
	}
	set, err := NewBreakers(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := set.For("test-"+strings.ReplaceAll(tt.name, " ", "-"), "")
	var held []Permit
	outcome := map[string]error{"ok": nil, "fail": err502, "client": err400, "429": err429,
		"refused": errRef, "timeout": err504}
	for i, step := range strings.Fields(tt.steps) {
		op, arg, _ := strings.Cut(step, ":")
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("step %d %q: "+format, append([]any{i, step}, args...)...)
		}
		switch {
		case strings.HasPrefix(op, "="):
			if got := b.State().String(); got != op[1:] {
				fail("state %s", got)
			}
		case op == "wait":
			d, _ := time.ParseDuration(arg)
			clk.Advance(d)
		case op == "refuse":
			_, err := b.Allow()
			var oe *OpenError
			if !errors.Is(err, ErrOpen) || !errors.As(err, &oe) {
				fail("Allow = %v, want ErrOpen", err)
			}
			if arg != "" {
				if d, _ := time.ParseDuration(arg); oe.RetryAfter != d {
					fail("RetryAfter %v, want %v", oe.RetryAfter, d)
				}
			}
		case op == "take":
			p, err := b.Allow()
			if err != nil {
				fail("Allow: %v", err)
			}
			held = append(held, p)
		case op == "done":
			e, ok := outcome[arg]
			if !ok || len(held) == 0 {
				fail("bad step")
			}
			held[0].Done(e)
			held = held[1:]
		default:
			e, ok := outcome[op]
			if !ok {
				fail("unknown step")
			}
			p, err := b.Allow()
			if err != nil {
				fail("Allow: %v", err)
			}
			p.Done(e)
		}
	}
}

func TestBreakerConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mod  func(*BreakerConfig)
		want string
	}{
		{"defaults", func(*BreakerConfig) {}, ""},
		{"negative failures", func(c *BreakerConfig) { c.Failures = -1 }, "breaker_failures"},
		{"ratio above 1", func(c *BreakerConfig) { c.FailureRatio = 1.5 }, "breaker_failure_ratio"},
		{"no rule", func(c *BreakerConfig) { c.Failures, c.FailureRatio = 0, 0 }, "never open"},
		{"ratio without window", func(c *BreakerConfig) { c.Window = 0 }, "breaker_window"},
		{"zero cooldown", func(c *BreakerConfig) { c.Cooldown = 0 }, "breaker_cooldown"},
		{"zero probes", func(c *BreakerConfig) { c.Probes = 0 }, "breaker_probes"},
		{"zero successes", func(c *BreakerConfig) { c.Successes = 0 }, "breaker_successes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultBreakerConfig()
			tt.mod(&cfg)
			_, err := NewBreakers(cfg)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("NewBreakers: %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestBreakersScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		perModel bool
		same     bool
	}{
		{"per provider: models share a breaker", false, true},
		{"per model: each model has its own", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := DefaultBreakerConfig()
			cfg.PerModel = tt.perModel
			s, err := NewBreakers(cfg)
			if err != nil {
				t.Fatal(err)
			}
			a, b := s.For("scope-test", "m1"), s.For("scope-test", "m2")
			if (a == b) != tt.same {
				t.Fatalf("same breaker = %v, want %v", a == b, tt.same)
			}
			if s.For("scope-test", "m1") != a {
				t.Fatal("For is not stable")
			}
			if n := len(s.Status()); n != map[bool]int{true: 1, false: 2}[tt.same] {
				t.Fatalf("Status lists %d breakers", n)
			}
		})
	}
}

func TestBreakerStatusAndMetrics(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	cfg := DefaultBreakerConfig()
	cfg.now = clk.Now
	s, _ := NewBreakers(cfg)
	b := s.For("metrics-test", "")
	before := counter(`gateway_breaker_open_total{provider="metrics-test"}`)
	for range 5 {
		p, _ := b.Allow()
		p.Done(err502)
	}
	clk.Advance(10 * time.Second)
	st := s.Status()
	if len(st) != 1 || st[0].State != Open || st[0].RetryAfter != 20*time.Second {
		t.Fatalf("Status = %+v", st)
	}
	if got := counter(`gateway_breaker_open_total{provider="metrics-test"}`) - before; got != 1 {
		t.Fatalf("gateway_breaker_open_total grew by %d", got)
	}
	v, ok := breakerGauges.Load(`gateway_breaker_state{provider="metrics-test"}`)
	if !ok || v.(*Breaker).State() != Open {
		t.Fatal("gateway_breaker_state does not report the open breaker")
	}
}

func TestNilBreakerAllowsEverything(t *testing.T) {
	t.Parallel()
	var s *Breakers
	b := s.For("x", "y")
	for range 10 {
		p, err := b.Allow()
		if err != nil {
			t.Fatal(err)
		}
		p.Done(err502)
	}
	b.Observe(err502)
	if b.State() != Closed || s.Status() != nil {
		t.Fatal("a nil breaker changed state")
	}
}

func TestBreakerObserve(t *testing.T) {
	t.Parallel()
	cfg := DefaultBreakerConfig()
	cfg.FailureRatio = 0
	s, _ := NewBreakers(cfg)
	b := s.For("observe-test", "")
	for range 4 {
		b.Observe(err502)
	}
	b.Observe(nil) // a stream that ended well resets the count
	for range 4 {
		b.Observe(err502)
	}
	if b.State() != Closed {
		t.Fatal("opened early")
	}
	b.Observe(err502)
	if b.State() != Open {
		t.Fatal("Observe did not count failures of streams that bypassed Allow")
	}
	b.Observe(nil) // ignored while open
	if b.State() != Open {
		t.Fatal("Observe changed an open breaker")
	}
}
