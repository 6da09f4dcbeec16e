package engine

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/pgtest"
	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/aigateway/gateway/engine/webhook"
	"github.com/aigateway/gateway/providers/providertest"
)

// hookReceiver is an allow-listed loopback webhook endpoint that checks
// every signature.
type hookReceiver struct {
	srv    *httptest.Server
	secret atomic.Pointer[string]
	mu     sync.Mutex
	events []webhook.Envelope
	bad    int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		s := r.secret.Load()
		if s == nil || webhook.Verify(*s, req.Header.Get("X-Gateway-Signature"), body, 5*time.Minute, time.Now()) != nil {
			r.bad++
			w.WriteHeader(401)
			return
		}
		var env webhook.Envelope
		_ = json.Unmarshal(body, &env)
		r.events = append(r.events, env)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) count(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Type == event {
			n++
		}
	}
	return n
}

func (r *hookReceiver) register(t *testing.T, g *gw, events string) {
	t.Helper()
	status, body := g.admin(t, "POST", "/admin/webhooks", `{"url":"`+r.srv.URL+`/hook","events":`+events+`}`)
	if status != 201 {
		t.Fatalf("create webhook: %d %s", status, body)
	}
	secret := mustJSON(t, body)["secret"].(string)
	r.secret.Store(&secret)
}

const hooksTOML = `
[webhooks]
allow = ["127.0.0.1/32"]
poll_interval = "20ms"
backoff_base = "50ms"
backoff_max = "200ms"
`

