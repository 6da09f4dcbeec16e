package cost

import (
	"sync"
	"time"
)

// OpenAICache simulates OpenAI's automatic prompt caching, following
// https://platform.openai.com/docs/guides/prompt-caching:
//
//   - caching is automatic for prompts of MinTokens (1024) tokens or more;
//   - a hit needs an exact prefix match, and the cached length grows in
//     Increment (128) token steps from 1024: cached_tokens is the longest
//     such prefix of this prompt that an earlier prompt (of the same model)
//     also had;
//   - a prefix stays cached for TTL after its last use. OpenAI says "5 to
//     10 minutes of inactivity, up to one hour off-peak"; the default here
//     is 10 minutes, the generous end for the baseline;
//   - a cache lives on a machine: a request is routed by a hash of its
//     first RouteTokens (256) tokens combined with its prompt_cache_key,
//     and when one prefix-and-key combination exceeds OverflowRPM (about
//     15) requests a minute, the further ones overflow to other machines,
//     which do not hold its cache (the guide's "Cache Routing" section,
//     https://developers.openai.com/api/docs/guides/prompt-caching, and
//     OpenAI's note "we route prompts by org, hashing the first ~256
//     tokens, and spillover to more machines ~15 RPM",
//     https://community.openai.com/t/prompt-cache-routing-the-user-parameter/1267103).
//     Here the n-th request of a minute for one route goes to machine
//     n / OverflowRPM; OverflowRPM 0 routes everything to one machine.
//
// A prompt is the token sequence of its rendered messages (tools first,
// then each message framed by role tokens), so equal bytes give equal
// tokens.
//
// # Notes
//
// Safe for concurrent use; the clock is the caller's.
type OpenAICache struct {
	TTL         time.Duration
	MinTokens   int
	Increment   int
	RouteTokens int
	OverflowRPM int

	mu      sync.Mutex
	entries map[uint64]time.Time   // machine- and model-qualified prefix hash (length included) → expiry
	routes  map[uint64][]time.Time // route → its requests in the last minute
}

// NewOpenAICache returns an empty cache: 1024-token minimum, 128-token
// increments, 10-minute TTL.
func NewOpenAICache() *OpenAICache {
	return &OpenAICache{TTL: 10 * time.Minute, MinTokens: 1024, Increment: 128, RouteTokens: 256, OverflowRPM: 15,
		entries: map[uint64]time.Time{}, routes: map[uint64][]time.Time{}}
}

// Reset forgets every entry.
func (c *OpenAICache) Reset() {
	c.mu.Lock()
	clear(c.entries)
	clear(c.routes)
	c.mu.Unlock()
}

// Process returns cached_tokens for a prompt made of the token segments
// (concatenated in order) sent to model at now, and caches the prompt's
// prefixes.
func (c *OpenAICache) Process(model string, now time.Time, segments [][]int, key string) int {
	total := 0
	for _, s := range segments {
		total += len(s)
	}
	// FNV-1a over the model, then over every token id; a boundary's key
	// mixes in its length.
	h := uint64(14695981039346656037)
	for i := 0; i < len(model); i++ {
		h = (h ^ uint64(model[i])) * 1099511628211
	}
	var bounds []uint64
	pos, next := 0, c.MinTokens
	route := uint64(0)
	for _, s := range segments {
		for _, id := range s {
			v := uint64(uint32(id))
			for k := 0; k < 4; k++ {
				h = (h ^ (v & 0xff)) * 1099511628211
				v >>= 8
			}
			pos++
			if pos == c.RouteTokens {
				route = h
			}
			if pos == next {
				bounds = append(bounds, h^uint64(pos)*0x9E3779B97F4A7C15)
				next += c.Increment
			}
		}
	}
	if pos < c.RouteTokens {
		route = h
	}
	for i := 0; i < len(key); i++ {
		route = (route ^ uint64(key[i])) * 1099511628211
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Which machine: the requests of this route in the last minute.
	machine := uint64(0)
	if c.OverflowRPM > 0 {
		recent := c.routes[route][:0]
		for _, t := range c.routes[route] {
			if now.Sub(t) < time.Minute {
				recent = append(recent, t)
			}
		}
		machine = uint64(len(recent) / c.OverflowRPM)
		c.routes[route] = append(recent, now)
	}
	if total < c.MinTokens {
		return 0
	}
	// A machine is the route's n-th: different routes land on different
	// machines (a pool far larger than the trace's routes).
	m := (route ^ machine) * 0xC2B2AE3D27D4EB4F
	for i := range bounds {
		bounds[i] ^= m
	}
	cached := 0
	for i := len(bounds) - 1; i >= 0; i-- {
		if exp, ok := c.entries[bounds[i]]; ok && now.Before(exp) {
			cached = c.MinTokens + i*c.Increment
			break
		}
	}
	for _, k := range bounds {
		c.entries[k] = now.Add(c.TTL)
	}
	return cached
}
