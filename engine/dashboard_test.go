package engine

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/dashboard"
)

// dashReq sends a request as a browser would: no Authorization, the
// session cookie and the CSRF header when given.
func dashReq(t *testing.T, g *gw, method, path, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == dashboard.CookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", dashboard.CookieName, resp.Header.Values("Set-Cookie"))
	return nil
}

func errCode(body string) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}

func TestDashboardSession(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "[[admin_keys]]\nname = \"ops\"\nkey = \"ops-key-123456\"\n", map[string]string{"GATEWAY_ADMIN_KEY": adminKey})

	// Refusals at login.
	for _, tc := range []struct {
		name, body, ctype, origin string
		status                    int
		code                      string
	}{
		{"wrong key", `{"key":"nope"}`, "application/json", "", 401, "invalid_admin_key"},
		{"client key", `{"key":"` + testKey + `"}`, "application/json", "", 401, "invalid_admin_key"},
		{"form post", `key=` + adminKey, "application/x-www-form-urlencoded", "", 415, "unsupported_media_type"},
		{"no key", `{}`, "application/json", "", 400, "invalid_request"},
		{"foreign origin", `{"key":"` + adminKey + `"}`, "application/json", "https://evil.example", 403, "cross_origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{"Content-Type": tc.ctype}
			if tc.origin != "" {
				hdr["Origin"] = tc.origin
			}
			resp, body := dashReq(t, g, "POST", "/admin/login", tc.body, hdr)
			if resp.StatusCode != tc.status || errCode(body) != tc.code || len(resp.Cookies()) != 0 {
				t.Fatalf("%d %s %v", resp.StatusCode, body, resp.Cookies())
			}
		})
	}

	// A named admin key logs in; the cookie is HttpOnly, SameSite=Strict,
	// scoped to /admin, expiring, and not Secure over plain HTTP.
	resp, body := dashReq(t, g, "POST", "/admin/login", `{"key":"ops-key-123456"}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var ses struct {
		Actor string `json:"actor"`
		CSRF  string `json:"csrf_token"`
	}
	if err := json.Unmarshal([]byte(body), &ses); err != nil || ses.Actor != "ops" || len(ses.CSRF) < 40 {
		t.Fatalf("login answer %s", body)
	}
	c := sessionCookie(t, resp)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/admin" || c.MaxAge <= 0 || c.Secure {
		t.Fatalf("cookie %+v", c)
	}
	raw := resp.Header.Get("Set-Cookie")
	if strings.Contains(raw, "ops-key") {
		t.Fatal("the admin key is in the cookie")
	}
	// Behind a TLS-terminating proxy the cookie is Secure.
	resp, _ = dashReq(t, g, "POST", "/admin/login", `{"key":"ops-key-123456"}`, map[string]string{"X-Forwarded-Proto": "https"})
	if !sessionCookie(t, resp).Secure {
		t.Fatal("cookie not Secure behind https")
	}

	cookie := dashboard.CookieName + "=" + c.Value
	withCookie := map[string]string{"Cookie": cookie}
	withCSRF := map[string]string{"Cookie": cookie, dashboard.CSRFHeader: ses.CSRF}

	// Reads need only the cookie.
	if resp, body := dashReq(t, g, "GET", "/admin/projects", "", withCookie); resp.StatusCode != 200 {
		t.Fatalf("read with cookie: %d %s", resp.StatusCode, body)
	}
	if resp, body := dashReq(t, g, "GET", "/admin/session", "", withCookie); resp.StatusCode != 200 || !strings.Contains(body, ses.CSRF) {
		t.Fatalf("session: %d %s", resp.StatusCode, body)
	}

	// Changes with the cookie: refused without the CSRF token, with a
	// wrong one, or from a foreign origin.
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		code string
	}{
		{"no csrf", withCookie, "csrf_failed"},
		{"wrong csrf", map[string]string{"Cookie": cookie, dashboard.CSRFHeader: ses.CSRF + "x"}, "csrf_failed"},
		{"foreign origin", map[string]string{"Cookie": cookie, dashboard.CSRFHeader: ses.CSRF, "Origin": "http://evil.example"}, "cross_origin"},
		{"bogus cookie", map[string]string{"Cookie": dashboard.CookieName + "=forged", dashboard.CSRFHeader: ses.CSRF}, "invalid_session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := dashReq(t, g, "POST", "/admin/projects", `{"name":"x"}`, tc.hdr)
			if resp.StatusCode/100 != 4 || errCode(body) != tc.code {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	if resp, body := dashReq(t, g, "POST", "/admin/projects", `{"name":"made-in-browser"}`, map[string]string{
		"Cookie": cookie, dashboard.CSRFHeader: ses.CSRF, "Origin": g.url}); resp.StatusCode != 201 {
		t.Fatalf("create with cookie and csrf: %d %s", resp.StatusCode, body)
	}
	// The audit log names the admin key behind the session.
	_, audit := g.get(t, "/admin/audit?action=project.create", map[string]string{"Authorization": "Bearer " + adminKey})
	if !strings.Contains(audit, `"actor":"ops"`) {
		t.Fatalf("audit: %s", audit)
	}
	// Scripts keep using the bearer key, without CSRF.
	if status, _, body := g.post(t, "/admin/projects", `{"name":"by-script"}`, map[string]string{"Authorization": "Bearer " + adminKey}); status != 201 {
		t.Fatalf("bearer: %d %s", status, body)
	}

	// Logout needs the CSRF token, then ends the session for good.
	if resp, _ := dashReq(t, g, "POST", "/admin/logout", "", withCookie); resp.StatusCode != 403 {
		t.Fatalf("logout without csrf: %d", resp.StatusCode)
	}
	resp, body = dashReq(t, g, "POST", "/admin/logout", "", withCSRF)
	if gone := sessionCookie(t, resp); resp.StatusCode != 200 || gone.Value != "" || !gone.Expires.Before(time.Now()) {
		t.Fatalf("logout: %d %s %v", resp.StatusCode, body, resp.Header.Values("Set-Cookie"))
	}
	for _, path := range []string{"/admin/projects", "/admin/session"} {
		if resp, body := dashReq(t, g, "GET", path, "", withCookie); resp.StatusCode != 401 || errCode(body) != "invalid_session" {
			t.Fatalf("%s after logout: %d %s", path, resp.StatusCode, body)
		}
	}
	// Without a cookie: the plain 401 of the admin API.
	if resp, body := dashReq(t, g, "GET", "/admin/projects", "", nil); resp.StatusCode != 401 || errCode(body) != "invalid_admin_key" {
		t.Fatalf("no cookie: %d %s", resp.StatusCode, body)
	}
}

func TestDashboardAssets(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
	for _, tc := range []struct{ path, ctype string }{
		{"/admin", "text/html"}, {"/admin/assets/app.js", "text/javascript"}, {"/admin/assets/app.css", "text/css"},
		{"/admin/assets/core.js", "text/javascript"}, {"/admin/assets/ops.js", "text/javascript"}, {"/admin/assets/more.js", "text/javascript"},
	} {
		resp, body := dashReq(t, g, "GET", tc.path, "", nil)
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || csp != dashboard.CSP || body == "" {
			t.Fatalf("%s: %d %q %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), csp)
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(body, "https://") {
			t.Fatalf("%s: unsafe CSP or remote resource", tc.path)
		}
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(body, sink) {
				t.Fatalf("%s: uses %s", tc.path, sink)
			}
		}
		if strings.Contains(tc.path, ".js") && strings.Contains(body, "style=") {
			t.Fatalf("%s: an inline style (the CSP refuses it)", tc.path)
		}
	}
	for _, p := range []string{"/admin/assets/..%2fdashboard.go", "/admin/assets/nope.js", "/admin/assets/index.html"} {
		if resp, _ := dashReq(t, g, "GET", p, "", nil); resp.StatusCode != 404 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	// Without an admin key there is no admin UI.
	g2 := startGateway(t, "", nil)
	for _, p := range []string{"/admin", "/admin/login"} {
		m := "GET"
		if p == "/admin/login" {
			m = "POST"
		}
		if resp, _ := dashReq(t, g2, m, p, `{"key":"x"}`, nil); resp.StatusCode != 404 {
			t.Fatalf("%s without admin key: %d", p, resp.StatusCode)
		}
	}
}

func TestAdminOverview(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
	bearer := map[string]string{"Authorization": "Bearer " + adminKey}
	const calls = 3
	for range calls {
		if status, _, body := g.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"same"}]}`, nil); status != 200 {
			t.Fatalf("chat: %d %s", status, body)
		}
	}
	_, usage := g.get(t, "/admin/usage?group_by=model", bearer)
	var u struct {
		Total struct {
			Requests         int64   `json:"requests"`
			PromptTokens     int64   `json:"prompt_tokens"`
			CompletionTokens int64   `json:"completion_tokens"`
			CostUSD          float64 `json:"cost_usd"`
		} `json:"total"`
	}
	if err := json.Unmarshal([]byte(usage), &u); err != nil || u.Total.Requests != calls {
		t.Fatalf("usage: %s", usage)
	}
	for _, w := range []string{"1h", "24h", "7d", "30d"} {
		t.Run(w, func(t *testing.T) {
			status, body := g.get(t, "/admin/overview?window="+w, bearer)
			var o struct {
				Window      string `json:"window"`
				StepSeconds int64  `json:"step_seconds"`
				From, To    time.Time
				Totals      struct {
					Requests         int64   `json:"requests"`
					PromptTokens     int64   `json:"prompt_tokens"`
					CompletionTokens int64   `json:"completion_tokens"`
					CostUSD          float64 `json:"cost_usd"`
					P50              float64 `json:"p50_ms"`
				} `json:"totals"`
				Series []struct {
					Start    time.Time `json:"start"`
					Requests int64     `json:"requests"`
				} `json:"series"`
				Cache    []struct{ Key string }
				Projects []struct {
					Key      string
					Requests int64
				} `json:"top_projects"`
				Models []struct{ Key string } `json:"top_models"`
			}
			if status != 200 || json.Unmarshal([]byte(body), &o) != nil {
				t.Fatalf("%d %s", status, body)
			}
			tot := o.Totals
			if tot.Requests != calls || tot.PromptTokens != u.Total.PromptTokens || tot.CompletionTokens != u.Total.CompletionTokens || tot.P50 <= 0 {
				t.Fatalf("totals %+v, ledger %+v", tot, u.Total)
			}
			// Every bucket is there, in order, and they sum to the totals.
			step := time.Duration(o.StepSeconds) * time.Second
			if len(o.Series) != int(o.To.Sub(o.From)/step) || !o.Series[0].Start.Equal(o.From) {
				t.Fatalf("%d buckets of %v from %v to %v", len(o.Series), step, o.From, o.To)
			}
			var n int64
			for i, p := range o.Series {
				if !p.Start.Equal(o.From.Add(time.Duration(i) * step)) {
					t.Fatalf("bucket %d starts %v", i, p.Start)
				}
				n += p.Requests
			}
			if n != calls || len(o.Projects) != 1 || o.Projects[0].Requests != calls || len(o.Models) != 1 || len(o.Cache) == 0 {
				t.Fatalf("series sum %d, projects %+v, models %+v, cache %+v", n, o.Projects, o.Models, o.Cache)
			}
		})
	}
	if status, body := g.get(t, "/admin/overview?window=2h", bearer); status != 400 || errCode(body) != "invalid_request" {
		t.Fatalf("bad window: %d %s", status, body)
	}
	if status, _ := g.get(t, "/admin/overview", nil); status != 401 {
		t.Fatalf("no admin key: %d", status)
	}
}

