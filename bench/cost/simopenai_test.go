package cost

import (
	"testing"
	"time"
)

func seq(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// TestOpenAICache checks the simulation of
// https://platform.openai.com/docs/guides/prompt-caching: prompts of 1024
// tokens or more are cached automatically; a hit needs an exact prefix match
// and grows in 128-token steps from 1024; a prefix lives for the TTL since
// its last use (10 minutes here); caches are per model.
func TestOpenAICache(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at    time.Duration
		model string
		segs  [][]int
		want  int
		key   string
	}
	shared := seq(0, 1500)
	tests := []struct {
		name  string
		steps []step
	}{
		{"below 1024 tokens: never cached", []step{
			{0, "gpt-4.1", [][]int{seq(0, 1000)}, 0, ""},
			{time.Second, "gpt-4.1", [][]int{seq(0, 1000)}, 0, ""},
		}},
		{"first request: nothing cached", []step{
			{0, "gpt-4.1", [][]int{seq(0, 2000)}, 0, ""},
		}},
		{"identical prompt: the longest 1024+128k prefix", []step{
			{0, "gpt-4.1", [][]int{seq(0, 2000)}, 0, ""},
			{time.Second, "gpt-4.1", [][]int{seq(0, 2000)}, 1920, ""},
		}},
		{"shared 1500-token prefix, then different", []step{
			{0, "gpt-4.1", [][]int{shared, seq(10000, 600)}, 0, ""},
			{time.Second, "gpt-4.1", [][]int{shared, seq(20000, 900)}, 1408, ""},
		}},
		{"segment boundaries do not matter, tokens do", []step{
			{0, "gpt-4.1", [][]int{seq(0, 700), seq(700, 800)}, 0, ""},
			{time.Second, "gpt-4.1", [][]int{seq(0, 1500)}, 1408, ""},
		}},
		{"a longer next turn reads the whole previous prompt's boundary", []step{
			{0, "gpt-4.1", [][]int{seq(0, 1200)}, 0, ""},
			{time.Second, "gpt-4.1", [][]int{seq(0, 1200), seq(5000, 400)}, 1152, ""},
		}},
		{"a shorter shared prefix than 1024: no hit", []step{
			{0, "gpt-4.1", [][]int{seq(0, 1000), seq(5000, 500)}, 0, ""},
			{time.Second, "gpt-4.1", [][]int{seq(0, 1000), seq(9000, 500)}, 0, ""},
		}},
		{"expired after the TTL", []step{
			{0, "gpt-4.1", [][]int{seq(0, 2000)}, 0, ""},
			{10*time.Minute + time.Second, "gpt-4.1", [][]int{seq(0, 2000)}, 0, ""},
		}},
		{"each use refreshes the TTL", []step{
			{0, "gpt-4.1", [][]int{seq(0, 2000)}, 0, ""},
			{9 * time.Minute, "gpt-4.1", [][]int{seq(0, 2000)}, 1920, ""},
			{18 * time.Minute, "gpt-4.1", [][]int{seq(0, 2000)}, 1920, ""},
		}},
		{"overflow: the 16th request of a minute for one prefix lands on another machine", func() []step {
			var st []step
			for i := 0; i < 15; i++ {
				want := 1920
				if i == 0 {
					want = 0
				}
				st = append(st, step{time.Duration(i) * time.Second, "gpt-4.1", [][]int{seq(0, 2000)}, want, ""})
			}
			st = append(st, step{15 * time.Second, "gpt-4.1", [][]int{seq(0, 2000)}, 0, ""})
			// A minute later the first machine takes it again.
			return append(st, step{80 * time.Second, "gpt-4.1", [][]int{seq(0, 2000)}, 1920, ""})
		}()},
		{"a prompt_cache_key is part of the route", []step{
			{0, "gpt-4.1", [][]int{seq(0, 2000)}, 0, "a"},
			{time.Second, "gpt-4.1", [][]int{seq(0, 2000)}, 0, "b"},
			{2 * time.Second, "gpt-4.1", [][]int{seq(0, 2000)}, 1920, "a"},
		}},
		{"per model", []step{
			{0, "gpt-4.1", [][]int{seq(0, 2000)}, 0, ""},
			{time.Second, "gpt-4o", [][]int{seq(0, 2000)}, 0, ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewOpenAICache()
			for i, s := range tt.steps {
				if got := c.Process(s.model, t0.Add(s.at), s.segs, s.key); got != s.want {
					t.Fatalf("step %d: cached %d, want %d", i, got, s.want)
				}
			}
		})
	}
}