// 100 concurrent streams against a small budget: spend overshoots by at
// most one request, the rest are refused with 402, and the 80% threshold
// webhook fires exactly once, signed.
func TestBudgetUnderConcurrentStreams(t *testing.T) {
	t.Parallel()
	const prompt = 1000
	env := pricedUpstream(t, &providertest.OpenAI{Reply: "one two three", PromptTokens: prompt, Pace: 2 * time.Millisecond})
	// gpt-4o-mini: $0.15/M in, $0.60/M out. A request: 1000 prompt + 4
	// completion tokens (the usage chunk counts words).
	real := (prompt*0.15 + 3*0.6) / 1e6
	budgetUSD := 10 * real
	g := startGateway(t, hooksTOML+fmt.Sprintf(`
[[projects]]
id = "acme"
budget_usd = %v
budget_period = "day"

[[keys]]
key = "k-acme"
project = "acme"
`, budgetUSD), env)
	rcv := newHookReceiver(t)
	rcv.register(t, g, `["budget.threshold","budget.exceeded"]`)
	content := strings.Repeat("a", 4*prompt-100) // the estimate: a quarter of the body's bytes
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"model":"gpt-4o-mini","stream":true,"max_tokens":10,"messages":[{"role":"user","content":"%d %s"}]}`, i, content)
			status, _, b := g.callH(t, "POST", "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer k-acme"})
			switch status {
			case 200:
				if !strings.Contains(b, "[DONE]") {
					t.Errorf("stream cut: %s", b)
				}
				ok.Add(1)
			case 402:
				var env struct {
					Error struct{ Message, Type, Code string }
				}
				_ = json.Unmarshal([]byte(b), &env)
				if env.Error.Type != "insufficient_quota" || env.Error.Code != "budget_exceeded" ||
					!strings.Contains(env.Error.Message, "acme") || !strings.Contains(env.Error.Message, "reset") {
					t.Errorf("402 envelope: %s", b)
				}
				refused.Add(1)
			default:
				t.Errorf("status %d: %s", status, b)
			}
		}()
	}
	wg.Wait()
	if ok.Load()+refused.Load() != 100 || refused.Load() == 0 || ok.Load() < 8 {
		t.Fatalf("%d admitted, %d refused", ok.Load(), refused.Load())
	}
	n, spent := usageTotal(t, g, "project=acme")
	if n != 100 {
		t.Fatalf("ledger has %d acme requests, want 100 (refusals included)", n)
	}
	if spent > budgetUSD+real*1.0001 {
		t.Fatalf("spent $%.8f: beyond the budget $%.8f by more than one request ($%.8f)", spent, budgetUSD, real)
	}
	if spent < 0.8*budgetUSD {
		t.Fatalf("spent $%.8f, below the 80%% threshold of $%.8f: the test proves nothing", spent, budgetUSD)
	}
	eventually(t, 10*time.Second, "budget.threshold delivered", func() bool { return rcv.count(webhook.EventBudgetThreshold) >= 1 })
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive meanwhile
	if c := rcv.count(webhook.EventBudgetThreshold); c != 1 || rcv.bad != 0 {
		t.Fatalf("budget.threshold delivered %d times, %d bad signatures", c, rcv.bad)
	}
	if c := rcv.count(webhook.EventBudgetExceeded); c > 1 {
		t.Fatalf("budget.exceeded delivered %d times", c)
	}
	// The project's spend is reported.
	_, body := g.admin(t, "GET", "/admin/projects/acme", "")
	sp := mustJSON(t, body)["spend"].(map[string]any)
	if sp["spent_usd"].(float64) <= 0 || sp["budget_usd"].(float64) != budgetUSD {
		t.Fatalf("spend: %s", body)
	}
}

// Revocation on replica A refuses the key on replica B within a second:
// PostgreSQL shared with and without Redis, and two gateways on one SQLite
// file (allowed, though not a way to scale: docs/store.md).
func TestRevocationReachesOtherReplicaWithinOneSecond(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"postgres+redis", "postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"GATEWAY_ADMIN_KEY": adminTestKey}
			var tweak func(*Config)
			switch backend {
			case "sqlite":
				dir := t.TempDir()
				tweak = func(c *Config) { c.Store.dir = dir }
			case "postgres+redis":
				env["REDIS_URL"] = redistest.Start(t).URL()
				fallthrough
			default:
				env["DATABASE_URL"] = pgtest.URL(t)
			}
			a := startGatewayWith(t, "", env, tweak)
			b := startGatewayWith(t, "", env, tweak)
			_, secret := createKey(t, a, "acme", `{"id":"acme","name":"Acme"}`)
			eventually(t, 5*time.Second, "the new key works on B", func() bool {
				status, _ := b.call(t, "POST", "/v1/chat/completions", secret, chatBody)
				return status == 200
			})
			_, body := a.admin(t, "GET", "/admin/projects/acme/keys", "")
			id := mustJSON(t, body)["data"].([]any)[0].(map[string]any)["id"].(string)
			if status, body := a.admin(t, "DELETE", "/admin/keys/"+id, ""); status != 200 {
				t.Fatalf("revoke: %d %s", status, body)
			}
			revoked := time.Now()
			var took time.Duration
			for {
				status, body := b.call(t, "POST", "/v1/chat/completions", secret, chatBody)
				if status == 401 {
					took = time.Since(revoked)
					if !strings.Contains(body, "revoked") {
						t.Fatalf("B's 401 does not say revoked: %s", body)
					}
					break
				}
				if time.Since(revoked) > 5*time.Second {
					t.Fatal("B still accepts the revoked key after 5 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if took > time.Second {
				t.Fatalf("B refused the key %v after the revocation, more than 1 s", took)
			}
			t.Logf("revocation reached B in %v", took)
		})
	}
}

func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	g := startGateway(t, hooksTOML, map[string]string{"GATEWAY_ADMIN_KEY": adminTestKey})
	for _, u := range []string{"http://10.0.0.1/x", "http://169.254.169.254/latest", "http://[::1]:1/x", "ftp://example.com/"} {
		if status, body := g.admin(t, "POST", "/admin/webhooks", `{"url":"`+u+`"}`); status != 400 || !strings.Contains(body, "invalid_webhook_url") {
			t.Fatalf("%s accepted: %d %s", u, status, body)
		}
	}
	if status, body := g.admin(t, "POST", "/admin/webhooks", `{"url":"http://127.0.0.1:1/x","events":["nope"]}`); status != 400 || !strings.Contains(body, "unknown event") {
		t.Fatalf("unknown event: %d %s", status, body)
	}
	rcv := newHookReceiver(t)
	rcv.register(t, g, `["key.created","key.revoked"]`)
	_, body := g.admin(t, "GET", "/admin/webhooks", "")
	if strings.Contains(body, "whsec_") || !strings.Contains(body, rcv.srv.URL) {
		t.Fatalf("list shows secrets or misses the hook: %s", body)
	}
	id := mustJSON(t, body)["data"].([]any)[0].(map[string]any)["id"].(string)
	status, body := g.admin(t, "POST", "/admin/webhooks/"+id+"/test", "")
	if status != 200 || !strings.Contains(body, `"delivered":true`) {
		t.Fatalf("test delivery: %d %s", status, body)
	}
	// Events from admin actions reach the receiver, signed.
	keyID, _ := createKey(t, g, "acme", `{"id":"acme","name":"Acme"}`)
	g.admin(t, "DELETE", "/admin/keys/"+keyID, "")
	eventually(t, 10*time.Second, "key.created and key.revoked delivered", func() bool {
		return rcv.count(webhook.EventKeyCreated) == 1 && rcv.count(webhook.EventKeyRevoked) == 1
	})
	// Marked delivered once the receiver answered.
	eventually(t, 5*time.Second, "two deliveries marked delivered", func() bool {
		_, body = g.admin(t, "GET", "/admin/webhooks/"+id+"/deliveries", "")
		return strings.Count(body, `"delivered_at"`) == 2
	})
	if status, _ := g.admin(t, "DELETE", "/admin/webhooks/"+id, ""); status != 200 {
		t.Fatal(status)
	}
}

func TestAuditLogNamesTheActor(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `
[[admin_keys]]
name = "alice"
key = "alice-key"
`, map[string]string{"GATEWAY_ADMIN_KEY": adminTestKey})
	if status, body := g.call(t, "POST", "/admin/projects", "alice-key", `{"id":"p","name":"P","rpm":1}`); status != 201 {
		t.Fatal(status, body)
	}
	g.admin(t, "PATCH", "/admin/projects/p", `{"rpm":2}`)
	g.call(t, "DELETE", "/admin/cache", "alice-key", "")
	status, body := g.admin(t, "GET", "/admin/audit?limit=10", "")
	if status != 200 {
		t.Fatal(status, body)
	}
	entries := mustJSON(t, body)["data"].([]any)
	want := []struct{ action, actor string }{{"cache.purge", "alice"}, {"project.update", "admin"}, {"project.create", "alice"}}
	if len(entries) != len(want) {
		t.Fatalf("audit: %s", body)
	}
	for i, w := range want {
		e := entries[i].(map[string]any)
		if e["action"] != w.action || e["actor"] != w.actor {
			t.Fatalf("entry %d: %v, want %v", i, e, w)
		}
	}
	upd := entries[1].(map[string]any)
	if upd["before"].(map[string]any)["rpm"] != float64(1) || upd["after"].(map[string]any)["rpm"] != float64(2) {
		t.Fatalf("before/after: %v", upd)
	}
	if status, body := g.admin(t, "GET", "/admin/audit?action=project.", ""); status != 200 || strings.Contains(body, "cache.purge") {
		t.Fatalf("filter: %d %s", status, body)
	}
}

// Chat, streams, /v1/messages and embeddings each leave a row with their
// endpoint; 5xx answers raise request.failed and an opening breaker
// provider.breaker_open.
func TestLedgerEndpointsAndFailureEvents(t *testing.T) {
	t.Parallel()
	env := pricedUpstream(t, &providertest.OpenAI{Reply: "ok", PromptTokens: 10})
	failing, _ := providertest.StartOpenAI(&providertest.OpenAI{Status: 500})
	t.Cleanup(func() { _ = failing.Close() })
	g := startGateway(t, hooksTOML+`
