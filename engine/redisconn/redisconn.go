// Package redisconn opens the gateway's Redis clients from one URL: a
// single server, a Redis Cluster or a Sentinel-managed primary, all as
// go-redis's UniversalClient.
//
// URLs:
//
//	redis://[user:pass@]host:port/db         one server (rediss:// with TLS)
//	redis+cluster://[user:pass@]host:port?addr=host2:port2&addr=…
//	                                          Redis Cluster, from seed nodes
//	redis+sentinel://[user:pass@]sentinel:port?master_name=NAME&addr=…
//	                                          the primary that Sentinel names
//
// rediss+cluster:// and rediss+sentinel:// add TLS. The query accepts
// go-redis's option names (dial_timeout, …; see ParseClusterURL and
// ParseFailoverURL); Tuning then overrides the timeouts and retries.
package redisconn

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Tuning is what each use of Redis sets for itself: its deadlines and
// retries. Zero fields keep go-redis's defaults.
type Tuning struct {
	DialTimeout, ReadTimeout, WriteTimeout, PoolTimeout time.Duration
	// MaxRetries: -1 for none.
	MaxRetries    int
	DialerRetries int
	// ContextTimeout makes the socket honour context deadlines.
	ContextTimeout bool
}

// Kind says which topology a URL names.
type Kind int

// The topologies.
const (
	Single Kind = iota
	Cluster
	Sentinel
)

// KindOf reports the topology of url from its scheme.
func KindOf(url string) Kind {
	switch {
	case strings.HasPrefix(url, "redis+cluster://"), strings.HasPrefix(url, "rediss+cluster://"):
		return Cluster
	case strings.HasPrefix(url, "redis+sentinel://"), strings.HasPrefix(url, "rediss+sentinel://"):
		return Sentinel
	}
	return Single
}

// Open parses url and returns a client tuned by t (the caller closes it).
func Open(url string, t Tuning) (redis.UniversalClient, error) {
	off := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch KindOf(url) {
	case Cluster:
		o, err := redis.ParseClusterURL(plainScheme(url))
		if err != nil {
			return nil, fmt.Errorf("redis cluster url: %w", err)
		}
		t.apply(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries, &o.DialerRetries, &o.ContextTimeoutEnabled)
		o.MaintNotificationsConfig = off
		return redis.NewClusterClient(o), nil
	case Sentinel:
		o, err := redis.ParseFailoverURL(plainScheme(url))
		if err != nil {
			return nil, fmt.Errorf("redis sentinel url: %w", err)
		}
		if o.MasterName == "" {
			return nil, fmt.Errorf("redis sentinel url: master_name is required")
		}
		t.apply(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries, &o.DialerRetries, &o.ContextTimeoutEnabled)
		return redis.NewFailoverClient(o), nil
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	t.apply(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.MaxRetries, &o.DialerRetries, &o.ContextTimeoutEnabled)
	o.MaintNotificationsConfig = off
	return redis.NewClient(o), nil
}

// apply sets the options' fields that t sets, keeping the URL's for the
// others; every client kind has the same fields under its own options type.
func (t Tuning) apply(dial, read, write, pool *time.Duration, maxRetries, dialerRetries *int, ctxTimeout *bool) {
	*dial, *read, *write, *pool = or(t.DialTimeout, *dial), or(t.ReadTimeout, *read), or(t.WriteTimeout, *write), or(t.PoolTimeout, *pool)
	if t.MaxRetries != 0 {
		*maxRetries = t.MaxRetries
	}
	if t.DialerRetries != 0 {
		*dialerRetries = t.DialerRetries
	}
	*ctxTimeout = *ctxTimeout || t.ContextTimeout
}

func plainScheme(url string) string {
	url = strings.Replace(url, "+cluster://", "://", 1)
	return strings.Replace(url, "+sentinel://", "://", 1)
}

func or(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

// ForEachMaster calls fn with a client of every node that holds keys: each
// master of a cluster, or the one server.
func ForEachMaster(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, *redis.Client) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, fn)
	}
	if c, ok := rdb.(*redis.Client); ok {
		return fn(ctx, c)
	}
	return fmt.Errorf("redisconn: unexpected client %T", rdb)
}

// ScanKeys calls fn with every key matching pattern on every master, in
// batches of up to count.
func ScanKeys(ctx context.Context, rdb redis.UniversalClient, pattern string, count int64, fn func(ctx context.Context, node *redis.Client, keys []string) error) error {
	return ForEachMaster(ctx, rdb, func(ctx context.Context, node *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, pattern, count).Result()
			if err != nil {
				return err
			}
			if len(keys) > 0 {
				if err := fn(ctx, node, keys); err != nil {
					return err
				}
			}
			if next == 0 {
				return nil
			}
			cursor = next
		}
	})
}
