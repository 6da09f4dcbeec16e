package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/internal/pgtest"
	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/webhook"
	"github.com/aigateway/gateway/providers/providertest"
)

const adminTestKey = "adm-secret"

// call sends a request with the given key (Bearer) and JSON body.
func (g *gw) call(t *testing.T, method, path, key, body string) (int, string) {
	t.Helper()
	status, _, b := g.callH(t, method, path, body, map[string]string{"Authorization": "Bearer " + key})
	return status, b
}

func (g *gw) callH(t *testing.T, method, path, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (g *gw) admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return g.call(t, method, path, adminTestKey, body)
}

// mustJSON decodes body into a map, failing the test otherwise.
func mustJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON (%v): %s", err, body)
	}
	return m
}

// eventually polls cond every 10 ms until it holds, or fails the test
// after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const chatBody = `{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}`

// createKey creates a project (when body is set) and a key for it, and
// returns the key's id and secret.
func createKey(t *testing.T, g *gw, project, projectBody string) (id, secret string) {
	t.Helper()
	if projectBody != "" {
		if status, body := g.admin(t, "POST", "/admin/projects", projectBody); status != 201 {
			t.Fatalf("create project: %d %s", status, body)
		}
	}
	status, body := g.admin(t, "POST", "/admin/projects/"+project+"/keys", `{"name":"ci"}`)
	if status != 201 {
		t.Fatalf("create key: %d %s", status, body)
	}
	k := mustJSON(t, body)
	return k["id"].(string), k["key"].(string)
}

func TestProjectKeysAuthenticateAndRevoke(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `
[[projects]]
id = "static-team"
name = "Static team"
rpm = 100
`, map[string]string{"GATEWAY_ADMIN_KEY": adminTestKey})
	id, secret := createKey(t, g, "acme", `{"id":"acme","name":"Acme"}`)
	if !strings.HasPrefix(secret, "sk-gw-") {
		t.Fatalf("secret %q", secret)
	}
	// The key works alone, in each header clients use.
	for _, hdr := range []map[string]string{
		{"Authorization": "Bearer " + secret},
		{"x-api-key": secret},
		{"api-key": secret},
	} {
		if status, _, body := g.callH(t, "POST", "/v1/chat/completions", chatBody, hdr); status != 200 {
			t.Fatalf("%v: %d %s", hdr, status, body)
		}
	}
	// Listing never shows a secret; static keys are listed read-only.
	_, body := g.admin(t, "GET", "/admin/projects/acme/keys", "")
	if strings.Contains(body, secret) || strings.Contains(body, `"key":`) || !strings.Contains(body, `"prefix":"`+secret[:12]+`"`) {
		t.Fatalf("key list: %s", body)
	}
	_, body = g.admin(t, "GET", "/admin/projects/default/keys", "")
	list := mustJSON(t, body)["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["static"] != true {
		t.Fatalf("static keys of default: %s", body)
	}
	staticID := list[0].(map[string]any)["id"].(string)
	if status, body := g.admin(t, "DELETE", "/admin/keys/"+staticID, ""); status != 409 || !strings.Contains(body, "gateway.toml") {
		t.Fatalf("revoking a TOML key: %d %s", status, body)
	}
	// Static projects are visible and read-only.
	_, body = g.admin(t, "GET", "/admin/projects", "")
	if !strings.Contains(body, `"id":"static-team"`) || !strings.Contains(body, `"static":true`) {
		t.Fatalf("projects: %s", body)
	}
	if status, body := g.admin(t, "PATCH", "/admin/projects/static-team", `{"rpm":5}`); status != 409 || !strings.Contains(body, "gateway.toml") {
		t.Fatalf("patching a TOML project: %d %s", status, body)
	}
	if status, _ := g.admin(t, "DELETE", "/admin/projects/static-team", ""); status != 409 {
		t.Fatalf("deleting a TOML project: %d", status)
	}
	// Revoked: 401 saying so, at once on this replica.
	if status, body := g.admin(t, "DELETE", "/admin/keys/"+id, ""); status != 200 || !strings.Contains(body, `"status":"revoked"`) {
		t.Fatalf("revoke: %d %s", status, body)
	}
	status, _, body := g.callH(t, "POST", "/v1/chat/completions", chatBody, map[string]string{"Authorization": "Bearer " + secret})
	e := mustJSON(t, body)["error"].(map[string]any)
	if status != 401 || e["code"] != "key_revoked" || !strings.Contains(e["message"].(string), "revoked") {
		t.Fatalf("revoked key: %d %s", status, body)
	}
	// Expired: 401 saying when.
	status, body = g.admin(t, "POST", "/admin/projects/acme/keys", `{"name":"short","expires_in_days":0.00001}`)
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	short := mustJSON(t, body)["key"].(string)
	time.Sleep(1100 * time.Millisecond)
	status, body = g.call(t, "POST", "/v1/chat/completions", short, chatBody)
	if status != 401 || !strings.Contains(body, "key_expired") || !strings.Contains(body, "expired at") {
		t.Fatalf("expired key: %d %s", status, body)
	}
	// An unknown key is the usual 401.
	if status, _ := g.call(t, "POST", "/v1/chat/completions", "sk-gw-nope", chatBody); status != 401 {
		t.Fatalf("unknown key: %d", status)
	}
}

