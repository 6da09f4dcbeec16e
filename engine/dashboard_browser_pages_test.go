package engine

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
	"github.com/chromedp/chromedp"
)

// dashHooks counts the webhook deliveries it receives.
type dashHooks struct {
	*httptest.Server
	n atomic.Int64
}

func newDashHooks(t *testing.T) *dashHooks {
	h := &dashHooks{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.n.Add(1) }))
	t.Cleanup(h.Close)
	return h
}

type pagesFixture struct {
	xssID, project, key string
	ol                  *fakeOllama
	hold                chan struct{}
	release             func()
	hooks               *dashHooks
}

// textIn is a JS test: some element matching sel has exactly text.
func textIn(sel, text string) string {
	return `[...document.querySelectorAll(` + jsString(sel) + `)].some(e => e.textContent === ` + jsString(text) + `)`
}

// poll waits for a JS condition; a loaded machine may take minutes to
// compile an uploaded policy under -race (the test's context bounds all).
func poll(js string) chromedp.Action {
	return chromedp.Poll(js, nil, chromedp.WithPollingTimeout(4*time.Minute))
}

func setSelect(sel, value string) chromedp.Action {
	return chromedp.Evaluate(`(() => { const s = document.querySelector(`+jsString(sel)+`); s.value = `+jsString(value)+
		`; s.dispatchEvent(new Event('change')); })()`, nil)
}

