package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/internal/pgtest"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/providers/providertest"
)

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
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || strings.Count(csvBody, "\n") != 14 ||
		!strings.Contains(csvBody, ",route_reason,stream,classifier_cost_usd,cascade_extra_cost_usd\n") {
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

// childHoldAccountantEnv makes the child's accountant hold every job.
const childHoldAccountantEnv = "ENGINE_TEST_CHILD_HOLD_ACCOUNTANT"

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
	if os.Getenv(childHoldAccountantEnv) != "" {
		// Requests whose savings wait for a token count stay at the
		// accountant: only their provisional rows reach the journal.
		srv.acct.Close()
		srv.acct = accounting.NewHeldAccountant()
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
	held := map[string]string{childHoldAccountantEnv: "1"}
	for k, v := range env {
		held[k] = v
	}
	cmd, g := startChildGateway(t, cfgPath, held)
	const n, stripped = 20, 4
	var sum costSum
	// Requests the stripper edits are accounted after their answer, by an
	// accountant that never gets to them before the kill: their rows
	// survive as the provisional rows journaled before the answer.
	for i := range stripped {
		body := fmt.Sprintf(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"<|im_start|>user\nquestion %d<|im_end|>\n"}]}`, i)
		status, h, b := g.callH(t, "POST", "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + testKey})
		if status != 200 {
			t.Fatalf("%d %s", status, b)
		}
		sum.add(t, h)
	}
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
		return err == nil && len(gs) > 0 && gs[0].Requests == n+stripped
	})
	_ = cmd2.Process.Signal(syscall.SIGTERM)
	_ = cmd2.Wait()
	page, err := st.Requests(context.Background(), store.RequestQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	streams, usd := 0, 0.0
	// The oldest rows are the stripped requests', as journaled before their
	// answers: tokens and cost, not the boilerplate saving the accountant
	// never counted.
	for _, r := range page.Rows[max(len(page.Rows)-stripped, 0):] {
		if r.Status != 200 || r.PromptTokens != 100 || r.CostUSD <= 0 || r.Savings.IDEBoilerplate != 0 || r.Stream {
			t.Fatalf("provisional row %+v", r)
		}
	}
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
	if len(page.Rows) != n+stripped || streams != n/2 || math.Abs(usd-sum.usd) > 1e-6 {
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
