package cache

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Config configures a Cache. Zero values take the defaults below.
//
// # Notes
//
// A Config is copied by New; the Cache never changes it.
type Config struct {
	// MemoryMB bounds the in-process tier (bigcache); 0 disables it.
	MemoryMB int
	// HotEntries is the number of slots of the decoded hot set in front of
	// bigcache (default 1024, rounded up to a power of two; negative
	// disables it); HotMaxBytes is the largest entry it holds (default
	// 32 KiB). Together they bound its memory: 1024 × 32 KiB = 32 MiB at
	// most, on top of MemoryMB.
	HotEntries  int
	HotMaxBytes int
	// RedisURL enables the shared tier ("redis://host:6379/0").
	RedisURL string
	// RedisTimeout bounds every Redis read and write (default 50ms).
	RedisTimeout time.Duration
	// RedisBackoff is how long the Redis tier is skipped after a failure
	// (default 1s), doubling while failures repeat up to RedisMaxBackoff
	// (default 30s).
	RedisBackoff, RedisMaxBackoff time.Duration
	// RedisQueue bounds writes waiting for Redis (default 1024); beyond it
	// writes are dropped and counted.
	RedisQueue int
	// CompressBytes is the entry size from which stored values are
	// compressed with S2 (default 1024; negative: never).
	CompressBytes int
	// FlightTimeout bounds how long identical requests wait for the one
	// that went upstream before going themselves (default 60s).
	FlightTimeout time.Duration
	// Policy decides what is cached.
	Policy Policy
}

// Defaults for a zero Config.
const (
	DefaultHotEntries    = 1024
	DefaultHotMaxBytes   = 32 << 10
	DefaultRedisTimeout  = 50 * time.Millisecond
	DefaultRedisBackoff  = time.Second
	DefaultRedisMaxBack  = 30 * time.Second
	DefaultRedisQueue    = 1024
	DefaultCompressBytes = 1024
	DefaultFlightTimeout = 60 * time.Second
)

// Tiers reported by Get and Result.Tier.
const (
	TierMemory    = "memory"
	TierRedis     = "redis"
	TierCoalesced = "coalesced"
)

// Cache is the two-tier response cache with single-flight.
type Cache struct {
	cfg     Config
	policy  Policy
	mem     *memory
	rem     *remote
	ctr     counters
	flights flightGroup
	closed  atomic.Bool
}

// New validates cfg and starts the tiers it enables. Redis is not contacted
// here: an unreachable Redis at start-up is handled like one that fails
// later.
func New(cfg Config) (*Cache, error) {
	if cfg.HotEntries == 0 {
		cfg.HotEntries = DefaultHotEntries
	}
	if cfg.HotMaxBytes <= 0 {
		cfg.HotMaxBytes = DefaultHotMaxBytes
	}
	if cfg.RedisTimeout <= 0 {
		cfg.RedisTimeout = DefaultRedisTimeout
	}
	if cfg.RedisBackoff <= 0 {
		cfg.RedisBackoff = DefaultRedisBackoff
	}
	if cfg.RedisMaxBackoff < cfg.RedisBackoff {
		cfg.RedisMaxBackoff = max(DefaultRedisMaxBack, cfg.RedisBackoff)
	}
	if cfg.RedisQueue <= 0 {
		cfg.RedisQueue = DefaultRedisQueue
	}
	if cfg.CompressBytes == 0 {
		cfg.CompressBytes = DefaultCompressBytes
	}
	if cfg.FlightTimeout <= 0 {
		cfg.FlightTimeout = DefaultFlightTimeout
	}
	if cfg.MemoryMB < 0 {
		return nil, fmt.Errorf("cache memory_mb: %d is negative", cfg.MemoryMB)
	}
	c := &Cache{cfg: cfg, policy: cfg.Policy}
	// Copy the rule maps: the Policy must not change under the Cache.
	c.policy.Models, c.policy.Projects = cloneRules(cfg.Policy.Models), cloneRules(cfg.Policy.Projects)
	if err := c.policy.validate(); err != nil {
		return nil, err
	}
	c.flights.m = make(map[[32]byte]*flight)
	if cfg.MemoryMB > 0 {
		life := c.policy.TTL
		for _, r := range c.policy.Models {
			life = max(life, r.TTL)
		}
		for _, r := range c.policy.Projects {
			life = max(life, r.TTL)
		}
		m, err := newMemory(cfg.MemoryMB, cfg.HotEntries, cfg.HotMaxBytes, c.policy.MaxEntryBytes, life)
		if err != nil {
			return nil, err
		}
		c.mem = m
	}
	if cfg.RedisURL != "" {
		r, err := newRemote(cfg.RedisURL, cfg.RedisTimeout, cfg.RedisBackoff, cfg.RedisMaxBackoff, cfg.RedisQueue, &c.ctr)
		if err != nil {
			if c.mem != nil {
				c.mem.close()
			}
			return nil, err
		}
		c.rem = r
	}
	return c, nil
}

