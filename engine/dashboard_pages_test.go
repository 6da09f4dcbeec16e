package engine

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// mockTiers keeps "auto" on the mock provider when an Ollama provider
// (whose fake serves no chat) is configured.
const mockTiers = "[routing.tiers]\nlocal = \"mock/echo\"\nfast = \"mock/lorem\"\nstrong = \"mock/echo\"\nreasoning = \"mock/echo\"\n"

// pollUntil polls cond every 50ms until it holds; the deadline only bounds a
// broken run (no timing is asserted).
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, body)
	}
	return v
}

// TestAdminDashboardPages checks the endpoints of the routing, providers,
// models, Ollama and live-tail pages against a real gateway with the mock
// provider and a fake Ollama.
func TestAdminDashboardPages(t *testing.T) {
	t.Parallel()
	ol := startFakeOllama(t, map[string]int64{"llama3:latest": 3825819519})
	toml := "[[models]]\nname = \"mock/echo\"\nprovider = \"mock\"\naliases = [\"house-echo\"]\n" + mockTiers
	g := startGateway(t, toml, map[string]string{"GATEWAY_ADMIN_KEY": adminKey, "LOCAL_LLM_BASE_URL": ol.URL})

	// Traffic: routed (auto) and not.
	for i := range 3 {
		if r := routeReason(t, g, "Write a haiku about rain "+strconv.Itoa(i)); r == "" {
			t.Fatal("auto request without a route reason")
		}
	}
	if status, _, body := g.post(t, "/v1/chat/completions", `{"model":"mock/echo","messages":[{"role":"user","content":"hi"}]}`, nil); status != 200 {
		t.Fatalf("chat: %d %s", status, body)
	}

	t.Run("routing", func(t *testing.T) {
		status, body := g.do(t, "GET", "/admin/routing?window=1h", nil, nil)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		r := decode[struct {
			Requests int64              `json:"requests"`
			Totals   store.RoutingPoint `json:"totals"`
			Series   []store.RoutingPoint
			Names    []string `json:"tier_names"`
		}](t, body)
		var tiers int64
		for _, n := range r.Totals.Tiers {
			tiers += n
		}
		if r.Requests != 4 || r.Totals.Routed != 3 || tiers+r.Totals.Other != 3 || len(r.Series) != 60 || len(r.Names) != 4 {
			t.Fatalf("routing: %s", body)
		}
		if status, body := g.do(t, "GET", "/admin/routing?window=2h", nil, nil); status != 400 {
			t.Fatalf("bad window: %d %s", status, body)
		}
		// The trace: routed rows only.
		_, body = g.do(t, "GET", "/admin/requests?routed=1", nil, nil)
		page := decode[struct{ Data []store.UsageRow }](t, body)
		if len(page.Data) != 3 {
			t.Fatalf("trace: %s", body)
		}
		for _, row := range page.Data {
			if row.RouteReason == "" || row.RequestedModel != "auto" {
				t.Fatalf("trace row: %+v", row)
			}
		}
	})

	t.Run("providers", func(t *testing.T) {
		status, body := g.do(t, "GET", "/admin/providers", nil, nil)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		list := decode[struct {
			Data []struct {
				Name, Kind, Health string
				Requests, Errors   int64
				MaxInFlight        int     `json:"max_in_flight"`
				P99                float64 `json:"p99_ms"`
				Breakers           []struct{ State string }
			}
		}](t, body)
		byName := map[string]int{}
		for i, p := range list.Data {
			byName[p.Name] = i
		}
		mi, ok1 := byName["mock"]
		oi, ok2 := byName["ollama"]
		if !ok1 || !ok2 {
			t.Fatalf("providers: %s", body)
		}
		m, o := list.Data[mi], list.Data[oi]
		if m.Requests != 4 || m.Health != "ok" || m.MaxInFlight <= 0 || m.P99 <= 0 || o.Kind != "ollama" || o.Health != "idle" {
			t.Fatalf("providers: %s", body)
		}
		if strings.Contains(body, "sk-") {
			t.Fatalf("a key in the providers list: %s", body)
		}
	})

	t.Run("models", func(t *testing.T) {
		_, body := g.do(t, "GET", "/admin/models", nil, nil)
		list := decode[struct {
			Data []struct {
				Name    string
				Aliases []string
			}
		}](t, body)
		found := false
		for _, m := range list.Data {
			if m.Name == "mock/echo" {
				found = len(m.Aliases) == 1 && m.Aliases[0] == "house-echo"
			}
		}
		if !found {
			t.Fatalf("models: %s", body)
		}
	})

	t.Run("ollama", func(t *testing.T) {
		status, body := g.do(t, "GET", "/admin/ollama/models", nil, nil)
		if status != 200 || !strings.Contains(body, `"name":"llama3:latest"`) || !strings.Contains(body, `"parameter_size":"13B"`) {
			t.Fatalf("list: %d %s", status, body)
		}
		for _, bad := range []string{`{"model":""}`, `{"model":"../etc"}`, `{"model":"a b"}`, `{"model":"x","extra":1}`} {
			if status, body := g.do(t, "POST", "/admin/ollama/pull", strings.NewReader(bad), nil); status != 400 {
				t.Fatalf("pull %s: %d %s", bad, status, body)
			}
		}
		status, body = g.do(t, "POST", "/admin/ollama/pull", strings.NewReader(`{"model":"qwen2.5-coder:7b"}`), nil)
		if status != 202 {
			t.Fatalf("pull: %d %s", status, body)
		}
		type pull struct {
			Model, Status, Error string
			Completed, Total     int64
			Done                 bool
		}
		job := func(model string) pull {
			_, body := g.do(t, "GET", "/admin/ollama/pulls", nil, nil)
			for _, p := range decode[struct{ Data []pull }](t, body).Data {
				if p.Model == model {
					return p
				}
			}
			t.Fatalf("no job for %s", model)
			return pull{}
		}
		pollUntil(t, "the pull", func() bool { return job("qwen2.5-coder:7b").Done })
		if p := job("qwen2.5-coder:7b"); p.Status != "success" || p.Error != "" || p.Total != 5000 || p.Completed != 5000 || !ol.has("qwen2.5-coder:7b") {
			t.Fatalf("pull: %+v", p)
		}
		g.do(t, "POST", "/admin/ollama/pull", strings.NewReader(`{"model":"missing-model"}`), nil)
		pollUntil(t, "the failed pull", func() bool { return job("missing-model").Done })
		if p := job("missing-model"); p.Status != "failed" || !strings.Contains(p.Error, "file does not exist") {
			t.Fatalf("failed pull: %+v", p)
		}
		if status, body := g.do(t, "DELETE", "/admin/ollama/models?model=qwen2.5-coder:7b", nil, nil); status != 200 || ol.has("qwen2.5-coder:7b") {
			t.Fatalf("delete: %d %s", status, body)
		}
		if status, body := g.do(t, "DELETE", "/admin/ollama/models?model=qwen2.5-coder:7b", nil, nil); status != 404 {
			t.Fatalf("delete again: %d %s", status, body)
		}
		_, audit := g.do(t, "GET", "/admin/audit?action=ollama.pull", nil, nil)
		if !strings.Contains(audit, "qwen2.5-coder:7b") {
			t.Fatalf("audit: %s", audit)
		}
	})

	t.Run("tail", func(t *testing.T) {
		status, body := g.do(t, "GET", "/admin/requests/tail", nil, nil)
		if status != 200 {
			t.Fatalf("%d %s", status, body)
		}
		start := decode[struct{ Next int64 }](t, body).Next
		if start < 4 {
			t.Fatalf("cursor %d after 4 stored rows: %s", start, body)
		}
		// A poll waits for the next stored row.
		got := make(chan string, 1)
		go func() {
			_, body := g.do(t, "GET", "/admin/requests/tail?wait=30&after="+strconv.FormatInt(start, 10), nil, nil)
			got <- body
		}()
		pollUntil(t, "the poll to wait", func() bool { return g.srv.adm.Tail.Waiting() == 1 })
		routeReason(t, g, "Prove the theorem step by step.")
		body = <-got
		rows := decode[struct {
			Data []struct {
				Seq         int64
				RouteReason string `json:"route_reason"`
			}
			Next int64
		}](t, body)
		if len(rows.Data) != 1 || rows.Data[0].Seq != start+1 || rows.Data[0].RouteReason == "" || rows.Next != start+1 {
			t.Fatalf("tail: %s", body)
		}
		// Filters; an empty answer at once with wait=0.
		_, body = g.do(t, "GET", "/admin/requests/tail?wait=0&routed=1&after=0", nil, nil)
		if n := len(decode[struct{ Data []any }](t, body).Data); n != 4 {
			t.Fatalf("routed rows in the tail: %d: %s", n, body)
		}
		_, body = g.do(t, "GET", "/admin/requests/tail?wait=0&project=nobody&after=0", nil, nil)
		if n := len(decode[struct{ Data []any }](t, body).Data); n != 0 {
			t.Fatalf("project filter: %s", body)
		}
		for _, bad := range []string{"after=-1", "after=x", "after=1&wait=31", "after=1&wait=x"} {
			if status, _ := g.do(t, "GET", "/admin/requests/tail?"+bad, nil, nil); status != 400 {
				t.Fatalf("%s: %d", bad, status)
			}
		}
		// Browsers that go away leave nothing waiting: each poll ends by
		// itself within its wait.
		for range 5 {
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", g.url+"/admin/requests/tail?wait=1&after="+strconv.FormatInt(rows.Next, 10), nil)
			req.Header.Set("Authorization", "Bearer "+adminKey)
			go func() {
				if resp, err := http.DefaultClient.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
			pollUntil(t, "a poll to start", func() bool { return g.srv.adm.Tail.Waiting() > 0 })
			cancel()
		}
		pollUntil(t, "the abandoned polls to end", func() bool { return g.srv.adm.Tail.Waiting() == 0 })
	})
}

// Without an Ollama provider the Ollama endpoints say so.
func TestAdminOllamaNotConfigured(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/admin/ollama/models", ""}, {"POST", "/admin/ollama/pull", `{"model":"x"}`}, {"DELETE", "/admin/ollama/models?model=x", ""},
	} {
		status, body := g.do(t, c.method, c.path, strings.NewReader(c.body), nil)
		if status != 404 || errCode(body) != "ollama_not_configured" {
			t.Fatalf("%s %s: %d %s", c.method, c.path, status, body)
		}
	}
}
