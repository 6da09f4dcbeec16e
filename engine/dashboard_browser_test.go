package engine

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// xssNames are stored as project names; the dashboard must show them as
// text and run none of them.
var xssNames = []string{`<img src=x onerror=alert(1)>`, `</script><script>window.__xss=1</script>`}

// chromium finds Debian's chromium (CI installs it, see .ci/run) or
// skips the test.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("headless Chromium is required in CI: install Debian's chromium (.ci/run does)")
	}
	t.Skip("no chromium on PATH: the dashboard's browser test needs Debian's chromium package (apt-get install chromium)")
	return ""
}

// TestDashboardBrowser drives the dashboard in a real headless Chromium
// against a real gateway on loopback: log in, see the overview match the
// ledger, filter the request log, find the hostile project names shown as
// text, create a key and use it, log out.
func TestDashboardBrowser(t *testing.T) {
	exe := chromium(t)
	g := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
	bearer := map[string]string{"Authorization": "Bearer " + adminKey}

	// Traffic through the mock provider, and the hostile projects.
	const calls = 5
	for i := range calls {
		status, _, body := g.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"hello `+strconv.Itoa(i)+`"}]}`, nil)
		if status != 200 {
			t.Fatalf("chat: %d %s", status, body)
		}
	}
	var xssID string
	for _, name := range xssNames {
		b, _ := json.Marshal(map[string]string{"name": name})
		status, _, body := g.post(t, "/admin/projects", string(b), bearer)
		if status != 201 {
			t.Fatalf("project: %d %s", status, body)
		}
		if xssID == "" {
			var p struct{ ID string }
			_ = json.Unmarshal([]byte(body), &p)
			xssID = p.ID
		}
	}
	// What the ledger says (the overview must show the same).
	_, usage := g.get(t, "/admin/usage?group_by=project", bearer)
	var u struct {
		Rows []struct {
			Project  string `json:"project"`
			Requests int64  `json:"requests"`
		} `json:"rows"`
		Total struct {
			Requests int64 `json:"requests"`
		} `json:"total"`
	}
	if err := json.Unmarshal([]byte(usage), &u); err != nil || u.Total.Requests != calls || len(u.Rows) != 1 {
		t.Fatalf("ledger: %s", usage)
	}
	project := u.Rows[0].Project

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	dialogs := make(chan string, 8)
	var mu sync.Mutex
	var exceptions []string
	thrown := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(exceptions) }
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			dialogs <- ev.Message
			go func() { _ = chromedp.Run(ctx, page.HandleJavaScriptDialog(true)) }()
		case *runtime.EventExceptionThrown:
			mu.Lock()
			exceptions = append(exceptions, ev.ExceptionDetails.Error())
			mu.Unlock()
		}
	})
	shots := t.TempDir()
	shot := func(name string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var buf []byte
			if err := chromedp.FullScreenshot(&buf, 90).Do(ctx); err != nil {
				return err
			}
			return os.WriteFile(shots+"/"+name+".png", buf, 0o644)
		})
	}
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v (exceptions: %v)", what, err, thrown())
		}
	}

	// Log in.
	var requests, cost string
	run("log in",
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(g.url+"/admin"),
		chromedp.WaitVisible("#login-key", chromedp.ByID),
		chromedp.SendKeys("#login-key", adminKey, chromedp.ByID),
		chromedp.Click(`#login-form button[type=submit]`),
		chromedp.WaitVisible(`[data-metric="requests"]`),
		chromedp.Poll(`document.querySelector('[data-metric="requests"]').textContent !== ""`, nil),
		chromedp.Text(`[data-metric="requests"]`, &requests),
		chromedp.Text(`[data-metric="cost"]`, &cost),
		shot("overview"),
	)
	if requests != strconv.Itoa(calls) {
		t.Fatalf("overview shows %q requests, the ledger %d", requests, calls)
	}

	// The request log, unfiltered and filtered.
	rowCount := func(n *int) chromedp.Action {
		return chromedp.Evaluate(`document.querySelectorAll('#rq-table tbody tr td:nth-child(2)').length`, n)
	}
	var all, none int
	run("requests",
		chromedp.Navigate(g.url+"/admin#requests"),
		chromedp.WaitVisible("#rq-filters", chromedp.ByID),
		chromedp.Poll(`document.querySelectorAll('#rq-table tbody tr').length === `+strconv.Itoa(calls), nil),
		rowCount(&all),
		chromedp.SetValue(`#rq-filters [name=project]`, project),
		chromedp.Click(`#rq-filters button[type=submit]`),
		chromedp.Poll(`document.querySelectorAll('#rq-table tbody tr').length === `+strconv.Itoa(calls), nil),
		shot("requests"),
		chromedp.SetValue(`#rq-filters [name=project]`, "nobody"),
		chromedp.Click(`#rq-filters button[type=submit]`),
		chromedp.Poll(`document.querySelector('#rq-table tbody td.muted') !== null`, nil),
		chromedp.Evaluate(`document.querySelectorAll('#rq-table tbody tr td.num').length`, &none),
	)
	if all != calls || none != 0 {
		t.Fatalf("request log rows: %d unfiltered, %d for project nobody", all, none)
	}

	// Projects: the hostile names are text; create a key for one.
	var names []string
	var newKey string
	run("projects",
		chromedp.Navigate(g.url+"/admin#projects"),
		chromedp.Poll(`[...document.querySelectorAll('#pj-table tbody td')].some(td => td.textContent === `+jsString(xssNames[0])+`)`, nil),
		chromedp.Evaluate(`[...document.querySelectorAll('#pj-table tbody tr td:nth-child(2)')].map(td => td.textContent)`, &names),
		chromedp.Click(`//td[text()=`+xpathString(xssID)+`]`, chromedp.BySearch),
		chromedp.WaitVisible("#pj-addkey", chromedp.ByID),
		chromedp.Click("#pj-addkey", chromedp.ByID),
		chromedp.Poll(`document.getElementById('pj-newkey-value').textContent.startsWith('sk-gw-')`, nil),
		chromedp.Text("#pj-newkey-value", &newKey, chromedp.ByID),
		shot("projects"),
	)
	for _, n := range xssNames {
		if !contains(names, n) {
			t.Fatalf("project name %q not shown as text: %q", n, names)
		}
	}
	if status, _, body := g.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer " + newKey}); status != 200 {
		t.Fatalf("the key made in the browser: %d %s", status, body)
	}

	// Nothing hostile ran: no dialog, no flag, no element made from a name.
	var injected bool
	run("xss check", chromedp.Evaluate(`window.__xss === 1 || document.querySelectorAll('img, main script').length > 0`, &injected))
	select {
	case m := <-dialogs:
		t.Fatalf("a dialog opened: %q", m)
	default:
	}
	if injected {
		t.Fatal("a stored project name became markup")
	}

	// Log out: the login form is back and the session is gone.
	var status int
	run("log out",
		chromedp.Click("#logout", chromedp.ByID),
		chromedp.WaitVisible("#login-key", chromedp.ByID),
		chromedp.Evaluate(`fetch('/admin/session').then(r => r.status)`, &status, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
	)
	if status != 401 {
		t.Fatalf("/admin/session after logout: %d", status)
	}
	if ex := thrown(); len(ex) > 0 {
		t.Fatalf("script exceptions: %v", ex)
	}
	t.Logf("screenshots in %s", shots)
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

func xpathString(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return `"` + s + `"`
}

func contains(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}
