package engine

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

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