func TestProjectAdminAPI(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": adminTestKey})
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{name: "create", method: "POST", path: "/admin/projects", body: `{"id":"p1","name":"One","budget_usd":5,"budget_period":"day","models":["mock/echo"]}`, status: 201, want: `"budget_period":"day"`},
		{name: "duplicate id", method: "POST", path: "/admin/projects", body: `{"id":"p1","name":"Again"}`, status: 409, want: "conflict"},
		{name: "unknown member", method: "POST", path: "/admin/projects", body: `{"id":"p2","name":"x","rpmm":3}`, status: 400, want: "rpmm"},
		{name: "bad period", method: "POST", path: "/admin/projects", body: `{"id":"p3","name":"x","budget_period":"week"}`, status: 400, want: "budget_period"},
		{name: "unknown model in allow-list", method: "POST", path: "/admin/projects", body: `{"id":"p4","name":"x","models":["nope/x"]}`, status: 400, want: "nope/x"},
		{name: "generated id", method: "POST", path: "/admin/projects", body: `{"name":"Generated"}`, status: 201, want: `"id":"proj_`},
		{name: "get with spend", method: "GET", path: "/admin/projects/p1", status: 200, want: `"spend":{`},
		{name: "patch", method: "PATCH", path: "/admin/projects/p1", body: `{"rpm":7,"skills":false}`, status: 200, want: `"rpm":7`},
		{name: "patch keeps the rest", method: "GET", path: "/admin/projects/p1", status: 200, want: `"budget_usd":5`},
		{name: "patch unknown", method: "PATCH", path: "/admin/projects/nope", body: `{"rpm":7}`, status: 404, want: "project_not_found"},
		{name: "key for unknown project", method: "POST", path: "/admin/projects/nope/keys", body: `{}`, status: 404, want: "not_found"},
		{name: "key with past expiry", method: "POST", path: "/admin/projects/p1/keys", body: `{"expires_at":"2001-01-01T00:00:00Z"}`, status: 400, want: "expires"},
		{name: "delete", method: "DELETE", path: "/admin/projects/p1", status: 200, want: `"deleted":true`},
		{name: "gone", method: "GET", path: "/admin/projects/p1", status: 404, want: "project_not_found"},
		{name: "no admin key", method: "GET", path: "/admin/projects", status: 401, want: "invalid_admin_key"},
	}
	for _, tc := range tests { // in order: they build on each other
		key := adminTestKey
		if tc.status == 401 {
			key = testKey
		}
		status, body := g.call(t, tc.method, tc.path, key, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Fatalf("%s: %d %s (want %d containing %q)", tc.name, status, body, tc.status, tc.want)
		}
		if status >= 400 {
			if e, ok := mustJSON(t, body)["error"].(map[string]any); !ok || e["message"] == "" || e["type"] == "" {
				t.Fatalf("%s: not the error envelope: %s", tc.name, body)
			}
		}
	}
}

