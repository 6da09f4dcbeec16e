package engine

import (
	"net/http"
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

// With rate_limit_per_key, each key of a project has its own allowance
// inside the project's: one key's burst does not spend the other's, and the
// project's limit still caps both together.
func TestRateLimitPerKey(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `
[reliability]
rate_limit = true
rate_limit_rpm = 2
rate_limit_per_key = true
[[keys]]
key = "key-a"
project = "p"
[[keys]]
key = "key-b"
project = "p"
[[keys]]
key = "key-c"
project = "q"
`, map[string]string{"GATEWAY_API_KEY": ""})
	body := `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`
	as := func(key string) (int, string) {
		status, _, resp := g.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + key})
		return status, resp
	}
	// Project p allows 2 a minute; key-a takes one, key-b one.
	for _, key := range []string{"key-a", "key-b"} {
		if status, resp := as(key); status != 200 {
			t.Fatalf("%s: %d %s", key, status, resp)
		}
	}
	// The project's allowance is spent: key-a is refused by the project's
	// limit, which is checked first (and took nothing from the key's).
	if status, resp := as("key-a"); status != 429 || !strings.Contains(resp, "for project p") {
		t.Fatalf("key-a, third request: %d %s", status, resp)
	}
	// Another project is untouched.
	if status, resp := as("key-c"); status != 200 {
		t.Fatalf("key-c: %d %s", status, resp)
	}
}

// A key's own allowance: under a project limit above the key's, one key is
// refused while the project's other key still passes.
func TestRateLimitPerKeyInsideProject(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `
[reliability]
rate_limit = true
rate_limit_rpm = 1
rate_limit_per_key = true
[[projects]]
id = "p"
rpm = 100
[[keys]]
key = "key-a"
project = "p"
[[keys]]
key = "key-b"
project = "p"
`, map[string]string{"GATEWAY_API_KEY": ""})
	body := `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`
	as := func(key string) (int, http.Header, string) {
		return g.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + key})
	}
	if status, hdr, resp := as("key-a"); status != 200 || hdr.Get("X-RateLimit-Limit") != "1" {
		t.Fatalf("key-a: %d %v %s", status, hdr, resp)
	}
	if status, hdr, resp := as("key-a"); status != 429 || hdr.Get("Retry-After") == "" || !strings.Contains(resp, "of project p") {
		t.Fatalf("key-a, second request: %d %v %s", status, hdr, resp)
	}
	if status, _, resp := as("key-b"); status != 200 {
		t.Fatalf("key-b: %d %s", status, resp)
	}
}

// The breaker's documented settings are read: breaker_per_model gives each
// model its own breaker, breaker_probes and the failure-ratio rule are
// validated at start.
func TestBreakerSettings(t *testing.T) {
	t.Parallel()
	down, _ := providertest.StartOpenAI(&providertest.OpenAI{Status: 503})
	t.Cleanup(func() { _ = down.Close() })
	g := startGateway(t, `
[reliability]
retry_max_attempts = 1
breaker_failures = 2
breaker_cooldown = "1h"
breaker_per_model = true
breaker_failure_ratio = 0.9
breaker_window = "10s"
breaker_min_requests = 50
breaker_probes = 2
breaker_successes = 2
[providers.down]
kind = "openai"
base_url = "`+down.URL+`/v1"
`, nil)
	post := func(model string) (int, string) {
		status, _, body := g.post(t, "/v1/chat/completions", `{"model":"down/`+model+`","messages":[{"role":"user","content":"x"}]}`, nil)
		return status, body
	}
	for i := 0; i < 2; i++ {
		if status, body := post("a"); status != 502 || strings.Contains(body, "circuit_open") {
			t.Fatalf("down/a request %d: %d %s", i, status, body)
		}
	}
	if status, body := post("a"); status != 503 || !strings.Contains(body, "circuit_open") {
		t.Fatalf("down/a after 2 failures: %d %s, want the open breaker", status, body)
	}
	// Model b has a breaker of its own: its first call reaches the upstream.
	hits := down.Hits.Load()
	if status, body := post("b"); status != 502 || strings.Contains(body, "circuit_open") || down.Hits.Load() != hits+1 {
		t.Fatalf("down/b: %d %s (upstream hits %d -> %d)", status, body, hits, down.Hits.Load())
	}
}
