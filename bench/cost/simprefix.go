package cost

import (
	"sync"
	"time"
)

// PrefixCache simulates an automatic prefix cache that bills no write
// premium and has no cache_control: Gemini's implicit caching and
// DeepSeek's context caching on disk. A prompt is a token sequence cut into
// segments (the tools, each message's role framing and parts); a hit is the
// longest stored prefix unit this prompt starts with.
//
// Gemini (NewGeminiCache), after
// https://ai.google.dev/gemini-api/docs/caching#implicit-caching: implicit
// caching is on for Gemini 2.5 and newer models; a prompt shorter than the
// model's minimum (2,048 tokens for 2.5 Flash and 2.5 Pro, 4,096 for the 3.x
// models, per the docs' table) is not cached; hits come back as
// usageMetadata.cachedContentTokenCount and are billed at the context-cache
// price (https://ai.google.dev/gemini-api/docs/pricing). The guide says
// neither at what granularity a prefix matches nor how long it lives ("send
// requests with similar prefix in a short amount of time"); here every
// segment boundary of a prompt is a unit, and a unit lives 10 minutes after
// its last use, as the OpenAI fake's generous end.
//
// DeepSeek (NewDeepSeekCache), after
// https://api-docs.deepseek.com/guides/kv_cache: caching is on for every
// user; a request hits only a prefix that was persisted as a complete
// "cache prefix unit", and units are persisted (1) at the end of each
// request's input (and of its output: not simulated, since the next turn's
// rendering of the answer is the client's), (2) at a common prefix the
// system detects between requests (here: the longest segment boundary this
// prompt shares with an earlier one, persisted for later requests, not for
// this one), (3) at fixed token intervals in long inputs (the interval is
// not published; 4,096 tokens here). Hits come back as
// usage.prompt_cache_hit_tokens, the rest as prompt_cache_miss_tokens;
// unused units are cleared "within a few hours to a few days": TTL 6 hours,
// longer than the trace.
//
// # Notes
//
// Safe for concurrent use; the clock is the caller's.
type PrefixCache struct {
	// MinTokens returns the model's minimum cacheable prompt (0: none).
	MinTokens func(model string) int
	TTL       time.Duration
	// EveryBoundary makes each segment boundary a unit (Gemini); otherwise
	// the end of the prompt, the intervals and detected common prefixes are
	// (DeepSeek).
	EveryBoundary bool
	Interval      int

	mu    sync.Mutex
	units map[uint64]time.Time // model-qualified prefix hash → expiry
	seen  map[uint64]time.Time // segment-boundary prefixes sent (DeepSeek's common-prefix detection)
}

// NewGeminiCache returns Gemini's implicit cache.
func NewGeminiCache() *PrefixCache {
	return &PrefixCache{MinTokens: geminiMinTokens, TTL: 10 * time.Minute, EveryBoundary: true,
		units: map[uint64]time.Time{}, seen: map[uint64]time.Time{}}
}

// NewDeepSeekCache returns DeepSeek's context cache on disk.
func NewDeepSeekCache() *PrefixCache {
	return &PrefixCache{MinTokens: func(string) int { return 0 }, TTL: 6 * time.Hour, Interval: 4096,
		units: map[uint64]time.Time{}, seen: map[uint64]time.Time{}}
}

func geminiMinTokens(model string) int {
	switch {
	case len(model) >= 10 && model[:10] == "gemini-2.5":
		return 2048
	case len(model) >= 8 && model[:8] == "gemini-2", len(model) >= 8 && model[:8] == "gemini-1":
		return 1 << 30 // implicit caching is for 2.5 and newer only
	}
	return 4096
}

// Reset forgets every unit.
func (c *PrefixCache) Reset() {
	c.mu.Lock()
	clear(c.units)
	clear(c.seen)
	c.mu.Unlock()
}

type boundary struct {
	pos   int
	h     uint64
	isSeg bool // a segment's end (else an interval's)
}

// Process returns the cached prefix length of a prompt made of segments
// sent to model at now, and stores its units.
func (c *PrefixCache) Process(model string, now time.Time, segments [][]int) int {
	h := uint64(14695981039346656037)
	for i := 0; i < len(model); i++ {
		h = (h ^ uint64(model[i])) * 1099511628211
	}
	var bs []boundary
	pos := 0
	for _, s := range segments {
		for _, id := range s {
			v := uint64(uint32(id))
			for k := 0; k < 4; k++ {
				h = (h ^ (v & 0xff)) * 1099511628211
				v >>= 8
			}
			pos++
			if c.Interval > 0 && pos%c.Interval == 0 {
				bs = append(bs, boundary{pos, h ^ uint64(pos)*0x9E3779B97F4A7C15, false})
			}
		}
		if len(s) > 0 {
			bs = append(bs, boundary{pos, h ^ uint64(pos)*0x9E3779B97F4A7C15, true})
		}
	}
	total := pos
	min := c.MinTokens(model)
	c.mu.Lock()
	defer c.mu.Unlock()
	alive := func(m map[uint64]time.Time, k uint64) bool {
		exp, ok := m[k]
		return ok && now.Before(exp)
	}
	cached := 0
	for i := len(bs) - 1; i >= 0; i-- {
		if bs[i].pos >= min && alive(c.units, bs[i].h) {
			cached = bs[i].pos
			c.units[bs[i].h] = now.Add(c.TTL)
			break
		}
	}
	if total < min {
		return 0
	}
	if c.EveryBoundary {
		for _, b := range bs {
			if b.pos >= min {
				c.units[b.h] = now.Add(c.TTL)
			}
		}
		return cached
	}
	// DeepSeek: the longest segment boundary an earlier request also sent
	// becomes a unit (common-prefix detection), then this prompt's end and
	// its intervals.
	for i := len(bs) - 1; i >= 0; i-- {
		if bs[i].isSeg && bs[i].pos > cached && alive(c.seen, bs[i].h) {
			c.units[bs[i].h] = now.Add(c.TTL)
			break
		}
	}
	for _, b := range bs {
		if b.isSeg {
			c.seen[b.h] = now.Add(c.TTL)
		} else {
			c.units[b.h] = now.Add(c.TTL)
		}
	}
	// The end of the input: the last message's end, before the tokens that
	// prime the reply (which the next turn's prompt has not there).
	end := len(bs) - 1
	if n := len(segments); n > 0 && len(segments[n-1]) > 0 && segments[n-1][0] == tokPrime {
		for end >= 0 && (!bs[end].isSeg || bs[end].pos == total) {
			end--
		}
	}
	if end >= 0 {
		c.units[bs[end].h] = now.Add(c.TTL)
	}
	return cached
}
