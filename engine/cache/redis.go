package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/engine/redisconn"
	"github.com/aigateway/gateway/internal/backoff"
	"github.com/redis/go-redis/v9"
)

// remote is the Redis tier. Reads wait at most timeout; writes are queued
// and written by a background worker so that no request ever waits for one.
// After a failure the tier is skipped for a back-off period (internal/backoff).
type remote struct {
	rdb     redis.UniversalClient
	timeout time.Duration
	ctr     *counters
	bo      backoff.Backoff

	queue   chan setJob
	pending atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
}

type setJob struct {
	key string
	val []byte
	ttl time.Duration
}

func newRemote(url string, timeout, minBackoff, maxBackoff time.Duration, queue int, ctr *counters) (*remote, error) {
	rdb, err := redisconn.Open(url, RedisTuning(timeout))
	if err != nil {
		return nil, fmt.Errorf("redis_url: %w", err)
	}
	r := &remote{
		rdb: rdb, timeout: timeout, ctr: ctr, bo: backoff.Backoff{Min: minBackoff, Max: maxBackoff},
		queue: make(chan setJob, queue), stop: make(chan struct{}),
	}
	r.wg.Add(1)
	go r.writer()
	return r, nil
}

func (r *remote) allow() bool { return r.bo.Allow() }

func (r *remote) succeeded() { r.bo.OK() }

func (r *remote) failed() {
	r.ctr.fail(tierRedis)
	r.bo.Fail()
}

// healthy reports whether the tier is currently in use.
func (r *remote) healthy() bool { return r.bo.Healthy() }

// get returns the stored bytes, nil on a miss, ErrRedisSkipped during
// back-off.
func (r *remote) get(key string) ([]byte, error) {
	if !r.allow() {
		r.ctr.skip()
		return nil, ErrRedisSkipped
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	b, err := r.rdb.Get(ctx, key).Bytes()
	cancel()
	switch {
	case err == nil:
		r.succeeded()
		return b, nil
	case errors.Is(err, redis.Nil):
		r.succeeded()
		return nil, nil
	}
	r.failed()
	return nil, err
}

// set queues a write; when the queue is full or the tier is backing off
// the write is dropped (counted as skipped): the entry still lives in memory.
func (r *remote) set(key string, val []byte, ttl time.Duration) {
	if r.bo.InPeriod() {
		r.ctr.skip()
		return
	}
	r.pending.Add(1)
	select {
	case r.queue <- setJob{key, val, ttl}:
	default:
		r.pending.Add(-1)
		r.ctr.skip()
	}
}

func (r *remote) writer() {
	defer r.wg.Done()
	for {
		select {
		case <-r.stop:
			return
		case j := <-r.queue:
			r.write(j)
			r.pending.Add(-1)
		}
	}
}

func (r *remote) write(j setJob) {
	if !r.allow() {
		r.ctr.skip()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	err := r.rdb.Set(ctx, j.key, j.val, j.ttl).Err()
	cancel()
	if err != nil {
		r.failed()
		return
	}
	r.succeeded()
	r.ctr.store(tierRedis)
}

// flush waits until the queued writes are done.
func (r *remote) flush(ctx context.Context) error {
	for r.pending.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// purge deletes the keys matching pattern; an admin operation bounded by
// ctx, not by the request timeout.
func (r *remote) purge(ctx context.Context, pattern string) (int, error) {
	return PurgeKeys(ctx, r.rdb, pattern)
}

// RedisTuning is the cache tiers' client tuning: every round trip bounded
// by timeout (dials by 4× it, at least 250 ms), no retries.
func RedisTuning(timeout time.Duration) redisconn.Tuning {
	return redisconn.Tuning{DialTimeout: max(4*timeout, 250*time.Millisecond), ReadTimeout: timeout, WriteTimeout: timeout,
		PoolTimeout: timeout, MaxRetries: -1, DialerRetries: 1, ContextTimeout: true}
}

// PurgeKeys deletes the keys matching pattern with SCAN and UNLINK on every
// master (a cluster's keys are spread over them) and returns how many it
// deleted. The semantic cache purges its records with it too.
func PurgeKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) (int, error) {
	var n atomic.Int64
	err := redisconn.ScanKeys(ctx, rdb, pattern, 1000, func(ctx context.Context, node *redis.Client, keys []string) error {
		// One UNLINK per key: in a cluster, keys of different slots may
		// not share a command even on one node.
		cmds, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys {
				p.Unlink(ctx, k)
			}
			return nil
		})
		for _, c := range cmds {
			if ic, ok := c.(*redis.IntCmd); ok {
				n.Add(ic.Val())
			}
		}
		return err
	})
	if err != nil {
		return int(n.Load()), fmt.Errorf("redis purge: %w", err)
	}
	return int(n.Load()), nil
}

func (r *remote) close() {
	close(r.stop)
	r.wg.Wait()
	_ = r.rdb.Close()
}
