package engine

import (
	"strconv"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/engine/redisconn"
	"github.com/valyala/fasthttp"
)

// newReliability builds the rate limiter, breakers and retry runner from the
// configuration.
func newReliability(cfg *Config) (limits.Limiter, *limits.Runner, error) {
	rc := cfg.Reliab
	var lim limits.Limiter
	if rc.RateLimit {
		if cfg.Cache.RedisURL != "" {
			to := cfg.Reliab.RateLimitRedisTimeout.D()
			rdb, err := redisconn.Open(cfg.Cache.RedisURL, redisconn.Tuning{DialTimeout: to, ReadTimeout: to, WriteTimeout: to,
				PoolTimeout: to, MaxRetries: -1, DialerRetries: 1, ContextTimeout: true})
			if err != nil {
				return nil, nil, err
			}
			l, err := limits.NewRedis(rdb, cfg.redisLimits())
			if err != nil {
				return nil, nil, err
			}
			lim = l
		} else {
			lim = limits.NewLocal()
		}
	}
	var breakers *limits.Breakers
	if rc.CircuitBreaker {
		bc := limits.DefaultBreakerConfig()
		bc.Failures = rc.BreakerFailures
		bc.Cooldown = rc.BreakerCooldown.D()
		bc.FailureRatio, bc.Window, bc.MinRequests = rc.BreakerFailureRatio, rc.BreakerWindow.D(), rc.BreakerMinRequests
		bc.Probes, bc.Successes, bc.PerModel = rc.BreakerProbes, rc.BreakerSuccesses, rc.BreakerPerModel
		b, err := limits.NewBreakers(bc)
		if err != nil {
			return nil, nil, err
		}
		breakers = b
	}
	policy := limits.DefaultRetryPolicy()
	policy.MaxAttempts = rc.RetryMaxAttempts
	if !rc.Retry {
		policy.MaxAttempts = 1
	}
	policy.BaseDelay, policy.MaxDelay, policy.Budget = rc.RetryBackoffBase.D(), rc.RetryBackoffMax.D(), rc.RetryBudget.D()
	policy.MaxRetryAfter = rc.RetryMaxRetryAfter.D()
	runner, err := limits.NewRunner(policy, breakers)
	return lim, runner, err
}

// rateLimit applies the project's rate limit and sets the X-RateLimit
// headers; it returns an error for a 429.
func (s *Server) rateLimit(ctx *fasthttp.RequestCtx, project string) error {
	if s.limiter == nil {
		return nil
	}
	return s.limit(ctx, limits.Key{Project: project}, "")
}

// keyRateLimit applies, with rate_limit_per_key, the key's own
// rate_limit_rpm inside its project (after the project's limit passed; the
// X-RateLimit headers then describe the key's allowance). keyID empty (the
// open gateway's anonymous caller): none.
func (s *Server) keyRateLimit(ctx *fasthttp.RequestCtx, project, keyID string) error {
	if s.limiter == nil || keyID == "" || !s.cfg.Reliab.RateLimitPerKey {
		return nil
	}
	return s.limit(ctx, limits.Key{Project: project, Client: "key:" + keyID}, keyID)
}

// limit takes one request from k's allowance at s.rate and sets the
// X-RateLimit headers from the decision; keyID ("" for the project's own
// limit) names the key in the 429's message, built only for a refusal.
func (s *Server) limit(ctx *fasthttp.RequestCtx, k limits.Key, keyID string) error {
	d := s.limiter.Allow(ctx, k, s.rate)
	h := &ctx.Response.Header
	var buf [20]byte
	h.SetBytesV("X-RateLimit-Limit", strconv.AppendInt(buf[:0], int64(d.Limit), 10))
	h.SetBytesV("X-RateLimit-Remaining", strconv.AppendInt(buf[:0], int64(d.Remaining), 10))
	h.SetBytesV("X-RateLimit-Reset", strconv.AppendInt(buf[:0], int64(d.ResetSeconds()), 10))
	if d.Allowed {
		return nil
	}
	who := "project " + k.Project
	if keyID != "" {
		who = "key " + keyID + " of " + who
	}
	return &apiError{Status: 429, Type: typeRateLimit, Code: "rate_limit_exceeded", RetryAfter: d.RetryAfterSeconds(),
		Msg: "Rate limit of " + strconv.Itoa(s.rate.Limit) + " requests per minute exceeded for " + who}
}

// targets fills x.models and x.targets: the resolved model, then its
// configured fallbacks that are enabled and capable of the request.
func (s *Server) targets(x *exchange, name string, m *catalog.Model) {
	x.models = append(x.models[:0], m)
	x.targets = append(x.targets[:0], limits.Target{Provider: m.Provider, Model: m.Upstream})
	for _, fb := range s.cfg.Reliab.Fallbacks[name] {
		fm, err := s.catalog.Resolve(fb)
		if err != nil || checkCapabilities(x.req, fm) != nil || s.upstreams[fm.Provider] == nil {
			continue
		}
		x.models = append(x.models, fm)
		x.targets = append(x.targets, limits.Target{Provider: fm.Provider, Model: fm.Upstream})
	}
	// Last, tried only when a prompt overflowed every window before it:
	// the same provider's next larger context window.
	x.overflowOnly = 0
	if l := s.catalog.Larger(m); l != nil && len(x.models) < 64 && s.upstreams[l.Provider] != nil {
		for _, have := range x.models {
			if have == l {
				return
			}
		}
		x.overflowOnly = 1 << len(x.models)
		x.models = append(x.models, l)
		x.targets = append(x.targets, limits.Target{Provider: l.Provider, Model: l.Upstream})
	}
}
