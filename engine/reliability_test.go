package engine

import (
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
)

func TestRetryThenSuccess(t *testing.T) {
	t.Parallel()
	fake := &providertest.OpenAI{Reply: "third time lucky", FailFirst: 2}
	up, _ := providertest.StartOpenAI(fake)
	t.Cleanup(func() { _ = up.Close() })
	toml := `
[reliability]
retry_backoff_base = "1ms"
retry_backoff_max = "5ms"
[providers.flaky]
kind = "openai"
base_url = "` + up.URL + `/v1"
`
	g := startGateway(t, toml, nil)
	status, _, body := g.post(t, "/v1/chat/completions", `{"model":"flaky/m","messages":[{"role":"user","content":"x"}]}`, nil)
	if status != 200 || !strings.Contains(body, "third time lucky") || up.Hits.Load() != 3 {
		t.Fatalf("%d %s (hits %d)", status, body, up.Hits.Load())
	}
}

func TestFallbackAndBreaker(t *testing.T) {
	t.Parallel()
	down, _ := providertest.StartOpenAI(&providertest.OpenAI{Status: 503})
	t.Cleanup(func() { _ = down.Close() })
	good, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "from the fallback"})
	t.Cleanup(func() { _ = good.Close() })
	toml := `
[reliability]
retry_max_attempts = 2
retry_backoff_base = "1ms"
retry_backoff_max = "2ms"
breaker_failures = 4
breaker_cooldown = "1h"
[reliability.fallbacks]
"down/m" = ["good/m2"]
[providers.down]
kind = "openai"
base_url = "` + down.URL + `/v1"
[providers.good]
kind = "openai"
base_url = "` + good.URL + `/v1"
`
	g := startGateway(t, toml, nil)
	for i := 0; i < 3; i++ {
		status, hdr, body := g.post(t, "/v1/chat/completions", `{"model":"down/m","messages":[{"role":"user","content":"x"}]}`, nil)
		if status != 200 || !strings.Contains(body, "from the fallback") || hdr.Get("X-Gateway-Provider") != "good" {
			t.Fatalf("request %d: %d %v %s", i, status, hdr, body)
		}
	}
	// 2 attempts on each of the first two requests opened the breaker: the
	// third request went straight to the fallback.
	if got := down.Hits.Load(); got != 4 {
		t.Fatalf("down provider hit %d times, want 4 (breaker open after 4 failures)", got)
	}
	// Without a fallback, an open breaker answers 503 with Retry-After.
	status, hdr, body := g.post(t, "/v1/chat/completions", `{"model":"down/other","messages":[{"role":"user","content":"x"}]}`, nil)
	if status != 503 || !strings.Contains(body, "circuit_open") || hdr.Get("Retry-After") == "" {
		t.Fatalf("%d %v %s", status, hdr, body)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"RATE_LIMIT_ENABLED": "1", "RATE_LIMIT_RPM": "2"})
	body := `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`
	for i := 0; i < 2; i++ {
		if status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil); status != 200 || hdr.Get("X-RateLimit-Limit") != "2" {
			t.Fatalf("request %d: %d %v %s", i, status, hdr, resp)
		}
	}
	status, hdr, resp := g.post(t, "/v1/chat/completions", body, nil)
	if status != 429 || hdr.Get("Retry-After") == "" || !strings.Contains(resp, "rate_limit_exceeded") {
		t.Fatalf("%d %v %s", status, hdr, resp)
	}
}