[providers.flaky]
kind = "openai"
base_url = "`+failing.URL+`/v1"

[reliability]
retry = false
breaker_failures = 2
`, env)
	rcv := newHookReceiver(t)
	rcv.register(t, g, `["request.failed","provider.breaker_open"]`)
	auth := map[string]string{"Authorization": "Bearer " + testKey}
	for _, r := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a"}]}`},
		{"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"b"}]}`},
		{"/v1/messages", `{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"c"}]}`},
		{"/v1/embeddings", `{"model":"openai/text-embedding-3-small","input":"d"}`},
	} {
		if status, _, body := g.callH(t, "POST", r.path, r.body, auth); status != 200 {
			t.Fatalf("%s: %d %s", r.path, status, body)
		}
	}
	for range 3 {
		g.callH(t, "POST", "/v1/chat/completions", `{"model":"flaky/m","messages":[{"role":"user","content":"x"}]}`, auth)
	}
	_, body := g.admin(t, "GET", "/admin/usage?group_by=endpoint", "")
	rows := mustJSON(t, body)["rows"].([]any)
	got := map[string]float64{}
	for _, r := range rows {
		m := r.(map[string]any)
		got[m["endpoint"].(string)] = m["requests"].(float64)
	}
	if got["chat"] != 5 || got["messages"] != 1 || got["embeddings"] != 1 {
		t.Fatalf("rows by endpoint: %s", body)
	}
	_, body = g.admin(t, "GET", "/admin/requests?status=5xx", "")
	if n := len(mustJSON(t, body)["data"].([]any)); n != 3 {
		t.Fatalf("5xx rows: %d %s", n, body)
	}
	eventually(t, 10*time.Second, "request.failed and provider.breaker_open delivered", func() bool {
		return rcv.count(webhook.EventRequestFailed) >= 2 && rcv.count(webhook.EventBreakerOpen) == 1
	})
}

// A project over its tokens per minute is refused until the window moves.
func TestProjectTokensPerMinute(t *testing.T) {
	t.Parallel()
	env := pricedUpstream(t, &providertest.OpenAI{Reply: "ok", PromptTokens: 500})
	g := startGateway(t, `
[[projects]]
id = "small"
tpm = 800

[[keys]]
key = "k-small"
project = "small"
`, env)
	req := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`
	for i, want := range []int{200, 200, 429} { // 501 tokens, then 1002 ≥ 800
		status, body := g.call(t, "POST", "/v1/chat/completions", "k-small", req)
		if status != want {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
		if status == 429 && !strings.Contains(body, "tokens_rate_limit_exceeded") {
			t.Fatalf("429 body: %s", body)
		}
	}
}
