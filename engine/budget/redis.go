package budget

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Shared accounts. Per project and period, three keys in one hash slot:
//
//	gw:budget:{P:T}      hash: s = spent (seeded from the ledger), r = reserved
//	gw:budget:{P:T}:res  sorted set: reservation id → expiry (ms)
//	gw:budget:{P:T}:amt  hash: reservation id → amount
//
// A reservation that its replica never settles (the replica died) stops
// counting when it expires. The keys expire a day after the period ends.

func keyOf(project string, start time.Time) string {
	return "gw:budget:{" + project + ":" + strconv.FormatInt(start.Unix(), 10) + "}"
}

// reserveScript: KEYS = hash, res, amt; ARGV = estimate, budget, now ms,
// expiry ms, id, ttl s. Returns {status, spent, reserved}: status -1 when
// the account needs seeding, 0 refused, 1 admitted.
var reserveScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], 's') == 0 then return {-1, '0', '0'} end
local est, budget = tonumber(ARGV[1]), tonumber(ARGV[2])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
for _, id in ipairs(stale) do
  local amt = redis.call('HGET', KEYS[3], id)
  if amt then
    redis.call('HINCRBYFLOAT', KEYS[1], 'r', -tonumber(amt))
    redis.call('HDEL', KEYS[3], id)
  end
end
if #stale > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3]) end
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
local r = tonumber(redis.call('HGET', KEYS[1], 'r') or '0')
if r < 1e-12 then r = 0 end
if s + r + est <= budget or (r == 0 and s < budget) then
  redis.call('HINCRBYFLOAT', KEYS[1], 'r', ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[6])
  redis.call('EXPIRE', KEYS[3], ARGV[6])
  return {1, tostring(s), tostring(r)}
end
return {0, tostring(s), tostring(r)}
`)

// settleScript: KEYS = hash, res, amt; ARGV = id, cost. Returns the new
// spend.
var settleScript = redis.NewScript(`
if ARGV[1] ~= '' then
  local amt = redis.call('HGET', KEYS[3], ARGV[1])
  if amt then
    redis.call('HINCRBYFLOAT', KEYS[1], 'r', -tonumber(amt))
    redis.call('HDEL', KEYS[3], ARGV[1])
    redis.call('ZREM', KEYS[2], ARGV[1])
  end
end
return redis.call('HINCRBYFLOAT', KEYS[1], 's', ARGV[2])
`)

func (t *Tracker) reserveRedis(ctx context.Context, a *account, l Limit, start, next time.Time, estimate float64) (Reservation, error) {
	h := keyOf(l.Project, start)
	keys := []string{h, h + ":res", h + ":amt"}
	now := t.now()
	id := t.replica + "-" + strconv.FormatUint(t.seq.Add(1), 36)
	ttl := int64(time.Until(next).Seconds()) + 86400
	if ttl < 86400 {
		ttl = 86400
	}
	args := []any{strconv.FormatFloat(estimate, 'g', -1, 64), strconv.FormatFloat(l.BudgetUSD, 'g', -1, 64),
		now.UnixMilli(), now.Add(t.opts.ReservationTTL).UnixMilli(), id, ttl}
	for attempt := 0; attempt < 2; attempt++ {
		res, err := reserveScript.Run(ctx, t.opts.Redis, keys, args...).Slice()
		if err != nil || len(res) != 3 {
			t.report(fmt.Errorf("budget: reserve in Redis for project %s: %v", l.Project, err))
			return Reservation{}, nil // fail open
		}
		status, _ := res[0].(int64)
		spent, _ := strconv.ParseFloat(fmt.Sprint(res[1]), 64)
		reserved, _ := strconv.ParseFloat(fmt.Sprint(res[2]), 64)
		switch status {
		case 1:
			return Reservation{t: t, a: a, limit: l, start: start, amount: estimate, id: id}, nil
		case 0:
			return Reservation{}, &ExceededError{Project: l.Project, SpentUSD: spent, Reserved: reserved, Estimate: estimate,
				BudgetUSD: l.BudgetUSD, Period: l.Period, ResetsAt: next}
		}
		// Seed the account with the ledger's spend; the first replica to
		// do so wins.
		seed, err := t.st.Spend(ctx, l.Project, start)
		if err != nil {
			t.report(fmt.Errorf("budget: read spend of project %s: %w", l.Project, err))
			return Reservation{}, nil
		}
		pipe := t.opts.Redis.TxPipeline()
		pipe.HSetNX(ctx, h, "s", strconv.FormatFloat(seed, 'g', -1, 64))
		pipe.Expire(ctx, h, time.Duration(ttl)*time.Second)
		if _, err := pipe.Exec(ctx); err != nil {
			t.report(fmt.Errorf("budget: seed Redis account of project %s: %w", l.Project, err))
			return Reservation{}, nil
		}
	}
	return Reservation{}, nil
}

func (t *Tracker) settleLoop() {
	defer t.wg.Done()
	for {
		select {
		case s := <-t.settles:
			t.settleRedis(s)
		case <-t.stop:
			for {
				select {
				case s := <-t.settles:
					t.settleRedis(s)
				default:
					return
				}
			}
		}
	}
}

func (t *Tracker) settleRedis(s settle) {
	h := keyOf(s.limit.Project, s.start)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := settleScript.Run(ctx, t.opts.Redis, []string{h, h + ":res", h + ":amt"}, s.id,
		strconv.FormatFloat(s.cost, 'g', -1, 64)).Text()
	if err != nil {
		t.report(fmt.Errorf("budget: settle in Redis for project %s: %w", s.limit.Project, err))
		return
	}
	spent, _ := strconv.ParseFloat(v, 64)
	a := s.a
	a.mu.Lock()
	if !a.start.Equal(s.start) {
		a.start, a.marked = s.start, a.marked[:0]
	}
	crossed := a.crossed(t.opts.Thresholds, spent, s.limit.BudgetUSD)
	a.mu.Unlock()
	if crossed != 0 {
		go t.fire(s.limit, s.start, crossed, spent)
	}
}
