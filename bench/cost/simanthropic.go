package cost

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// Block is one prompt block as Anthropic's prompt cache sees it: a tool
// definition, a system block, or a content block of a message, in prompt
// order (tools, then system, then messages).
type Block struct {
	// Hash identifies the block's content (the cache_control marker
	// excluded: it is not part of the matched content).
	Hash [32]byte
	// Tokens is what the block adds to the prompt.
	Tokens int
	// Breakpoint is set when the block carries cache_control.
	Breakpoint bool
	// Hour is set when that cache_control asks for the 1-hour TTL
	// ("ttl": "1h").
	Hour bool
}

// AnthropicUsage is the input side of Anthropic's usage object.
type AnthropicUsage struct {
	// Input is input_tokens: the tokens after the last cache breakpoint, or
	// every token when nothing was read or written.
	Input int
	// CacheRead is cache_read_input_tokens; CacheCreation is
	// cache_creation_input_tokens.
	CacheRead, CacheCreation int
	// CacheCreation1h is the part of CacheCreation written with the 1-hour
	// TTL (usage.cache_creation.ephemeral_1h_input_tokens; the rest is
	// ephemeral_5m_input_tokens).
	CacheCreation1h int
}

// Total is the prompt's size: input + cache read + cache creation.
func (u AnthropicUsage) Total() int { return u.Input + u.CacheRead + u.CacheCreation }

// AnthropicCache simulates Anthropic's prompt cache, following
// https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching:
//
//   - the cached prefix is built in the order tools, system, messages, and a
//     breakpoint (cache_control on a block) caches everything up to and
//     including that block;
//   - at each breakpoint the system looks for an entry written by an earlier
//     request at that block boundary or at most LookbackBlocks (20) blocks
//     before it, and reads the longest one found;
//   - prefixes shorter than the model's minimum cacheable length are not
//     cached (no write, no error);
//   - every breakpoint after the read point whose prefix reaches the minimum
//     writes an entry; cache_creation_input_tokens counts the tokens from the
//     read point to the last such breakpoint, cache_read_input_tokens the
//     tokens up to the read point, and input_tokens the rest (the tokens
//     after the last breakpoint) — so input + read + creation is the prompt;
//   - entries live TTL (5 minutes) and a read refreshes them; entries are
//     per model;
//   - a breakpoint with "ttl": "1h" writes an entry that lives an hour
//     (LongTTL), refreshed by each read for its own lifetime. With mixed
//     TTLs the guide's "Mixing different TTLs" billing applies: A is the
//     highest hit, B the highest 1-hour breakpoint after A (A if none),
//     C the last breakpoint; A is read, B − A written at the 1-hour price
//     (2× input), C − B at the 5-minute price (1.25×). A 5-minute
//     breakpoint before a 1-hour one is a 400 (longer TTLs first), checked
//     by the fake's handler (TTLOrderError).
//
// # Notes
//
// Safe for concurrent use. The clock is the caller's (the replay's
// simulated time), passed to Process.
type AnthropicCache struct {
	// TTL is an entry's lifetime, refreshed by each read (default 5m).
	TTL time.Duration
	// MinTokens returns the minimum cacheable prompt length of a model
	// (default MinCacheableTokens).
	MinTokens func(model string) int

	// LongTTL is the lifetime of an entry written with "ttl": "1h".
	LongTTL time.Duration

	mu      sync.Mutex
	entries map[[32]byte]anEntry // model-qualified prefix hash → entry
}

type anEntry struct {
	exp  time.Time
	hour bool
}

// LookbackBlocks is how many block boundaries before a breakpoint Anthropic
// checks for an earlier entry.
const LookbackBlocks = 20

// MinCacheableTokens is Anthropic's minimum cacheable prompt length: 4096 for
// Claude Opus 4.5 and Haiku 4.5, 2048 for Haiku 3 and 3.5, 1024 for the other
// models (Sonnet 4.5, 4, 3.7, Opus 4.1, 4).
func MinCacheableTokens(model string) int {
	switch {
	case strings.HasPrefix(model, "claude-opus-4-5"), strings.HasPrefix(model, "claude-haiku-4-5"):
		return 4096
	case strings.Contains(model, "haiku"):
		return 2048
	}
	return 1024
}

// NewAnthropicCache returns an empty cache with a 5-minute TTL.
func NewAnthropicCache() *AnthropicCache {
	return &AnthropicCache{TTL: 5 * time.Minute, LongTTL: time.Hour, MinTokens: MinCacheableTokens, entries: map[[32]byte]anEntry{}}
}

// Reset forgets every entry.
func (c *AnthropicCache) Reset() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

// Process returns the usage of one request to model at now, and records the
// entries it writes.
func (c *AnthropicCache) Process(model string, now time.Time, blocks []Block) AnthropicUsage {
	n := len(blocks)
	keys := make([][32]byte, n)
	cum := make([]int, n)
	seed := sha256.Sum256([]byte("model\x00" + model))
	prev, total := seed, 0
	var bps []int
	for i, b := range blocks {
		var buf [64]byte
		copy(buf[:32], prev[:])
		copy(buf[32:], b.Hash[:])
		prev = sha256.Sum256(buf[:])
		keys[i] = prev
		total += b.Tokens
		cum[i] = total
		if b.Breakpoint {
			bps = append(bps, i)
		}
	}
	if len(bps) == 0 {
		return AnthropicUsage{Input: total}
	}
	min := c.MinTokens(model)
	c.mu.Lock()
	defer c.mu.Unlock()
	live := func(i int) bool {
		e, ok := c.entries[keys[i]]
		return ok && now.Before(e.exp)
	}
	ttl := func(hour bool) time.Duration {
		if hour {
			return c.LongTTL
		}
		return c.TTL
	}
	read := -1
	for _, b := range bps {
		for j := b; j >= 0 && j >= b-LookbackBlocks; j-- {
			if j <= read {
				break
			}
			if live(j) {
				read = j
				break
			}
		}
	}
	u := AnthropicUsage{}
	start := 0
	if read >= 0 {
		e := c.entries[keys[read]]
		e.exp = now.Add(ttl(e.hour))
		c.entries[keys[read]] = e
		u.CacheRead = cum[read]
		start = cum[read]
	}
	last, lastHour := -1, -1
	for _, b := range bps {
		if b > read && cum[b] >= min {
			h := blocks[b].Hour
			c.entries[keys[b]] = anEntry{exp: now.Add(ttl(h)), hour: h}
			last = b
			if blocks[b].Hour {
				lastHour = b
			}
		}
	}
	if last >= 0 {
		u.CacheCreation = cum[last] - start
	}
	if lastHour >= 0 {
		u.CacheCreation1h = cum[lastHour] - start
	}
	u.Input = total - u.CacheRead - u.CacheCreation
	return u
}

// TTLOrderError reports a 5-minute breakpoint before a 1-hour one: the
// guide requires longer TTLs first (tools, system, messages order), and the
// API answers 400. It returns "" when the order is valid.
func TTLOrderError(blocks []Block) string {
	short := false
	for _, b := range blocks {
		switch {
		case !b.Breakpoint:
		case !b.Hour:
			short = true
		case short:
			return "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block"
		}
	}
	return ""
}