// A project's settings apply to its requests: default model, allow-list,
// requests per minute, cache namespace.
func TestProjectSettingsOnRequests(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `
[[projects]]
id = "limited"
models = ["mock/echo", "fast"]
default_model = "mock/echo"
rpm = 2
cache_namespace = "shared"

[[projects]]
id = "other"
cache_namespace = "shared"

[[projects]]
id = "separate"

[[keys]]
key = "k-limited"
project = "limited"

[[keys]]
key = "k-other"
project = "other"

[[keys]]
key = "k-separate"
project = "separate"

[cache]
mode = "always"
`, map[string]string{"GATEWAY_ADMIN_KEY": adminTestKey})
	// Default model: a request naming none, or "default".
	_, hdr, body := g.callH(t, "POST", "/v1/chat/completions", `{"model":"default","messages":[{"role":"user","content":"d"}]}`, map[string]string{"Authorization": "Bearer k-limited"})
	if hdr.Get("X-Gateway-Model") != "echo" {
		t.Fatalf("default model: %v %s", hdr, body)
	}
	// Allow-list: 403 naming the model and the list.
	status, body := g.call(t, "POST", "/v1/chat/completions", "k-limited", `{"model":"mock/other","messages":[{"role":"user","content":"x"}]}`)
	e := mustJSON(t, body)["error"].(map[string]any)
	if status != 403 || e["code"] != "model_not_allowed" || !strings.Contains(e["message"].(string), "mock/other") || !strings.Contains(e["message"].(string), "mock/echo, fast") {
		t.Fatalf("allow-list: %d %s", status, body)
	}
	// RPM 2: the third request in a row is refused.
	if status, _ := g.call(t, "POST", "/v1/chat/completions", "k-limited", chatBody); status != 429 {
		t.Fatalf("rpm: third request %d", status)
	}
	// Cache namespace: "other" shares "limited"'s namespace, "separate"
	// does not.
	req := `{"model":"mock/echo","messages":[{"role":"user","content":"namespace probe"}],"temperature":0}`
	_, h1, _ := g.callH(t, "POST", "/v1/chat/completions", req, map[string]string{"Authorization": "Bearer k-other"})
	if h1.Get("X-Gateway-Cache") != "miss" {
		t.Fatalf("first: %s", h1.Get("X-Gateway-Cache"))
	}
	_, h2, _ := g.callH(t, "POST", "/v1/chat/completions", req, map[string]string{"Authorization": "Bearer k-separate"})
	if h2.Get("X-Gateway-Cache") != "miss" {
		t.Fatalf("another namespace hit the cache: %s", h2.Get("X-Gateway-Cache"))
	}
	// "limited" is rate limited by now; a dynamic project in the shared
	// namespace shows the sharing.
	if status, body := g.admin(t, "POST", "/admin/projects", `{"id":"dyn","name":"dyn","cache_namespace":"shared"}`); status != 201 {
		t.Fatal(status, body)
	}
	_, dynKey := createKey(t, g, "dyn", "")
	_, h3, _ := g.callH(t, "POST", "/v1/chat/completions", req, map[string]string{"Authorization": "Bearer " + dynKey})
	if !strings.HasPrefix(h3.Get("X-Gateway-Cache"), "hit") {
		t.Fatalf("same namespace missed the cache: %s", h3.Get("X-Gateway-Cache"))
	}
}