// TestDashboardLoginRateLimit: wrong admin keys from one address are
// refused with 401 and audited until the address's attempts run out; then
// every login from it, even with the right key, is a 429 with Retry-After
// in the OpenAI envelope, while the bearer key keeps working for scripts.
func TestDashboardLoginRateLimit(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
	login := func(key string) (*http.Response, string) {
		return dashReq(t, g, "POST", "/admin/login", `{"key":"`+key+`"}`, nil)
	}
	// A success gives its attempt back: it does not count.
	if resp, body := login(adminKey); resp.StatusCode != 200 {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	for i := range dashboard.DefaultLoginBurst {
		if resp, body := login("guess-" + strconv.Itoa(i)); resp.StatusCode != 401 {
			t.Fatalf("guess %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	for _, key := range []string{"one-more-guess", adminKey} {
		resp, body := login(key)
		retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != 429 || errCode(body) != "login_rate_limited" || !strings.Contains(body, `"type":"rate_limit_error"`) ||
			retry < 1 || retry > int(dashboard.DefaultLoginEvery/time.Second) || len(resp.Cookies()) != 0 {
			t.Fatalf("after %d failures, key %q: %d Retry-After %q %s", dashboard.DefaultLoginBurst, key, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	if status, _ := g.do(t, "GET", "/admin/policies", nil, nil); status != 200 {
		t.Fatalf("bearer key after the lockout: %d", status)
	}
	// The failures are in the audit log with the address, the login too.
	status, body := g.do(t, "GET", "/admin/audit?action=login.failed&limit=100", nil, nil)
	if status != 200 || strings.Count(body, `"action":"login.failed"`) != dashboard.DefaultLoginBurst || !strings.Contains(body, `"target":"127.0.0.1"`) {
		t.Fatalf("audit of failures: %d %s", status, body)
	}
	if status, body := g.do(t, "GET", "/admin/audit?action=login", nil, nil); status != 200 || !strings.Contains(body, `"actor":"admin"`) {
		t.Fatalf("audit of the login: %d %s", status, body)
	}
}