// browsePages drives the routing, providers and models, policies, cache,
// Ollama, webhooks and audit pages, and the request log's live tail, with
// hostile values stored where an attacker could put them (a route reason,
// a model alias, an Ollama model name, a policy name).
func browsePages(t *testing.T, g *gw, run func(string, ...chromedp.Action), shot func(string) chromedp.Action, f pagesFixture) {
	t.Helper()
	chat := func(key, model string) int {
		status, _, _ := g.post(t, "/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"Authorization": "Bearer " + key})
		return status
	}

	// Routing: three decisions of the router and a stored hostile reason.
	for i := range 3 {
		routeReason(t, g, "Write a haiku about rain "+strconv.Itoa(i))
	}
	hostile := xssNames[0] + " " + xssNames[1]
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := g.srv.ten.st.InsertUsage(c, []store.UsageRow{{ID: "xss-route", Time: time.Now(), ProjectID: f.project,
		Endpoint: store.EndpointChat, RequestedModel: "auto", ServedModel: "mock/echo", Provider: "mock", Status: 200, RouteReason: hostile}}); err != nil {
		t.Fatal(err)
	}
	run("routing",
		chromedp.Navigate(g.url+"/admin#routing"),
		poll(`document.querySelector('[data-metric="routed"]')?.textContent === "4"`),
		poll(textIn("#rt-trace td", hostile)),
		poll(`document.querySelectorAll('#rt-charts svg path.line').length >= 5`),
		// The extra calls' own figures (no classifier, no cascade here: zero).
		poll(`document.querySelector('[data-metric="phase2-calls"]')?.textContent === "0" && `+
			`document.querySelector('[data-metric="cascade-extra-cost"]') !== null`),
		shot("routing"),
	)

	// Providers and models: health, the hostile alias as text, and a model
	// disabled then enabled again for a project, checked with its key.
	run("providers",
		chromedp.Navigate(g.url+"/admin#providers"),
		poll(`document.querySelector('[data-provider="mock"]')?.textContent === "ok"`),
		poll(textIn("#pv-models td", xssNames[0])),
		setSelect("#pv-project", f.xssID),
		poll(`document.querySelector('input.allow[data-model="mock/echo"]')?.checked === true`),
		shot("providers"),
		chromedp.Click(`input.allow[data-model="mock/echo"]`),
		poll(`document.getElementById('pv-status').textContent.includes("mock/echo disabled")`),
	)
	pollUntil(t, "mock/echo refused for the project", func() bool { return chat(f.key, "mock/echo") != 200 })
	run("providers: enable again",
		poll(`document.querySelector('input.allow[data-model="mock/echo"]')?.checked === false`),
		chromedp.Click(`input.allow[data-model="mock/echo"]`),
		poll(`document.getElementById('pv-status').textContent.includes("mock/echo enabled")`),
	)
	pollUntil(t, "mock/echo served for the project again", func() bool { return chat(f.key, "mock/echo") == 200 })

	// Policies: upload with a position, see it placed, its detail, the
	// refusal of a hostile name shown as text, then delete it.
	module, err := filepath.Abs("../examples/wat-router/router.wasm")
	if err != nil {
		t.Fatal(err)
	}
	second, err := filepath.Abs("../wasm/testdata/fixed.wasm") // small: quick to compile under -race
	if err != nil {
		t.Fatal(err)
	}
	firstDigest := digestHex(readExample(t, "wat-router/router.wasm"))
	run("policies",
		chromedp.Navigate(g.url+"/admin#policies"),
		poll(`document.querySelectorAll('#po-chains .chain').length === 3`),
		chromedp.SetValue(`#po-upload input[name=name]`, "xrouter"),
		chromedp.SetUploadFiles(`#po-upload input[name=module]`, []string{module}),
		setSelect("#po-position", "last"),
		chromedp.Click(`#po-upload button[type=submit]`),
		poll(textIn("#po-table td", "xrouter")),
		poll(`document.getElementById('po-status').textContent.startsWith("Policy xrouter loaded")`),
		chromedp.Click(`//tr[td[text()='xrouter']]/td[1]`, chromedp.BySearch),
		chromedp.WaitVisible("#po-detail", chromedp.ByID),
		poll(textIn("#po-failures td", "No failures recorded.")),
		shot("policy-detail"),
		chromedp.Click(`#po-detail form button`),
		chromedp.SetValue(`#po-upload input[name=name]`, xssNames[0]),
		chromedp.SetUploadFiles(`#po-upload input[name=module]`, []string{module}),
		chromedp.Click(`#po-upload button[type=submit]`),
		// Refused by name (the path carries it percent-encoded), shown as text.
		poll(`document.getElementById('po-upload-error').textContent.includes("the name must match")`),
		// The router ran for the routing step: its p50 and p99 are shown
		// from its histogram (cells 6 and 7).
		poll(`[...document.querySelectorAll('#po-table tbody tr')].some(r => r.cells[0].textContent === "router" && `+
			`/[µm]s$/.test(r.cells[6].textContent) && /[µm]s$/.test(r.cells[7].textContent))`),
		shot("policies"),
		// A second upload under the same name, then a rollback to the first.
		chromedp.SetValue(`#po-upload input[name=name]`, "xrouter"),
		chromedp.SetUploadFiles(`#po-upload input[name=module]`, []string{second}),
		chromedp.Click(`#po-upload button[type=submit]`),
		poll(`document.getElementById('po-status').textContent.startsWith("Policy xrouter loaded")`),
		chromedp.Click(`//tr[td[text()='xrouter']]//button[contains(@class,'rollback')]`, chromedp.BySearch),
		poll(`document.getElementById('po-status').textContent.startsWith("Policy xrouter rolled back: now upload `+firstDigest[:12]+`")`),
		chromedp.Click(`//tr[td[text()='xrouter']]//button[contains(@class,'delete')]`, chromedp.BySearch),
		poll(`!(`+textIn("#po-table td", "xrouter")+`)`),
	)

	// Cache: hit rate and a purge.
	run("cache",
		chromedp.Navigate(g.url+"/admin#cache"),
		poll(`document.getElementById('ca-hitrate').textContent !== ""`),
		chromedp.Click(`#ca-purge button[type=submit]`),
		poll(`document.getElementById('ca-status').textContent === "Cache purged."`),
		shot("cache"),
	)

	// Ollama: the local models (one with a hostile name), a pull seen in
	// flight with its progress bar, then done, then deleted.
	f.ol.mu.Lock()
	f.ol.hold = f.hold
	f.ol.mu.Unlock()
	run("ollama: pull",
		chromedp.Navigate(g.url+"/admin#ollama"),
		poll(textIn("#ol-table td", "llama3:latest")),
		poll(textIn("#ol-table td", xssNames[0])),
		chromedp.SetValue(`#ol-pull input[name=model]`, "qwen2.5-coder:7b"),
		chromedp.Click(`#ol-pull button[type=submit]`),
		poll(`document.querySelector('#ol-pulls-table tr.running progress')?.value > 0`),
		shot("ollama"),
	)
	f.release()
	run("ollama: done and delete",
		poll(textIn("#ol-table td", "qwen2.5-coder:7b")),
		poll(`document.querySelector('#ol-pulls-table tr.done') !== null`),
		chromedp.Click(`button.delete[data-model="qwen2.5-coder:7b"]`),
		poll(`!(`+textIn("#ol-table td", "qwen2.5-coder:7b")+`) && document.getElementById('ol-status').textContent.startsWith("Deleted")`),
	)
	if f.ol.has("qwen2.5-coder:7b") || !f.ol.has("llama3:latest") {
		t.Fatal("the Ollama delete did not reach Ollama, or deleted the wrong model")
	}

	// Webhooks: create one, its secret shown once, a test delivery.
	url := f.hooks.URL + "/hook"
	run("webhooks",
		chromedp.Navigate(g.url+"/admin#webhooks"),
		poll(`document.getElementById('wh-status').textContent === ""`),
		chromedp.SetValue(`#wh-create input[name=url]`, url),
		chromedp.SetValue(`#wh-create input[name=events]`, "*"),
		chromedp.Click(`#wh-create button[type=submit]`),
		poll(`document.getElementById('wh-secret-value').textContent.startsWith("whsec_")`),
		poll(textIn("#wh-table td", url)),
		chromedp.Click(`#wh-table button.test`),
		poll(`document.getElementById('wh-status').textContent.startsWith("Test event queued")`),
		shot("webhooks"),
	)
	pollUntil(t, "the test delivery", func() bool { return f.hooks.n.Load() > 0 })

	// Audit log: the changes made above, by the session's admin.
	run("audit",
		chromedp.Navigate(g.url+"/admin#audit"),
		poll(textIn("#au-table td", "ollama.pull")+` && `+textIn("#au-table td", "policy.put")+` && `+
			textIn("#au-table td", "cache.purge")+` && `+textIn("#au-table td", "webhook.create")),
		shot("audit"),
	)

	// The request log's live tail shows a request as it is stored.
	run("live tail",
		chromedp.Navigate(g.url+"/admin#requests"),
		// The filters keep what the requests step left (project "nobody").
		chromedp.Evaluate(`document.querySelector('#rq-filters [name=project]').value = ""`, nil),
		chromedp.Click(`#rq-filters button[type=submit]`),
		poll(`document.querySelectorAll('#rq-table tbody tr').length > 1`),
		chromedp.Click("#rq-live", chromedp.ByID),
		poll(`document.getElementById('rq-live-status').textContent === "live"`),
	)
	pollUntil(t, "the tail's poll", func() bool { return g.srv.adm.Tail.Waiting() > 0 })
	if status := chat(testKey, "mock/echo"); status != 200 {
		t.Fatalf("chat: %d", status)
	}
	run("live tail: row",
		poll(`document.querySelector('#rq-table tr.live') !== null`),
		shot("requests-live"),
		chromedp.Click("#rq-live", chromedp.ByID),
	)
}