// A project that turns skills off does not get them, whatever the request
// asks for; another project does.
func TestProjectPolicyOverride(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	t.Cleanup(func() { _ = up.Close() })
	g := startGateway(t, `
[[projects]]
id = "noskills"
skills = false

[[keys]]
key = "k-noskills"
project = "noskills"

[[keys]]
key = "k-skills"
project = "withskills"
`, map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1"})
	req := `{"model":"gpt-4o","messages":[{"role":"user","content":"crash on nil map"}]}`
	skill := skillTemplate(t, "systematic-debugging")[1:60]
	for _, tc := range []struct {
		key  string
		want bool
	}{{"k-skills", true}, {"k-noskills", false}} {
		status, _, body := g.callH(t, "POST", "/v1/chat/completions", req, map[string]string{"Authorization": "Bearer " + tc.key, "X-Gateway-Skill": "systematic-debugging"})
		if status != 200 {
			t.Fatalf("%s: %d %s", tc.key, status, body)
		}
		if got := strings.Contains(string(up.Last().Body), skill); got != tc.want {
			t.Fatalf("%s: skill applied = %v, want %v: %s", tc.key, got, tc.want, up.Last().Body)
		}
	}
}

// usageTotal reads /admin/usage's total.
func usageTotal(t *testing.T, g *gw, query string) (requests int, cost float64) {
	t.Helper()
	status, body := g.admin(t, "GET", "/admin/usage?"+query, "")
	if status != 200 {
		t.Fatalf("usage: %d %s", status, body)
	}
	tot := mustJSON(t, body)["total"].(map[string]any)
	return int(tot["requests"].(float64)), tot["cost_usd"].(float64)
}

// costSum adds X-Gateway-Cost-USD headers.
type costSum struct {
	mu  sync.Mutex
	usd float64
	n   int
}

func (c *costSum) add(t *testing.T, h http.Header) {
	v, err := strconv.ParseFloat(h.Get("X-Gateway-Cost-USD"), 64)
	if err != nil {
		t.Errorf("X-Gateway-Cost-USD %q", h.Get("X-Gateway-Cost-USD"))
	}
	c.mu.Lock()
	c.usd += v
	c.n++
	c.mu.Unlock()
}

func pricedUpstream(t *testing.T, fake *providertest.OpenAI) map[string]string {
	t.Helper()
	up, err := providertest.StartOpenAI(fake)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close() })
	return map[string]string{"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": up.URL + "/v1", "GATEWAY_ADMIN_KEY": adminTestKey}
}