func cloneRules(m map[string]Rule) map[string]Rule {
	out := make(map[string]Rule, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Policy returns the cache's policy.
func (c *Cache) Policy() *Policy { return &c.policy }

// Close stops the Redis writer (dropping queued writes; call Flush first to
// keep them) and releases both tiers.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.rem != nil {
		c.rem.close()
	}
	if c.mem != nil {
		c.mem.close()
	}
	return nil
}

// Flush waits until queued Redis writes are written or dropped.
func (c *Cache) Flush(ctx context.Context) error {
	if c.rem == nil {
		return nil
	}
	return c.rem.flush(ctx)
}

// Get looks k up in memory, then in Redis (promoting a Redis hit to
// memory). It returns the entry and the tier that answered, or nil and "".
// A memory hit on a recently used entry allocates nothing. Redis errors are
// never returned: they count, open the back-off, and read as a miss.
func (c *Cache) Get(k *Key) (*Entry, string) {
	if c == nil || c.closed.Load() {
		return nil, ""
	}
	now := time.Now().Unix()
	if c.mem != nil {
		if e := c.mem.getHot(k, now); e != nil {
			c.ctr.hit(tierMemory)
			return e, TierMemory
		}
	}
	storeKey := string(appendStoreKey(make([]byte, 0, 160), k))
	if c.mem != nil {
		e, err := c.mem.get(k, storeKey, now)
		if err != nil {
			c.ctr.fail(tierMemory)
		}
		if e != nil {
			c.ctr.hit(tierMemory)
			return e, TierMemory
		}
		c.ctr.miss(tierMemory)
	}
	if c.rem == nil {
		return nil, ""
	}
	b, err := c.rem.get(storeKey)
	if err != nil || b == nil {
		if err == nil {
			c.ctr.miss(tierRedis)
		}
		return nil, ""
	}
	var e *Entry
	if e, err = decodeStored(b); err != nil || e.sum != k.Sum || e.Expires <= now {
		// Corrupt, colliding or expired (Redis TTLs are rounded): a miss.
		c.ctr.miss(tierRedis)
		if err != nil {
			c.ctr.fail(tierRedis)
		}
		return nil, ""
	}
	c.ctr.hit(tierRedis)
	if c.mem != nil {
		// b is owned by e; bigcache copies it.
		if err := c.mem.set(storeKey, b, e); err != nil {
			c.ctr.fail(tierMemory)
		}
	}
	return e, TierRedis
}

// Set stores e under k for ttl in both tiers, if the policy allows it (not
// larger than MaxEntryBytes, a cacheable finish reason, tool calls unless
// SkipToolCalls). The memory tier is written before Set returns; the Redis
// write is queued. e itself is not modified.
func (c *Cache) Set(k *Key, e *Entry, ttl time.Duration) error {
	if c == nil || c.closed.Load() {
		return ErrClosed
	}
	if err := c.policy.storable(e); err != nil {
		c.ctr.notStored.Add(1)
		mNotStored.Inc()
		return err
	}
	if ttl <= 0 {
		ttl = c.policy.TTL
	}
	expires := time.Now().Add(ttl + time.Second - 1).Unix()
	stored := appendStored(nil, e, k, expires, c.cfg.CompressBytes)
	storeKey := string(appendStoreKey(make([]byte, 0, 160), k))
	if c.mem != nil {
		h := *e
		h.Project, h.Provider, h.UpstreamModel = strings.Clone(k.Project), strings.Clone(k.Provider), strings.Clone(k.Model)
		h.Expires, h.sum = expires, k.Sum
		if err := c.mem.set(storeKey, stored, &h); err != nil {
			c.ctr.fail(tierMemory)
		} else {
			c.ctr.store(tierMemory)
		}
	}
	if c.rem != nil {
		c.rem.set(storeKey, stored, ttl)
	}
	return nil
}

