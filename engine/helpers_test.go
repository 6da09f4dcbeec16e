package engine

import (
	"os"
	"path/filepath"

	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/internal/pgtest"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const testKey = "test-key-123"

// gw is a gateway running on a loopback port for one test.
type gw struct {
	srv  *Server
	url  string // http://127.0.0.1:PORT
	logs *strings.Builder
	// stop shuts the gateway down (once; the test's cleanup calls it too).
	stop func()
}

// startGateway starts a real gateway on 127.0.0.1 with the given TOML and
// environment, and stops it when the test ends.
func startGateway(t *testing.T, toml string, env map[string]string) *gw {
	t.Helper()
	return startGatewayWith(t, toml, env, nil)
}

// startGatewayWith is startGateway with a last word on the configuration
// before it is validated (a shared store directory, say).
func startGatewayWith(t *testing.T, toml string, env map[string]string, tweak func(*Config)) *gw {
	t.Helper()
	getenv := func(k string) string { return env[k] }
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["GATEWAY_API_KEY"]; !ok {
		env["GATEWAY_API_KEY"] = testKey
	}
	cfg := Defaults()
	if err := decodeStrict(toml, &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	if err := cfg.applyEnv(getenv); err != nil {
		t.Fatalf("env: %v", err)
	}
	cfg.Listen = "127.0.0.1:0"
	if cfg.DataDir == "data" {
		cfg.DataDir = sharedDataDir
		// Each gateway gets its own store (and ledger spill), the Wasm
		// cache stays shared.
		cfg.Store.dir = t.TempDir()
	}
	// A test's own data_dir shares the compiled modules too: compiling the
	// Go-guest built-ins again takes minutes under -race.
	cfg.wasmCacheDir = filepath.Join(sharedDataDir, "wasm-cache")
	if cfg.PolicyLimits.CompileTimeout == Defaults().PolicyLimits.CompileTimeout {
		// Go guests compile in seconds, but under -race on two loaded cores
		// they can take longer than the 30s default budget.
		cfg.PolicyLimits.CompileTimeout = Duration(5 * time.Minute)
	}
	if tweak != nil {
		tweak(&cfg)
	}
	if err := cfg.Validate(getenv); err != nil {
		t.Fatalf("validate: %v", err)
	}
	logs := &strings.Builder{}
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, nil))
	srv, err := New(&cfg, logger)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	srv.SetAccessLog(&lockedWriter{w: logs})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
	}
	t.Cleanup(stop)
	return &gw{srv: srv, url: "http://" + ln.Addr().String(), logs: logs, stop: stop}
}

// fakeProvidersEnv is the environment that points the built-in openai,
// anthropic, gemini and ollama providers at the given fakes (nil: that
// provider is left unconfigured), and closes the fakes when the test ends.
func fakeProvidersEnv(t *testing.T, oa, an, ge, ol *providertest.Server) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, s := range []*providertest.Server{oa, an, ge, ol} {
		if s != nil {
			t.Cleanup(func() { _ = s.Close() })
		}
	}
	if oa != nil {
		env["OPENAI_API_KEY"], env["OPENAI_BASE_URL"] = "sk", oa.URL+"/v1"
	}
	if an != nil {
		env["ANTHROPIC_API_KEY"], env["ANTHROPIC_BASE_URL"] = "k", an.URL
	}
	if ge != nil {
		env["GEMINI_API_KEY"], env["GEMINI_BASE_URL"] = "k", ge.URL
	}
	if ol != nil {
		env["LOCAL_LLM_BASE_URL"] = ol.URL
	}
	return env
}

func (g *gw) client(opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{option.WithBaseURL(g.url + "/v1/"), option.WithAPIKey(testKey), option.WithMaxRetries(0)}
	return openai.NewClient(append(base, opts...)...)
}

// post sends a raw request and returns status, headers and body.
func (g *gw) post(t *testing.T, path, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("POST", g.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (g *gw) get(t *testing.T, path string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", g.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sseEvents reads an SSE body into its data payloads.
func sseEvents(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

var logMu sync.Mutex

// lockedWriter serialises log writes from concurrent requests.
type lockedWriter struct{ w *strings.Builder }

func (w *lockedWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return w.w.Write(p)
}

func (g *gw) logText() string {
	logMu.Lock()
	defer logMu.Unlock()
	return g.logs.String()
}

// sharedDataDir holds the Wasm compilation cache shared by the package's
// gateways, so that each test does not compile the built-in policies again.
var sharedDataDir string

func TestMain(m *testing.M) {
	if os.Getenv(childGatewayEnv) != "" {
		os.Exit(childGateway()) // a gateway process for crash tests (tenancy_test.go)
	}
	dir, err := os.MkdirTemp("", "engine-test-")
	if err != nil {
		panic(err)
	}
	sharedDataDir = dir
	code := pgtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// skillTemplate returns a built-in skill's template as a JSON string.
func skillTemplate(t *testing.T, id string) string {
	t.Helper()
	for _, sk := range policies.DefaultSkills() {
		if sk.ID == id {
			return string(jsonscan.AppendQuote(nil, sk.Template))
		}
	}
	t.Fatalf("no skill %s", id)
	return ""
}

// savedUSD is what the gateway credited to technique i so far, once every
// request waiting for its token count is accounted: the sum of the
// ledger's rows.
func (g *gw) savedUSD(i accounting.Technique) float64 {
	g.srv.acct.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.ten.led.Flush(ctx); err != nil {
		panic(err)
	}
	groups, err := g.srv.ten.st.UsageSummary(ctx, store.UsageQuery{GroupBy: store.GroupNone})
	if err != nil || len(groups) != 1 {
		panic(fmt.Sprint("usage summary: ", groups, err))
	}
	sv := groups[0].Savings
	return accounting.Saved{accounting.Cache: sv.ResponseCache, accounting.Prompt: sv.ProviderPromptCache, accounting.Strip: sv.IDEBoilerplate, accounting.Dedup: sv.FileDedup, accounting.Routing: sv.Routing}[i]
}

// ledgerRows flushes the ledger and returns its rows, newest first.
func (g *gw) ledgerRows(t *testing.T) []store.UsageRow {
	t.Helper()
	g.srv.acct.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.ten.led.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := g.srv.ten.st.Requests(ctx, store.RequestQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return page.Rows
}