// Shutdown writes every row; a new gateway on the same store reports
// them all, and /admin/usage's cost equals the X-Gateway-Cost-USD headers.
func TestLedgerKeepsEveryRowAcrossRestart(t *testing.T) {
	t.Parallel()
	env := pricedUpstream(t, &providertest.OpenAI{Reply: "one two three", PromptTokens: 1200, CachedTokens: 200})
	dir := t.TempDir()
	useDir := func(c *Config) { c.Store.dir = dir }
	// The flush interval is long: only Shutdown's flush can write them.
	toml := "[store]\nflush_interval = \"1h\"\n"
	g := startGatewayWith(t, toml, env, useDir)
	var sum costSum
	for i := range 12 {
		body := fmt.Sprintf(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"q%d"}]}`, i)
		status, h, b := g.callH(t, "POST", "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + testKey})
		if status != 200 {
			t.Fatalf("%d %s", status, b)
		}
		sum.add(t, h)
	}
	status, _, _ := g.callH(t, "POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"s"}]}`,
		map[string]string{"Authorization": "Bearer " + testKey, "X-Request-Id": "client-stream-1"})
	if status != 200 {
		t.Fatal(status)
	}
	g.stop()

	g2 := startGatewayWith(t, toml, env, useDir)
	n, _ := usageTotal(t, g2, "")
	if n != 13 {
		t.Fatalf("after restart: %d requests, want 13", n)
	}
	_, cost := usageTotal(t, g2, "")
	_, body := g2.admin(t, "GET", "/admin/requests?model=gpt-4o-mini&limit=1", "")
	page := mustJSON(t, body)
	rows := page["data"].([]any)
	stream := rows[0].(map[string]any)
	if !strings.HasPrefix(stream["id"].(string), "client-stream-1~") || stream["stream"] != true || stream["cost_usd"].(float64) <= 0 ||
		stream["prompt_tokens"].(float64) != 1200 || stream["key_id"] == "" || stream["served_model"] != "openai/gpt-4o-mini" {
		t.Fatalf("stream row: %v", stream)
	}
	if page["next_cursor"] == nil {
		t.Fatal("no next page")
	}
	if math.Abs(cost-stream["cost_usd"].(float64)-sum.usd) > 1e-5 {
		t.Fatalf("usage cost %.8f - stream %.8f != sum of X-Gateway-Cost-USD %.8f", cost, stream["cost_usd"], sum.usd)
	}
	// Exports.
	status, h, csvBody := g2.callH(t, "GET", "/admin/requests?format=csv&from=2000-01-01", "", map[string]string{"Authorization": "Bearer " + adminTestKey})
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || strings.Count(csvBody, "\n") != 14 {
		t.Fatalf("requests CSV: %d %q", status, csvBody)
	}
	_, _, usageCSV := g2.callH(t, "GET", "/admin/usage?format=csv&group_by=day&to="+time.Now().UTC().Format(time.DateOnly), "", map[string]string{"Authorization": "Bearer " + adminTestKey})
	if !strings.HasPrefix(usageCSV, "day,requests,") || !strings.Contains(usageCSV, time.Now().UTC().Format(time.DateOnly)+",13,") {
		t.Fatalf("usage CSV: %q", usageCSV)
	}
	if status, body := g2.admin(t, "GET", "/admin/usage?from=yesterday", ""); status != 400 || !strings.Contains(body, "RFC 3339") {
		t.Fatalf("bad from: %d %s", status, body)
	}
}

// The gateway as a child process, for kill -9 (see TestMain).
const childGatewayEnv = "ENGINE_TEST_CHILD_GATEWAY"

