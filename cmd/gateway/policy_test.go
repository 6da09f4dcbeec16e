package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine"
	"github.com/aigateway/gateway/wasm"
)

const testAdminKey = "admin-key-for-tests"

// testGateway is a real gateway on 127.0.0.1 with the admin API on and the
// built-in router as its only policy.
type testGateway struct {
	url  string
	mu   sync.Mutex
	logs bytes.Buffer
}

func (g *testGateway) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.Write(p)
}

func (g *testGateway) log() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.logs.String()
}

func startTestGateway(t *testing.T) *testGateway {
	t.Helper()
	cfg := engine.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.AdminKey = testAdminKey
	// Generous: on a loaded machine under -race a fail-open timeout would
	// skip the policy and hide what the test checks.
	cfg.PolicyTimeout = engine.Duration(5 * time.Second)
	cfg.PolicyLimits.CompileTimeout = engine.Duration(5 * time.Minute)
	cfg.Policies = []wasm.PolicyConfig{{Name: "router", Module: "builtin:router", Stages: []string{"route"}}}
	if err := cfg.Validate(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	g := &testGateway{}
	srv, err := engine.New(&cfg, slog.New(slog.NewJSONHandler(g, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	g.url = "http://" + ln.Addr().String()
	return g
}

// do sends an HTTP request and returns the status, headers and body.
func (g *testGateway) do(t *testing.T, method, path string, body []byte, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
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
	return resp.StatusCode, resp.Header, string(b)
}

func (g *testGateway) admin(t *testing.T, method, path string, body []byte) (int, string) {
	t.Helper()
	status, _, b := g.do(t, method, path, body, map[string]string{"Authorization": "Bearer " + testAdminKey})
	return status, b
}

// chat sends a chat completion and returns the status, headers and the
// answer's text (the mock model echoes the last user message).
func (g *testGateway) chat(t *testing.T, model, text string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": text}}})
	status, h, b := g.do(t, "POST", "/v1/chat/completions", body, hdr)
	var resp struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if json.Unmarshal([]byte(b), &resp) == nil && len(resp.Choices) > 0 {
		return status, h, resp.Choices[0].Message.Content
	}
	return status, h, b
}

// runIn runs a command in dir and fails the test with its output if it fails.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// cli runs `gateway policy ARGS` in-process.
func cli(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	// A Go guest compiles in seconds and starts in milliseconds, but under
	// -race on two loaded cores it can take longer than the gateway's
	// budgets (30s, 2s).
	if len(args) > 0 && (args[0] == "check" || args[0] == "run") {
		args = append([]string{args[0], "-compile-timeout", "5m", "-init-timeout", "1m"}, args[1:]...)
	}
	code := policyCommand(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String() + errb.String()
}

func edit(t *testing.T, path string, pairs ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("%s has no %q", path, pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyAuthorJourney plays a new policy author, for a request policy
// and a route policy, in Go and in WAT: gateway policy new, build, test,
// check, run, upload to a real gateway, see the effect, upload a version
// that fails on purpose, find the reason (with the request id) in GET
// /admin/policies/NAME, the log and the metrics, delete it, and see the
// gateway back to its built-in behaviour.
func TestPolicyAuthorJourney(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("needs make")
	}
	g := startTestGateway(t)
	wasip1 := []string{"GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod", "GOWORK=off"}
	native := []string{"GOOS=", "GOARCH=", "GOFLAGS=-mod=mod", "GOWORK=off"}
	tests := []struct {
		name, lang, stage string
		// make turns the template's policy into one this gateway serves
		// (the mock model instead of a real provider's).
		adapt                [][2]string
		runFlags             []string
		runWant              string
		effect               func(t *testing.T, g *testGateway) (reqID string)
		breakIt              [][2]string
		afterDelete          func(t *testing.T, g *testGateway)
		wantPlace, wantFails string
	}{
		{
			name: "urgent", lang: "go", stage: "route",
			adapt:   [][2]string{{`"anthropic/claude-sonnet-4-0"`, `"mock/echo"`}},
			runWant: `route: mock/echo tier=strong reason="urgent: urgent request"`,
			effect: func(t *testing.T, g *testGateway) string {
				status, h, text := g.chat(t, "auto", "URGENT: prod is down", nil)
				if status != 200 || h.Get("X-Gateway-Route-Reason") != "urgent: urgent request" || text != "URGENT: prod is down" {
					t.Fatalf("urgent request: %d %q %q", status, h.Get("X-Gateway-Route-Reason"), text)
				}
				return ""
			},
			breakIt:   [][2]string{{"func route(c *abi.Call) abi.Status {", "func route(c *abi.Call) abi.Status {\n\treturn c.Fail(\"broken on purpose\")\n"}},
			wantPlace: "route: 1 of 2, decides first",
			afterDelete: func(t *testing.T, g *testGateway) {
				if _, h, _ := g.chat(t, "auto", "URGENT: prod is down", nil); strings.HasPrefix(h.Get("X-Gateway-Route-Reason"), "urgent:") {
					t.Fatalf("still routed by the deleted policy: %q", h.Get("X-Gateway-Route-Reason"))
				}
			},
		},
		{
			name: "prio", lang: "wat", stage: "route",
			adapt: [][2]string{
				{`"anthropic/claude-sonnet-4-0"`, `"mock/echo"`},
				{"(i32.const 48) (i32.const 27)", "(i32.const 48) (i32.const 9)"},
			},
			runFlags: []string{"-header", "X-Gateway-Priority: high"},
			runWant:  `route: mock/echo tier=strong reason="prio: priority header"`,
			effect: func(t *testing.T, g *testGateway) string {
				status, h, _ := g.chat(t, "auto", "prod is down", map[string]string{"X-Gateway-Priority": "high"})
				if status != 200 || h.Get("X-Gateway-Route-Reason") != "prio: priority header" {
					t.Fatalf("priority request: %d %q", status, h.Get("X-Gateway-Route-Reason"))
				}
				if _, h, _ = g.chat(t, "auto", "prod is down", nil); strings.HasPrefix(h.Get("X-Gateway-Route-Reason"), "prio:") {
					t.Fatalf("a request without the header was routed by the policy: %q", h.Get("X-Gateway-Route-Reason"))
				}
				return ""
			},
			breakIt: [][2]string{
				{`(import "gateway" "features"`, `(import "gateway" "set_error" (func $set_error (param i32 i32) (result i32)))
  (import "gateway" "features"`},
				{`(data (i32.const 0) "x-gateway-priority")`, `(data (i32.const 200) "broken on purpose")
  (data (i32.const 0) "x-gateway-priority")`},
				{"(local $n i32) (local $flags i32)", "(local $n i32) (local $flags i32)\n    (drop (call $set_error (i32.const 200) (i32.const 17)))\n    (return (i32.const 1))"},
			},
			wantPlace: "route: 1 of 2, decides first",
			afterDelete: func(t *testing.T, g *testGateway) {
				if _, h, _ := g.chat(t, "auto", "prod is down", map[string]string{"X-Gateway-Priority": "high"}); strings.HasPrefix(h.Get("X-Gateway-Route-Reason"), "prio:") {
					t.Fatalf("still routed by the deleted policy: %q", h.Get("X-Gateway-Route-Reason"))
				}
			},
		},
		{
			name: "marks", lang: "go", stage: "request",
			runWant: `message 0 (user, was 0): "keep this\nand this"`,
			effect: func(t *testing.T, g *testGateway) string {
				status, _, text := g.chat(t, "mock/echo", "keep this\n#gateway-ignore not this\nand this", nil)
				if status != 200 || text != "keep this\nand this" {
					t.Fatalf("marked request: %d %q", status, text)
				}
				return ""
			},
			breakIt:   [][2]string{{"func onRequest(c *abi.Call) abi.Status {", "func onRequest(c *abi.Call) abi.Status {\n\treturn c.Fail(\"broken on purpose\")\n"}},
			wantPlace: "request: 1 of 1, runs first",
			afterDelete: func(t *testing.T, g *testGateway) {
				if _, _, text := g.chat(t, "mock/echo", "a\n#gateway-ignore b", nil); text != "a\n#gateway-ignore b" {
					t.Fatalf("still edited by the deleted policy: %q", text)
				}
			},
		},
		{
			name: "brief", lang: "wat", stage: "request",
			runWant: `message 0 (user, was 0): "What is a mutex? (answer briefly)"`,
			effect: func(t *testing.T, g *testGateway) string {
				status, _, text := g.chat(t, "mock/echo", "What is a mutex?", nil)
				if status != 200 || text != "What is a mutex? (answer briefly)" {
					t.Fatalf("request: %d %q", status, text)
				}
				return ""
			},
			breakIt: [][2]string{
				{`(import "gateway" "message_count"`, `(import "gateway" "set_error" (func $set_error (param i32 i32) (result i32)))
  (import "gateway" "message_count"`},
				{`(data (i32.const 0) " (answer briefly)")`, `(data (i32.const 200) "broken on purpose")
  (data (i32.const 0) " (answer briefly)")`},
				{"(local $last i32) (local $len i32)", "(local $last i32) (local $len i32)\n    (drop (call $set_error (i32.const 200) (i32.const 17)))\n    (return (i32.const 1))"},
			},
			wantPlace: "request: 1 of 1, runs first",
			afterDelete: func(t *testing.T, g *testGateway) {
				if _, _, text := g.chat(t, "mock/echo", "What is a mutex?", nil); text != "What is a mutex?" {
					t.Fatalf("still edited by the deleted policy: %q", text)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.lang+"/"+tt.stage, func(t *testing.T) {
			if tt.lang == "wat" {
				if _, err := exec.LookPath("wat2wasm"); err != nil {
					t.Skip("needs wat2wasm (Debian: apt-get install wabt)")
				}
			}
			dir := filepath.Join(t.TempDir(), tt.name)
			module := filepath.Join(dir, tt.name+".wasm")

			// gateway policy new, in the repository: the SDK is this
			// checkout's.
			if code, out := cli(t, "", "new", tt.name, "-stage", tt.stage, "-lang", tt.lang, "-dir", dir); code != 0 {
				t.Fatalf("policy new: %d %s", code, out)
			}
			if tt.lang == "go" {
				gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
				checkout, _ := filepath.Abs("../../abi")
				if !strings.Contains(string(gomod), "=> "+checkout+"\n") {
					t.Fatalf("go.mod does not replace the SDK with this checkout's (%s):\n%s", checkout, gomod)
				}
			}
			src := filepath.Join(dir, "main.go")
			if tt.lang == "wat" {
				src = filepath.Join(dir, tt.name+".wat")
			}
			for _, p := range tt.adapt {
				edit(t, src, p[0], p[1])
			}

			// Build (and test natively) with the scaffold's Makefile.
			if tt.lang == "go" {
				runIn(t, dir, native, "make", "test")
			}
			runIn(t, dir, wasip1, "make", tt.name+".wasm")

			// Check and run it as an upload would.
			if code, out := cli(t, "", "check", module); code != 0 || !strings.Contains(out, "\nOK\n") {
				t.Fatalf("policy check: %d %s", code, out)
			}
			request, _ := os.ReadFile(filepath.Join(dir, "request.json"))
			args := append([]string{"run", module, "-stage", tt.stage}, tt.runFlags...)
			if code, out := cli(t, string(request), args...); code != 0 || !strings.Contains(out, tt.runWant) {
				t.Fatalf("policy run: %d %s\nwant %s", code, out, tt.runWant)
			}

			// Upload where the Makefile would, and see the effect.
			path := "/admin/policies/" + tt.name
			if tt.stage == "route" {
				path += "?position=before:router"
			}
			b, _ := os.ReadFile(module)
			status, resp := g.admin(t, "PUT", path, b)
			if status != 200 || !strings.Contains(resp, tt.wantPlace) {
				t.Fatalf("upload: %d %s\nwant placement %q", status, resp, tt.wantPlace)
			}
			tt.effect(t, g)

			// Break it on purpose, upload again (it keeps its place), and
			// find out why from the admin API, the log and the metrics.
			for _, p := range tt.breakIt {
				edit(t, src, p[0], p[1])
			}
			runIn(t, dir, wasip1, "make", tt.name+".wasm")
			b, _ = os.ReadFile(module)
			if status, resp := g.admin(t, "PUT", "/admin/policies/"+tt.name, b); status != 200 || !strings.Contains(resp, tt.wantPlace) {
				t.Fatalf("upload of the broken version: %d %s", status, resp)
			}
			model, text := "mock/echo", "hello"
			if tt.stage == "route" {
				model = "auto"
			}
			status, h, _ := g.chat(t, model, text, map[string]string{"X-Gateway-Priority": "high"})
			if status != 200 {
				t.Fatalf("a fail-open policy failing must not fail the request: %d", status)
			}
			status, resp = g.admin(t, "GET", "/admin/policies/"+tt.name, nil)
			var info wasm.Info
			if err := json.Unmarshal([]byte(resp), &info); status != 200 || err != nil || len(info.RecentFailures) == 0 {
				t.Fatalf("GET %s: %d %v %s", tt.name, status, err, resp)
			}
			f := info.RecentFailures[0]
			if f.Message != "broken on purpose" || f.Reason != "error_status" || f.Stage != tt.stage ||
				f.RequestID == "" || f.RequestID != h.Get("X-Request-Id") || f.Digest != info.Digest {
				t.Fatalf("newest failure = %+v, want the message, the request id %q and digest %s", f, h.Get("X-Request-Id"), info.Digest)
			}
			if log := g.log(); !strings.Contains(log, `"msg":"policy failed","policy":"`+tt.name+`"`) || !strings.Contains(log, `"message":"broken on purpose"`) {
				t.Fatalf("no warning line for the failure in the log:\n%s", log)
			}
			if _, metrics := g.admin(t, "GET", "/metrics", nil); !strings.Contains(metrics, `gateway_policy_failures_total{policy="`+tt.name+`",reason="error_status"}`) {
				t.Fatal("no gateway_policy_failures_total series for the failure")
			}

			// Delete it: the gateway is back to its built-in behaviour.
			if status, resp := g.admin(t, "DELETE", "/admin/policies/"+tt.name, nil); status != 200 || !strings.Contains(resp, `"deleted":true`) {
				t.Fatalf("delete: %d %s", status, resp)
			}
			if status, _ := g.admin(t, "GET", "/admin/policies/"+tt.name, nil); status != 404 {
				t.Fatalf("GET after delete: %d", status)
			}
			tt.afterDelete(t, g)
		})
	}
}

// TestPolicyNewEmbeddedSDK: without a checkout, `gateway policy new` writes
// the SDK this binary carries beside the policy, and the project builds and
// tests with nothing else.
func TestPolicyNewEmbeddedSDK(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command")
	}
	dir := filepath.Join(t.TempDir(), "solo")
	if code, out := cli(t, "", "new", "solo", "-stage", "request", "-dir", dir, "-abi", "embedded"); code != 0 {
		t.Fatalf("policy new: %d %s", code, out)
	}
	for _, f := range []string{"sdk/go.mod", "sdk/call.go", "sdk/wasip1.go", "sdk/abitest/abitest.go", "sdk/ABI.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("scaffold lacks %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sdk", "call_test.go")); err == nil {
		t.Fatal("the SDK copy carries its tests")
	}
	runIn(t, dir, []string{"GOFLAGS=-mod=mod", "GOWORK=off", "GOPROXY=off"}, "go", "test", "./...")
	runIn(t, dir, []string{"GOOS=wasip1", "GOARCH=wasm", "GOFLAGS=-mod=mod", "GOWORK=off", "GOPROXY=off"},
		"go", "build", "-buildmode=c-shared", "-o", "solo.wasm", ".")
	if code, out := cli(t, "", "check", filepath.Join(dir, "solo.wasm")); code != 0 {
		t.Fatalf("policy check: %d %s", code, out)
	}
}

func TestPolicyNewRefusals(t *testing.T) {
	t.Parallel()
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad name", []string{"new", "Bad Name"}, 2, "a policy name matches"},
		{"response stage", []string{"new", "p", "-stage", "response"}, 2, "request and route"},
		{"unknown lang", []string{"new", "p", "-lang", "rust"}, 2, "want go or wat"},
		{"no name", []string{"new"}, 2, "usage"},
		{"directory not empty", []string{"new", "p", "-dir", full}, 1, "not empty"},
		{"not an SDK", []string{"new", "p", "-dir", filepath.Join(t.TempDir(), "p"), "-abi", full}, 1, "guest SDK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if code, out := cli(t, "", tt.args...); code != tt.code || !strings.Contains(out, tt.want) {
				t.Fatalf("%v: %d %s", tt.args, code, out)
			}
		})
	}
}
