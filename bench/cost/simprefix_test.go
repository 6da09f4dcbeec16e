package cost

import (
	"testing"
	"time"
)

// TestDeepSeekCache checks the simulation of
// https://api-docs.deepseek.com/guides/kv_cache: a request hits only a
// complete cache prefix unit; units are the end of a request's input (its
// example 1: A+B, then A+B+C hits A+B), a common prefix detected between two
// requests (its example 2: A+B, then A+C misses, then A+D hits A) and fixed
// intervals of long inputs.
func TestDeepSeekCache(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	A, B, C, D := seq(0, 300), seq(1000, 200), seq(2000, 100), seq(3000, 50)
	prime := []int{tokPrime, roleToken("assistant"), tokSep}
	c := NewDeepSeekCache()
	if got := c.Process("deepseek-chat", t0, [][]int{A, B, prime}); got != 0 {
		t.Fatalf("first request: %d cached", got)
	}
	if got := c.Process("deepseek-chat", t0.Add(time.Second), [][]int{A, B, C, prime}); got != 500 {
		t.Fatalf("A+B+C after A+B: %d cached, want 500 (A+B, the first input's end)", got)
	}
	c = NewDeepSeekCache()
	c.Process("deepseek-chat", t0, [][]int{A, B, prime})
	if got := c.Process("deepseek-chat", t0.Add(time.Second), [][]int{A, C, prime}); got != 0 {
		t.Fatalf("A+C after A+B: %d cached, want 0 (A is no unit yet)", got)
	}
	if got := c.Process("deepseek-chat", t0.Add(2*time.Second), [][]int{A, D, prime}); got != 300 {
		t.Fatalf("A+D after A+B, A+C: %d cached, want 300 (the common prefix A)", got)
	}
	if got := c.Process("deepseek-reasoner", t0.Add(3*time.Second), [][]int{A, D, prime}); got != 0 {
		t.Fatalf("another model: %d cached", got)
	}
	// Long inputs: a unit every 4096 tokens, also inside one segment.
	c = NewDeepSeekCache()
	long := seq(0, 9000)
	c.Process("deepseek-chat", t0, [][]int{long, prime})
	if got := c.Process("deepseek-chat", t0.Add(time.Second), [][]int{seq(0, 8500), seq(50000, 10), prime}); got != 8192 {
		t.Fatalf("a longer prefix than an interval: %d cached, want 8192", got)
	}
	if got := c.Process("deepseek-chat", t0.Add(7*time.Hour), [][]int{long, prime}); got != 0 {
		t.Fatalf("after the TTL: %d cached", got)
	}
}

// TestGeminiCache checks the simulation of
// https://ai.google.dev/gemini-api/docs/caching#implicit-caching: on for
// Gemini 2.5 models, with a 2,048-token minimum; a hit is the longest
// stored prefix (at a part boundary here); entries expire (10 minutes here).
func TestGeminiCache(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sys, turn1, turn2 := seq(0, 2500), seq(10000, 400), seq(20000, 300)
	c := NewGeminiCache()
	if got := c.Process("gemini-2.5-pro", t0, [][]int{sys, turn1}); got != 0 {
		t.Fatalf("first request: %d cached", got)
	}
	if got := c.Process("gemini-2.5-pro", t0.Add(time.Minute), [][]int{sys, turn1, turn2}); got != 2900 {
		t.Fatalf("second turn: %d cached, want 2900", got)
	}
	if got := c.Process("gemini-2.5-pro", t0.Add(2*time.Minute), [][]int{sys, turn2}); got != 2500 {
		t.Fatalf("shared system part: %d cached, want 2500", got)
	}
	if got := c.Process("gemini-2.5-pro", t0.Add(15*time.Minute), [][]int{sys, turn2}); got != 0 {
		t.Fatalf("after 13 idle minutes: %d cached", got)
	}
	short := [][]int{seq(0, 1500), seq(5000, 100)}
	c.Process("gemini-2.5-flash", t0, short)
	if got := c.Process("gemini-2.5-flash", t0.Add(time.Second), short); got != 0 {
		t.Fatalf("below the 2,048-token minimum: %d cached", got)
	}
	long := [][]int{sys, turn1}
	c.Process("gemini-2.0-flash", t0, long)
	if got := c.Process("gemini-2.0-flash", t0.Add(time.Second), long); got != 0 {
		t.Fatalf("gemini-2.0-flash has no implicit caching: %d cached", got)
	}
}
