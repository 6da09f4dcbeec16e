package limits

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript is one GCRA step, atomic in Redis. KEYS[1] holds the key's
// theoretical arrival time in microseconds of Redis's own clock (TIME), so
// replicas with skewed clocks agree. ARGV are the emission interval and the
// burst tolerance in microseconds. A refused request writes nothing. It
// returns {allowed, remaining, retry_after_us, reset_us}.
//
// Lua numbers are doubles: microseconds since 1970 (~2^51) stay exact, and
// the value is written with %.0f because Lua's default number format keeps
// only 14 digits.
var gcraScript = redis.NewScript(`
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
if tat - now > tau then
  return {0, 0, tat - now - tau, tat - now}
end
local nxt = tat + t
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
local rem = 0
if tau - (nxt - now) >= 0 then rem = math.floor((tau - (nxt - now)) / t) + 1 end
return {1, rem, 0, nxt - now}
`)

// RedisConfig configures the shared rate limiter.
type RedisConfig struct {
	// Prefix starts every key the limiter writes.
	Prefix string
	// Timeout bounds one decision's round trip; past it the replica decides
	// alone.
	Timeout time.Duration
	// RetryInterval is how long the limiter decides locally after a Redis
	// failure before it tries Redis again (one request probes; the others
	// stay local until the probe succeeds).
	RetryInterval time.Duration
}

// DefaultRedisConfig returns the defaults: keys under "gateway:ratelimit:",
// 50 ms per decision, Redis retried 1 s after a failure.
func DefaultRedisConfig() RedisConfig {
	return RedisConfig{Prefix: "gateway:ratelimit:", Timeout: 50 * time.Millisecond, RetryInterval: time.Second}
}

// Validate reports the first invalid field, named by its TOML key.
func (c RedisConfig) Validate() error {
	switch {
	case c.Timeout <= 0:
		return errors.New("rate_limit_redis_timeout must be positive")
	case c.RetryInterval <= 0:
		return errors.New("rate_limit_redis_retry must be positive")
	}
	return nil
}

// RedisOptions parses a redis:// or rediss:// URL into client options fit
// for the limiter: context deadlines honoured on the socket, no command
// retries and one dial attempt, so that a dead or stalled Redis costs at most
// timeout per decision.
func RedisOptions(url string, timeout time.Duration) (*redis.Options, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.DialTimeout = timeout
	opt.ReadTimeout = timeout
	opt.WriteTimeout = timeout
	opt.PoolTimeout = timeout
	return opt, nil
}

// Redis is a rate limiter shared by every replica through one Redis server
// (GCRA in a Lua script: one string key per limited key). When Redis fails
// or is slower than the timeout it falls back to an in-process limiter, so
// limits hold per replica during the outage, counts
// gateway_rate_limit_fallback_total, and returns to Redis by itself.
//
// # Notes
//
// The client should be built from RedisOptions: a client that ignores
// context deadlines can stall a decision for its own read timeout. Every
// decision Redis makes also sets the local limiter's state for the key to
// the shared one Redis reported, so that the fallback starts from the
// fleet's recent usage rather than from a full allowance (or from this
// replica's share of it).
type Redis struct {
	client redis.Scripter
	cfg    RedisConfig
	local  *Local
	health *Breaker
	hcfg   BreakerConfig
}

// redisTripFailures is how many failed Redis decisions in a row send every
// decision to the local limiter for RetryInterval. One is too few: on a
// loaded machine an isolated round trip slower than Timeout would put the
// replica on its fallback for a whole interval (each failed decision is
// made locally anyway).
const redisTripFailures = 3

// NewRedis returns a limiter over client (a *redis.Client, *redis.Ring or
// *redis.ClusterClient).
func NewRedis(client redis.Scripter, cfg RedisConfig) (*Redis, error) {
	return newRedis(client, cfg, nil)
}

func newRedis(client redis.Scripter, cfg RedisConfig, now func() time.Time) (*Redis, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Redis{client: client, cfg: cfg, local: newLocal(now),
		hcfg: BreakerConfig{Failures: redisTripFailures, Cooldown: cfg.RetryInterval, Probes: 1, Successes: 1}}
	r.health = newBreaker(Target{Provider: "redis"}, &r.hcfg, newClock(now), false)
	return r, nil
}

// Allow counts one request against key at rate r, in Redis if it answers in
// time, else in this replica alone (Decision.Degraded).
func (l *Redis) Allow(ctx context.Context, key Key, r Rate) Decision {
	if r.Limit <= 0 {
		return Decision{Allowed: true}
	}
	if p, err := l.health.Allow(); err == nil {
		d, err := l.remote(ctx, key, r)
		if err == nil {
			p.b.done(p.gen, ClassOK)
			l.local.mirror(key, r, d.Reset)
			if !d.Allowed {
				rateLimitedTotal.get(key.Project).Inc()
			}
			return d
		}
		c := ClassUnavailable
		if ctx.Err() != nil {
			c = ClassCanceled // the caller left: not Redis's fault
		}
		p.b.done(p.gen, c)
		rateLimitRedisErrors.Inc()
	}
	rateLimitFallback.Inc()
	d := l.local.allow(key, r)
	d.Degraded = true
	if !d.Allowed {
		rateLimitedTotal.get(key.Project).Inc()
	}
	return d
}

func (l *Redis) remote(ctx context.Context, key Key, r Rate) (Decision, error) {
	t, tau := r.gcra()
	tu := max(t/1000, 1)
	tauu := tau / t * tu
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	res, err := gcraScript.Run(ctx, l.client, []string{l.redisKey(key)}, tu, tauu).Int64Slice()
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 4 {
		return Decision{}, errors.New("rate limit script returned " + strconv.Itoa(len(res)) + " values")
	}
	return Decision{
		Allowed:    res[0] == 1,
		Limit:      r.Limit,
		Remaining:  int(res[1]),
		RetryAfter: time.Duration(res[2]) * time.Microsecond,
		Reset:      time.Duration(res[3]) * time.Microsecond,
	}, nil
}

// redisKey is prefix + len(project) + ":" + project + ":" + client: the
// length keeps "a:b"+"" and "a"+"b:" apart whatever the names contain.
func (l *Redis) redisKey(k Key) string {
	b := make([]byte, 0, len(l.cfg.Prefix)+len(k.Project)+len(k.Client)+8)
	b = append(b, l.cfg.Prefix...)
	b = strconv.AppendInt(b, int64(len(k.Project)), 10)
	b = append(b, ':')
	b = append(b, k.Project...)
	b = append(b, ':')
	b = append(b, k.Client...)
	return string(b)
}
