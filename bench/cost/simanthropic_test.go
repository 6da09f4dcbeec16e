package cost

import (
	"crypto/sha256"
	"strconv"
	"testing"
	"time"
)

// blocks builds a prompt of n blocks of size tokens each, with content
// label+index (so two prompts built with the same label share a prefix), and
// breakpoints at the given indexes.
func blocks(label string, n, size int, bps ...int) []Block {
	out := make([]Block, n)
	for i := range out {
		out[i] = Block{Hash: sha256.Sum256([]byte(label + strconv.Itoa(i))), Tokens: size}
	}
	for _, b := range bps {
		out[b].Breakpoint = true
	}
	return out
}

// hour gives the breakpoints at the given indexes the 1-hour TTL.
func hour(bs []Block, at ...int) []Block {
	for _, i := range at {
		bs[i].Hour = true
	}
	return bs
}

// withBlock returns bs with block i's content replaced.
func withBlock(bs []Block, i int, label string) []Block {
	out := append([]Block(nil), bs...)
	out[i].Hash = sha256.Sum256([]byte(label))
	return out
}

// TestAnthropicCache checks the read/write accounting against
// https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching:
// a breakpoint caches the prefix up to and including its block; a later
// request reads the longest prefix an earlier one wrote at a block boundary
// at or up to 20 blocks before one of its breakpoints; tokens between the
// read point and the last breakpoint are written (cache_creation_input_tokens),
// the rest after it are input_tokens; prefixes below the model's minimum are
// not cached; entries live 5 minutes, refreshed by each read; per model.
func TestAnthropicCache(t *testing.T) {
	t.Parallel()
	const model = "claude-sonnet-4-5"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at     time.Duration
		model  string
		blocks []Block
		want   AnthropicUsage
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"no breakpoint: all input, nothing cached", []step{
			{0, model, blocks("a", 10, 200), AnthropicUsage{Input: 2000}},
			{time.Second, model, blocks("a", 10, 200), AnthropicUsage{Input: 2000}},
		}},
		{"first request writes up to the breakpoint, the rest is input", []step{
			{0, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheCreation: 1600, Input: 400}},
		}},
		{"same prefix again within 5 minutes is read", []step{
			{0, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheCreation: 1600, Input: 400}},
			{4 * time.Minute, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheRead: 1600, Input: 400}},
		}},
		{"after 5 minutes without a read the entry is gone", []step{
			{0, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheCreation: 1600, Input: 400}},
			{5*time.Minute + time.Second, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheCreation: 1600, Input: 400}},
		}},
		{"a read refreshes the lifetime", []step{
			{0, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheCreation: 1600, Input: 400}},
			{4 * time.Minute, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheRead: 1600, Input: 400}},
			{8 * time.Minute, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheRead: 1600, Input: 400}},
		}},
		{"next turn: reads the previous final breakpoint, writes what was added", []step{
			{0, model, blocks("a", 10, 200, 9), AnthropicUsage{CacheCreation: 2000}},
			{30 * time.Second, model, blocks("a", 14, 200, 13), AnthropicUsage{CacheRead: 2000, CacheCreation: 800}},
		}},
		{"lookback reaches 20 blocks before a breakpoint", []step{
			{0, model, blocks("a", 10, 110, 9), AnthropicUsage{CacheCreation: 1100}},
			{time.Second, model, blocks("a", 30, 110, 29), AnthropicUsage{CacheRead: 1100, CacheCreation: 2200}},
		}},
		{"but not 21", []step{
			{0, model, blocks("a", 10, 110, 9), AnthropicUsage{CacheCreation: 1100}},
			{time.Second, model, blocks("a", 31, 110, 30), AnthropicUsage{CacheCreation: 3410}},
		}},
		{"a second breakpoint within the window of the old entry finds it", []step{
			{0, model, blocks("a", 10, 110, 9), AnthropicUsage{CacheCreation: 1100}},
			{time.Second, model, blocks("a", 40, 110, 12, 39), AnthropicUsage{CacheRead: 1100, CacheCreation: 3300}},
		}},
		{"several breakpoints: the first request writes to the last one", []step{
			{0, model, blocks("a", 20, 100, 5, 12, 18), AnthropicUsage{CacheCreation: 1900, Input: 100}},
			// Another conversation with the same first 13 blocks reads the
			// entry at block 12.
			{time.Second, model, append(blocks("a", 13, 100, 5, 12), blocks("b", 7, 100, 6)...), AnthropicUsage{CacheRead: 1300, CacheCreation: 700}},
		}},
		{"a changed early block invalidates every later prefix", []step{
			{0, model, blocks("a", 10, 200, 9), AnthropicUsage{CacheCreation: 2000}},
			{time.Second, model, withBlock(blocks("a", 10, 200, 9), 2, "edited"), AnthropicUsage{CacheCreation: 2000}},
		}},
		{"below the minimum (1024 for Sonnet): not cached, no error", []step{
			{0, model, blocks("a", 10, 100, 9), AnthropicUsage{Input: 1000}},
			{time.Second, model, blocks("a", 10, 100, 9), AnthropicUsage{Input: 1000}},
		}},
		{"only the breakpoints that reach the minimum write", []step{
			{0, model, blocks("a", 20, 100, 5, 15), AnthropicUsage{CacheCreation: 1600, Input: 400}},
			{time.Second, model, blocks("a", 20, 100, 5, 15), AnthropicUsage{CacheRead: 1600, Input: 400}},
		}},
		{"Haiku 4.5's minimum is 4096", []step{
			{0, "claude-haiku-4-5", blocks("a", 10, 400, 9), AnthropicUsage{Input: 4000}},
			{time.Second, "claude-haiku-4-5", blocks("a", 11, 400, 10), AnthropicUsage{CacheCreation: 4400}},
		}},
		{"a 1-hour entry outlives 5 minutes, and its read refreshes it for an hour", []step{
			{0, model, hour(blocks("a", 10, 200, 7), 7), AnthropicUsage{CacheCreation: 1600, CacheCreation1h: 1600, Input: 400}},
			{40 * time.Minute, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheRead: 1600, Input: 400}},
			{95 * time.Minute, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheRead: 1600, Input: 400}},
			{156 * time.Minute, model, blocks("a", 10, 200, 7), AnthropicUsage{CacheCreation: 1600, Input: 400}},
		}},
		{"mixed TTLs: A read, B − A at 1 hour, C − B at 5 minutes", []step{
			{0, model, blocks("a", 20, 100, 11), AnthropicUsage{CacheCreation: 1200, Input: 800}},
			{time.Second, model, hour(blocks("a", 20, 100, 11, 15, 19), 11, 15), AnthropicUsage{CacheRead: 1200, CacheCreation: 800, CacheCreation1h: 400}},
			// The 5-minute entry at block 19 is gone after 6 minutes; the
			// 1-hour one at block 15 is read.
			{6*time.Minute + time.Second, model, blocks("a", 20, 100, 19), AnthropicUsage{CacheRead: 1600, CacheCreation: 400}},
		}},
		{"entries are per model", []step{
			{0, model, blocks("a", 10, 200, 9), AnthropicUsage{CacheCreation: 2000}},
			{time.Second, "claude-opus-4-1", blocks("a", 10, 200, 9), AnthropicUsage{CacheCreation: 2000}},
			{2 * time.Second, model, blocks("a", 10, 200, 9), AnthropicUsage{CacheRead: 2000}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewAnthropicCache()
			for i, s := range tt.steps {
				got := c.Process(s.model, t0.Add(s.at), s.blocks)
				if got != s.want {
					t.Fatalf("step %d: usage %+v, want %+v", i, got, s.want)
				}
				total := 0
				for _, b := range s.blocks {
					total += b.Tokens
				}
				if got.Total() != total {
					t.Fatalf("step %d: input + read + creation = %d, want the prompt's %d", i, got.Total(), total)
				}
			}
		})
	}
}