// Purged counts the entries a Purge removed.
type Purged struct {
	Memory int `json:"memory"`
	Redis  int `json:"redis"`
}

// Purge removes entries from both tiers: all of them when project and model
// are empty, else those of the project and/or of the model ("provider/model",
// as in Key). The Redis part uses SCAN and UNLINK bounded by ctx; its error
// is returned after the memory tier has been purged.
func (c *Cache) Purge(ctx context.Context, project, model string) (Purged, error) {
	var p Purged
	if c == nil || c.closed.Load() {
		return p, ErrClosed
	}
	pseg, rseg := "", ""
	if project != "" {
		pseg = seg(project)
	}
	if model != "" {
		rseg = seg(model)
	}
	if c.mem != nil {
		p.Memory = c.mem.purge(pseg, rseg)
	}
	if c.rem != nil {
		pattern := keyPrefix + or(pseg, "*") + ":" + or(rseg, "*") + ":*"
		n, err := c.rem.purge(ctx, pattern)
		p.Redis = n
		if err != nil {
			c.ctr.fail(tierRedis)
			return p, err
		}
	}
	return p, nil
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// TierStats are one tier's counters since the Cache started.
type TierStats struct {
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
	Stores uint64 `json:"stores"`
	Errors uint64 `json:"errors"`
}

// MemoryStats describe the in-process tier.
type MemoryStats struct {
	TierStats
	Entries       int `json:"entries"`
	CapacityBytes int `json:"capacity_bytes"`
	HotEntries    int `json:"hot_entries"`
}

// RedisStats describe the Redis tier.
type RedisStats struct {
	TierStats
	Healthy       bool   `json:"healthy"`
	Skipped       uint64 `json:"skipped"`
	QueuedWrites  int64  `json:"queued_writes"`
	BackoffMillis int64  `json:"backoff_ms"`
}

// Stats is the state GET /admin/cache reports.
type Stats struct {
	Memory        *MemoryStats `json:"memory,omitempty"`
	Redis         *RedisStats  `json:"redis,omitempty"`
	CoalescedHits uint64       `json:"coalesced_hits"`
	NotStored     uint64       `json:"not_stored"`
	Bypassed      uint64       `json:"bypassed"`
	InFlight      int          `json:"in_flight"`
}

// Stats returns the counters and sizes.
func (c *Cache) Stats() Stats {
	var s Stats
	if c == nil {
		return s
	}
	ts := func(t tier) TierStats {
		return TierStats{c.ctr.hits[t].Load(), c.ctr.misses[t].Load(), c.ctr.stores[t].Load(), c.ctr.errors[t].Load()}
	}
	if c.mem != nil {
		s.Memory = &MemoryStats{TierStats: ts(tierMemory), Entries: c.mem.bc.Len(), CapacityBytes: c.mem.bc.Capacity(), HotEntries: c.mem.hotLen()}
	}
	if c.rem != nil {
		s.Redis = &RedisStats{TierStats: ts(tierRedis), Healthy: c.rem.healthy(), Skipped: c.ctr.skipped.Load(),
			QueuedWrites: c.rem.pending.Load(), BackoffMillis: c.rem.bo.Period().Milliseconds()}
	}
	s.CoalescedHits = c.ctr.hits[tierCoalesced].Load()
	s.NotStored = c.ctr.notStored.Load()
	s.Bypassed = c.ctr.bypass.Load()
	s.InFlight = c.flights.len()
	return s
}
