package accounting

import (
	"math"
	"sync/atomic"
	"testing"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/providers"
)

var sonnet = &catalog.Model{Name: "anthropic/claude-sonnet-4-5", Provider: "anthropic", InputPrice: 3, OutputPrice: 15, CachedPrice: 0.3, CacheWritePrice: 3.75}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestCost(t *testing.T) {
	mini := &catalog.Model{Name: "openai/gpt-4o-mini", InputPrice: 0.15, OutputPrice: 0.6}
	tests := []struct {
		name string
		m    *catalog.Model
		u    providers.Usage
		want float64
	}{
		{"no usage", sonnet, providers.Usage{PromptTokens: 1000}, 0},
		{"no model", nil, providers.Usage{PromptTokens: 1000, Set: true}, 0},
		{"plain", sonnet, providers.Usage{PromptTokens: 1_000_000, CompletionTokens: 1_000_000, Set: true}, 18},
		{"cache read and write", sonnet, providers.Usage{PromptTokens: 3_000_000, CachedTokens: 1_000_000, CacheWriteTokens: 1_000_000, Set: true}, 3 + 0.3 + 3.75},
		// 1-hour writes cost 2× input ($6), the rest of the writes the
		// cache-write price ($3.75).
		{"1-hour cache writes", sonnet, providers.Usage{PromptTokens: 3_000_000, CachedTokens: 1_000_000, CacheWriteTokens: 2_000_000, CacheWrite1h: 1_000_000, Set: true}, 0.3 + 3.75 + 6},
		// A model without cached or write prices charges them as input.
		{"no cache prices", mini, providers.Usage{PromptTokens: 2_000_000, CachedTokens: 1_000_000, Set: true}, 0.3},
		// Usage that counts more cached than prompt tokens charges no
		// negative input.
		{"inconsistent usage", sonnet, providers.Usage{PromptTokens: 10, CachedTokens: 1_000_000, Set: true}, 0.3},
	}
	for _, tt := range tests {
		if got := Cost(tt.m, tt.u); !near(got, tt.want) {
			t.Errorf("%s: Cost = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCredit(t *testing.T) {
	u := providers.Usage{PromptTokens: 1_000_000, CachedTokens: 500_000, CompletionTokens: 100_000, Set: true}
	var s Saved
	s[Cache] = 7 // Credit leaves the response cache alone
	Credit(&s, sonnet, u, 100_000, 50_000, true, nil)
	// Blended prompt price: (0.5M × 3 + 0.5M × 0.3) / 1M = 1.65 per million.
	if !near(s[Strip], 0.165) || !near(s[Dedup], 0.0825) {
		t.Errorf("strip %v, dedup %v; want 0.165, 0.0825", s[Strip], s[Dedup])
	}
	if !near(s[Prompt], 0.5*(3-0.3)) {
		t.Errorf("prompt cache %v, want %v", s[Prompt], 0.5*(3-0.3))
	}
	if s[Routing] != 0 || s[Cache] != 7 {
		t.Errorf("routing %v, cache %v; want 0, 7", s[Routing], s[Cache])
	}

	// Only writes: the premium is the technique's cost.
	s = Saved{}
	Credit(&s, sonnet, providers.Usage{PromptTokens: 1_000_000, CacheWriteTokens: 1_000_000, Set: true}, 0, 0, true, nil)
	if !near(s[Prompt], -0.75) {
		t.Errorf("write-only prompt cache %v, want -0.75", s[Prompt])
	}

	// 1-hour writes: their premium over input is 2× − 1× the input price.
	s = Saved{}
	Credit(&s, sonnet, providers.Usage{PromptTokens: 1_000_000, CacheWriteTokens: 1_000_000, CacheWrite1h: 1_000_000, Set: true}, 0, 0, true, nil)
	if !near(s[Prompt], -3) {
		t.Errorf("1-hour write-only prompt cache %v, want -3", s[Prompt])
	}

	// Routing: the baseline's price of the same usage, less the served one.
	opus := &catalog.Model{Name: "anthropic/claude-opus-4-5", InputPrice: 5, OutputPrice: 25, CachedPrice: 0.5, CacheWritePrice: 6.25}
	s = Saved{}
	Credit(&s, sonnet, providers.Usage{PromptTokens: 1_000_000, Set: true}, 0, 0, false, opus)
	if !near(s[Routing], 2) || s[Prompt] != 0 {
		t.Errorf("routing %v, prompt %v; want 2, 0", s[Routing], s[Prompt])
	}
	// Routed to the baseline itself, or to a dearer model: no saving.
	s = Saved{}
	Credit(&s, opus, providers.Usage{PromptTokens: 1_000_000, Set: true}, 0, 0, false, sonnet)
	if s[Routing] != 0 {
		t.Errorf("routing to a dearer model saved %v", s[Routing])
	}
}

func TestTechniqueLabels(t *testing.T) {
	want := []string{"response_cache", "provider_prompt_cache", "ide_boilerplate", "file_dedup", "routing"}
	for i := range NumTechniques {
		if i.String() != want[i] {
			t.Errorf("technique %d is %q, want %q", i, i, want[i])
		}
	}
}

type countJob struct{ n *atomic.Int64 }

func (j countJob) Account() { j.n.Add(1) }

func TestAccountant(t *testing.T) {
	var n atomic.Int64
	a := NewAccountant()
	for range 100 {
		if !a.Submit(countJob{&n}) {
			j := countJob{&n}
			j.Account() // full: the submitter accounts inline
		}
	}
	a.Wait()
	if n.Load() != 100 {
		t.Fatalf("%d jobs accounted, want 100", n.Load())
	}
	a.Close()
	if a.Submit(countJob{&n}) {
		t.Fatal("a closed accountant took a job")
	}
	a.Close() // twice is harmless
	var none *Accountant
	if none.Submit(countJob{&n}) {
		t.Fatal("a nil accountant took a job")
	}
}

func TestHeldAccountant(t *testing.T) {
	var n atomic.Int64
	a := NewHeldAccountant()
	for range Queue {
		if !a.Submit(countJob{&n}) {
			t.Fatal("a held accountant with room refused a job")
		}
	}
	if a.Submit(countJob{&n}) {
		t.Fatal("a full accountant took a job")
	}
	if n.Load() != 0 || a.Queued() != Queue {
		t.Fatalf("held: %d accounted, %d queued", n.Load(), a.Queued())
	}
	seen := 0
	a.Drain(func(Job) { seen++ })
	a.Wait()
	if n.Load() != Queue || seen != Queue || a.Queued() != 0 {
		t.Fatalf("drained: %d accounted, %d inspected, %d queued", n.Load(), seen, a.Queued())
	}
	a.Submit(countJob{&n})
	a.Close() // accounts what is held
	if n.Load() != Queue+1 {
		t.Fatalf("close accounted %d, want %d", n.Load(), Queue+1)
	}
}