func TestMinCacheableTokens(t *testing.T) {
	t.Parallel()
	for model, want := range map[string]int{
		"claude-sonnet-4-5": 1024, "claude-sonnet-4-0": 1024, "claude-opus-4-1": 1024,
		"claude-opus-4-5": 4096, "claude-haiku-4-5": 4096, "claude-3-5-haiku-latest": 2048,
	} {
		if got := MinCacheableTokens(model); got != want {
			t.Errorf("MinCacheableTokens(%q) = %d, want %d", model, got, want)
		}
	}
}

// TestTTLOrder checks the guide's rule that 1-hour breakpoints come before
// 5-minute ones (the fake answers 400 otherwise).
func TestTTLOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bs   []Block
		bad  bool
	}{
		{"all 5 minutes", blocks("a", 6, 10, 1, 4), false},
		{"all 1 hour", hour(blocks("a", 6, 10, 1, 4), 1, 4), false},
		{"1 hour then 5 minutes", hour(blocks("a", 6, 10, 1, 4), 1), false},
		{"5 minutes then 1 hour", hour(blocks("a", 6, 10, 1, 4), 4), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := TTLOrderError(tt.bs) != ""; got != tt.bad {
				t.Fatalf("TTLOrderError: %v, want %v", got, tt.bad)
			}
		})
	}
}
