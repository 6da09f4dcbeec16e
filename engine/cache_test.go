package engine

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/aigateway/gateway/providers/providertest"
)

func TestCacheTiersThroughGateway(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "cached answer here", PromptTokens: 100})
	t.Cleanup(func() { _ = up.Close() })
	env := map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"}
	g := startGateway(t, "", env)
	body := `{"model":"gpt-4o","temperature":0,"messages":[{"role":"user","content":"cache me"}]}`
	_, hdr, _ := g.post(t, "/v1/chat/completions", body, nil)
	if hdr.Get("X-Gateway-Cache") != "miss" {
		t.Fatalf("first: %v", hdr)
	}
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
	if status != 200 || hdr.Get("X-Gateway-Cache") != "hit-memory" || !strings.Contains(resp, "cached answer here") || up.Hits.Load() != 1 {
		t.Fatalf("second: %d %v %s (hits %d)", status, hdr, resp, up.Hits.Load())
	}
	if hdr.Get("X-Gateway-Cost-USD") != "0.00000000" || hdr.Get("X-Gateway-Saved-USD") == "0.00000000" {
		t.Fatalf("a hit costs nothing and saves the original cost: %v", hdr)
	}
	// The same entry answers a stream.
	streamBody := strings.Replace(body, `"temperature":0`, `"temperature":0,"stream":true`, 1)
	status, hdr, resp = g.post(t, "/v1/chat/completions", streamBody, nil)
	if status != 200 || hdr.Get("X-Gateway-Cache") != "hit-memory" || !strings.Contains(resp, "data: [DONE]") || up.Hits.Load() != 1 {
		t.Fatalf("stream hit: %d %v %s", status, hdr, resp)
	}
	// bypass goes upstream; sampled requests are not cached.
	if _, hdr, _ = g.post(t, "/v1/chat/completions", body, map[string]string{"X-Gateway-Cache": "bypass"}); hdr.Get("X-Gateway-Cache") != "bypass" || up.Hits.Load() != 2 {
		t.Fatalf("bypass: %v", hdr)
	}
	sampled := strings.Replace(body, `"temperature":0`, `"temperature":0.7`, 1)
	g.post(t, "/v1/chat/completions", sampled, nil)
	if _, hdr, _ = g.post(t, "/v1/chat/completions", sampled, nil); hdr.Get("X-Gateway-Cache") == "hit-memory" {
		t.Fatalf("a sampled answer was cached: %v", hdr)
	}
}

func TestCacheTenantIsolation(t *testing.T) {
	t.Parallel()
	toml := `
[[keys]]
key = "key-a"
project = "a"
[[keys]]
key = "key-b"
project = "b"
`
	g := startGateway(t, toml, map[string]string{"GATEWAY_API_KEY": ""})
	body := `{"model":"mock/echo","messages":[{"role":"user","content":"secret of tenant a"}]}`
	g.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer key-a"})
	_, hdr, _ := g.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer key-a"})
	if hdr.Get("X-Gateway-Cache") != "hit-memory" {
		t.Fatalf("same tenant: %v", hdr)
	}
	_, hdr, _ = g.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer key-b"})
	if hdr.Get("X-Gateway-Cache") != "miss" {
		t.Fatalf("another tenant was served tenant a's entry: %v", hdr)
	}
}

// TestSharedRedisTier: two gateway processes (servers) share one Redis; the
// second serves what the first cached, and survive Redis dying.
func TestSharedRedisTier(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "shared answer"})
	t.Cleanup(func() { _ = up.Close() })
	env := map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1", "REDIS_URL": rs.URL()}
	g1 := startGateway(t, "", env)
	g2 := startGateway(t, "", env)
	body := `{"model":"gpt-4o","temperature":0,"messages":[{"role":"user","content":"share me"}]}`
	g1.post(t, "/v1/chat/completions", body, nil)
	waitFor(t, "the write to reach Redis", func() bool {
		_, hdr, _ := g2.post(t, "/v1/chat/completions", body, map[string]string{"X-Request-Id": "probe"})
		return hdr.Get("X-Gateway-Cache") == "hit-redis" || hdr.Get("X-Gateway-Cache") == "hit-memory"
	})
	// Redis dies: requests keep succeeding from memory or upstream.
	rs.Stop()
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 10; j++ {
				b := strings.Replace(body, "share me", "during outage "+string(rune('a'+i))+string(rune('a'+j)), 1)
				if status, _, _ := g2.post(t, "/v1/chat/completions", b, nil); status != 200 {
					failed.Add(1)
				}
			}
		}(i)
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed while Redis was down", failed.Load())
	}
	rs.Restart()
}

func TestSemanticCacheOptIn(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "A goroutine is a lightweight thread."})
	t.Cleanup(func() { _ = up.Close() })
	toml := `
[cache.semantic]
enabled = true
`
	g := startGateway(t, toml, map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	ask := func(q string) (string, string) {
		_, hdr, _ := g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","temperature":0,"messages":[{"role":"user","content":"`+q+`"}]}`, nil)
		return hdr.Get("X-Gateway-Cache"), hdr.Get("X-Gateway-Cache-Similarity")
	}
	if c, _ := ask("What is a goroutine?"); c != "miss" {
		t.Fatalf("first: %s", c)
	}
	if c, sim := ask("what's a goroutine"); c != "hit-semantic" || sim == "" {
		t.Fatalf("near-identical turn: %s %s", c, sim)
	}
	if c, _ := ask("What is not a goroutine?"); c == "hit-semantic" {
		t.Fatal("a negated question hit")
	}
	if up.Hits.Load() != 2 {
		t.Fatalf("upstream hits %d, want 2", up.Hits.Load())
	}
}

func TestSemanticCacheStoresStreams(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "Channels carry values between goroutines."})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, "[cache.semantic]\nenabled = true\n", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","temperature":0,"stream":true,"messages":[{"role":"user","content":"What is a channel?"}]}`, nil)
	_, hdr, body := g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","temperature":0,"messages":[{"role":"user","content":"what's a channel"}]}`, nil)
	if hdr.Get("X-Gateway-Cache") != "hit-semantic" || !strings.Contains(body, "Channels carry") {
		t.Fatalf("%v %s", hdr, body)
	}
}

// [cache.semantic]'s documented knobs are read: max_word_diff = 1 lets a
// turn with one more content word hit, which the default (0) refuses at the
// same threshold.
func TestSemanticCacheWordDiffKnob(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "Use slices.Reverse."})
	t.Cleanup(func() { _ = up.Close() })
	env := map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"}
	for _, c := range []struct {
		conf, want string
	}{
		{"[cache.semantic]\nenabled = true\nthreshold = 0.8\n", "miss"},
		{"[cache.semantic]\nenabled = true\nthreshold = 0.8\nmax_word_diff = 1\nmax_entries = 100\nmax_mb = 1\nembed_timeout = \"2s\"\n", "hit-semantic"},
	} {
		g := startGateway(t, c.conf, env)
		ask := func(q string) string {
			_, hdr, _ := g.post(t, "/v1/chat/completions", `{"model":"gpt-4o","temperature":0,"messages":[{"role":"user","content":"`+q+`"}]}`, nil)
			return hdr.Get("X-Gateway-Cache")
		}
		ask("How do I reverse a slice in Go?")
		if got := ask("How do I reverse a slice in Go efficiently?"); got != c.want {
			t.Fatalf("%q: one more word: %s, want %s", c.conf, got, c.want)
		}
	}
}