func childGateway() int {
	cfg, err := Load(os.Getenv("ENGINE_TEST_CHILD_CONFIG"), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	srv, err := New(cfg, slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	_ = srv.Serve(ln)
	return 0
}

// Every answered request's row survives kill -9, though no group commit
// ran: each row is in the journal before its answer's last byte (streams
// included), and the next start replays the journal.
func TestLedgerSurvivesKill9(t *testing.T) {
	t.Parallel()
	env := pricedUpstream(t, &providertest.OpenAI{Reply: "ok", PromptTokens: 100})
	dir := t.TempDir()
	cfgPath := dir + "/gateway.toml"
	// No group commit happens before the kill: the flush interval is an
	// hour and a batch 10,000 rows.
	if err := os.WriteFile(cfgPath, []byte("data_dir = "+strconv.Quote(dir)+"\n[store]\nflush_interval = \"1h\"\nbatch_rows = 10000\n"+
		// A child under -race on busy cores compiles the built-ins slower
		// than the default 30s budget.
		"[policy_limits]\ncompile_timeout = \"5m\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, g := startChildGateway(t, cfgPath, env)
	const n = 20
	var sum costSum
	for i := range n {
		body := fmt.Sprintf(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"%d"}]}`, i)
		if i%2 == 1 {
			body = fmt.Sprintf(`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"%d"}]}`, i)
		}
		status, h, b := g.callH(t, "POST", "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + testKey})
		if status != 200 {
			t.Fatalf("%d %s", status, b)
		}
		if i%2 == 0 {
			sum.add(t, h)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	st, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if gs, err := st.UsageSummary(context.Background(), store.UsageQuery{}); err != nil || (len(gs) > 0 && gs[0].Requests != 0) {
		t.Fatalf("rows committed before the kill (the test would prove nothing): %+v %v", gs, err)
	}
	st.Close()

	// The next start replays the dead process's journal.
	cmd2, _ := startChildGateway(t, cfgPath, env)
	st, err = store.Open(context.Background(), store.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eventually(t, 30*time.Second, "the journal replayed", func() bool {
		gs, err := st.UsageSummary(context.Background(), store.UsageQuery{})
		return err == nil && len(gs) > 0 && gs[0].Requests == n
	})
	_ = cmd2.Process.Signal(syscall.SIGTERM)
	_ = cmd2.Wait()
	page, err := st.Requests(context.Background(), store.RequestQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	streams, usd := 0, 0.0
	for _, r := range page.Rows {
		if r.Stream {
			streams++
			if r.Status != 200 || r.PromptTokens != 100 {
				t.Fatalf("stream row %+v", r)
			}
		} else {
			usd += r.CostUSD
		}
	}
	if len(page.Rows) != n || streams != n/2 || math.Abs(usd-sum.usd) > 1e-6 {
		t.Fatalf("after kill -9 and restart: %d rows, %d streams, non-stream cost %.8f; headers summed %.8f", len(page.Rows), streams, usd, sum.usd)
	}
}

// startChildGateway runs the gateway as a child process (see TestMain)
// on cfgPath, for kill -9, and waits until it listens.
func startChildGateway(t *testing.T, cfgPath string, env map[string]string) (*exec.Cmd, gw) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childGatewayEnv+"=1", "ENGINE_TEST_CHILD_CONFIG="+cfgPath, "GATEWAY_API_KEY="+testKey)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var errs strings.Builder
	cmd.Stderr = &lockedWriter{w: &errs}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
				addr <- a
			}
		}
	}()
	var g gw
	select {
	case a := <-addr:
		g.url = "http://" + a
	case <-time.After(5 * time.Minute):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("the child gateway did not start: %s", errs.String())
	}
	return cmd, g
}

// tcpProxy forwards to a server and can be cut and restored, as a
// database that goes away and comes back.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[u] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

// down closes the listener and every connection: the database is gone.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// up listens again on the same address.
func (p *tcpProxy) up() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// With PostgreSQL unreachable, requests still succeed, their rows spill,
// and every one of them reaches the database once it is back.
func TestLedgerSpillsWhileDatabaseIsDown(t *testing.T) {
	t.Parallel()
	direct := pgtest.URL(t)
	u, _ := url.Parse(direct)
	proxy := startProxy(t, u.Host)
	u.Host = proxy.addr
	env := pricedUpstream(t, &providertest.OpenAI{Reply: "ok", PromptTokens: 50})
	env["DATABASE_URL"] = u.String()
	g := startGateway(t, "[store]\nflush_interval = \"50ms\"\n", env)
	send := func(i int) {
		status, _, b := g.callH(t, "POST", "/v1/chat/completions", fmt.Sprintf(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"%d"}]}`, i),
			map[string]string{"Authorization": "Bearer " + testKey})
		if status != 200 {
			t.Fatalf("request %d while the database is down: %d %s", i, status, b)
		}
	}
	send(0)
	proxy.down()
	for i := 1; i <= 30; i++ {
		send(i)
	}
	led := g.srv.ten.led
	eventually(t, 20*time.Second, "rows spilled while the database is down", func() bool {
		st := led.Stats()
		return st.Backlog == 0 && st.Spilled > 0 && !st.Healthy
	})
	proxy.up()
	st, err := store.Open(context.Background(), store.Config{URL: direct})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eventually(t, 30*time.Second, "all 31 rows in the database after it came back", func() bool {
		gs, err := st.UsageSummary(context.Background(), store.UsageQuery{})
		return err == nil && gs[0].Requests == 31
	})
	eventually(t, 10*time.Second, "spill files replayed and removed", func() bool { return led.Stats().SpillFiles == 0 })
	if s := led.Stats(); s.Dropped != 0 {
		t.Fatalf("rows lost: %+v", s)
	}
}

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
