package engine

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestCORSBrowser runs the client API from a page of another origin in a
// real headless Chromium, as a browser chat UI would: a fetch with an
// Authorization header (so a preflight) reads the completion, a stream and
// X-Request-Id; /admin stays closed to it. An open gateway (no key) serves
// a page from a loopback origin and refuses one from another host name
// (evil.test, resolved to 127.0.0.1 by the browser).
func TestCORSBrowser(t *testing.T) {
	exe := chromium(t)
	keyed := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
	open := startGateway(t, "", map[string]string{"GATEWAY_API_KEY": ""})
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<!doctype html><title>chat ui</title>"))
	}))
	t.Cleanup(page.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(page.URL, "http://"))

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("host-resolver-rules", "MAP evil.test 127.0.0.1"))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 5*time.Minute)
	defer cancel()

	// call runs a fetch in the page and returns what it read, or
	// "refused: …" when the browser blocked it.
	const call = `(async (url, key, body, stream) => {
	  try {
	    const h = {'Content-Type': 'application/json'};
	    if (key) h['Authorization'] = 'Bearer ' + key;
	    const r = await fetch(url, {method: body ? 'POST' : 'GET', headers: h, body: body || undefined});
	    const text = await r.text();
	    if (stream) return r.status + ' ' + text.split('\n').filter(l => l.startsWith('data: {')).map(l => JSON.parse(l.slice(6)).choices[0]?.delta?.content || '').join('');
	    return r.status + ' ' + (r.headers.get('X-Request-Id') ? 'id ' : 'no-id ') + text;
	  } catch (e) {
	    return 'refused: ' + e;
	  }
	})`
	fetch := func(origin, url, key, body string, stream bool) string {
		t.Helper()
		var out string
		args := strings.Join([]string{jsString(url), jsString(key), jsString(body), map[bool]string{true: "true", false: "false"}[stream]}, ",")
		err := chromedp.Run(ctx,
			chromedp.Navigate(origin),
			chromedp.Evaluate(call+"("+args+")", &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
		)
		if err != nil {
			t.Fatalf("fetch %s from %s: %v", url, origin, err)
		}
		return out
	}
	chat := func(stream bool) string {
		return `{"model":"mock/echo","stream":` + map[bool]string{true: "true", false: "false"}[stream] + `,"messages":[{"role":"user","content":"from the browser"}]}`
	}
	local := "http://127.0.0.1:" + port + "/"
	evil := "http://evil.test:" + port + "/"

	tests := []struct {
		name, origin, url, key, body string
		stream                       bool
		want                         string // prefix of what the page read
		has                          string
	}{
		{name: "keyed chat", origin: local, url: keyed.url + "/v1/chat/completions", key: testKey, body: chat(false), want: "200 id ", has: `"content":"from the browser"`},
		{name: "keyed stream", origin: local, url: keyed.url + "/v1/chat/completions", key: testKey, body: chat(true), stream: true, want: "200 from the browser"},
		{name: "keyed wrong key", origin: local, url: keyed.url + "/v1/chat/completions", key: "wrong", body: chat(false), want: "401 id ", has: `"invalid_api_key"`},
		{name: "keyed models from any host", origin: evil, url: keyed.url + "/v1/models/mock%2Fecho", key: testKey, want: "200 id ", has: `"id":"mock/echo"`},
		{name: "admin closed", origin: local, url: keyed.url + "/admin/policies", key: adminKey, want: "refused: "},
		{name: "open loopback origin", origin: local, url: open.url + "/v1/chat/completions", body: chat(false), want: "200 id ", has: `"content":"from the browser"`},
		{name: "open other host", origin: evil, url: open.url + "/v1/chat/completions", body: chat(false), want: "refused: "},
	}
	for _, tt := range tests {
		got := fetch(tt.origin, tt.url, tt.key, tt.body, tt.stream)
		if !strings.HasPrefix(got, tt.want) || !strings.Contains(got, tt.has) {
			t.Errorf("%s: the page read %q, want %q… with %q", tt.name, got, tt.want, tt.has)
		}
	}
}
