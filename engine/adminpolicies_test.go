package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aigateway/gateway/engine/internal/redistest"
	"github.com/aigateway/gateway/providers/providertest"
)

const adminKey = "admin-key-1"

func (g *gw) do(t *testing.T, method, path string, body io.Reader, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, g.url+path, body)
	req.Header.Set("Authorization", "Bearer "+adminKey)
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

func readExample(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile("../examples/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPolicyUploadUnderLoad uploads the PII redactor to a running gateway
// while clients keep sending requests: no request fails, no restart, and
// e-mail addresses stop reaching the upstream. Deleting it restores the old
// behaviour.
func TestPolicyUploadUnderLoad(t *testing.T) {
	t.Parallel()
	up, _ := providertest.StartOpenAI(&providertest.OpenAI{Reply: "ok"})
	t.Cleanup(func() { _ = up.Close() })
	// A generous deadline: on a loaded CI machine a fail-open timeout would
	// skip the policy and hide what this test checks.
	toml := "data_dir = \"" + t.TempDir() + "\"\npolicy_timeout = \"5s\"\n[policy_limits]\ncompile_timeout = \"5m\"\n"
	g := startGateway(t, toml, map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": up.URL + "/v1", "GATEWAY_ADMIN_KEY": adminKey})
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"mail me at jane.doe@example.com please"}]}`

	// Every request carries a sequence number taken when it starts; those
	// that start after the upload returned must be redacted. Requests in
	// flight during the swap finish on the old chain, as designed.
	var failed, seq atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 2000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				b := strings.Replace(body, "please", "please #"+strconv.FormatInt(seq.Add(1), 10)+"#", 1)
				status, _, _ := g.post(t, "/v1/chat/completions", b, map[string]string{"X-Gateway-Cache": "bypass"})
				if status != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	waitFor(t, "load to start", func() bool { return seq.Load() > 20 })
	status, resp := g.do(t, "PUT", "/admin/policies/pii", strings.NewReader(string(readExample(t, "pii-redactor/pii-redactor.wasm"))), nil)
	if status != 200 || !strings.Contains(resp, `"digest"`) {
		t.Fatalf("upload: %d %s", status, resp)
	}
	uploaded := seq.Load()
	waitFor(t, "requests after the upload", func() bool { return seq.Load() > uploaded+40 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the upload", failed.Load(), seq.Load())
	}
	checked := 0
	for _, r := range up.Requests() {
		m := regexp.MustCompile(`#(\d+)#`).FindSubmatch(r.Body)
		if m == nil {
			continue
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		if n <= uploaded {
			continue
		}
		checked++
		if strings.Contains(string(r.Body), "jane.doe@example.com") {
			t.Fatalf("request #%d started after the upload but was not redacted: %s", n, r.Body)
		}
	}
	if checked < 30 {
		t.Fatalf("only %d requests started after the upload", checked)
	}
	status, resp = g.do(t, "GET", "/admin/policies", nil, nil)
	if status != 200 || !strings.Contains(resp, `"name":"pii"`) || !strings.Contains(resp, `"name":"router"`) {
		t.Fatalf("list: %d %s", status, resp)
	}
	if status, resp = g.do(t, "DELETE", "/admin/policies/pii", nil, nil); status != 200 {
		t.Fatalf("delete: %d %s", status, resp)
	}
	g.post(t, "/v1/chat/completions", body, map[string]string{"X-Gateway-Cache": "bypass"})
	if last := string(up.Last().Body); !strings.Contains(last, "jane.doe@example.com") {
		t.Fatalf("policy still active after delete: %s", last)
	}
	// The audit log keeps what each change replaced: the upload had
	// nothing before it, the delete the uploaded policy.
	status, resp = g.do(t, "GET", "/admin/audit?action=policy.", nil, nil)
	var audit struct {
		Data []struct {
			Action string `json:"action"`
			Before *struct {
				Name   string `json:"name"`
				Digest string `json:"digest"`
			} `json:"before"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(resp), &audit); status != 200 || err != nil || len(audit.Data) != 2 {
		t.Fatalf("audit: %d %v %s", status, err, resp)
	}
	if del, put := audit.Data[0], audit.Data[1]; del.Action != "policy.delete" || del.Before == nil || del.Before.Name != "pii" ||
		del.Before.Digest == "" || put.Action != "policy.put" || put.Before != nil {
		t.Fatalf("audit before states: %s", resp)
	}
}

func TestPolicyUploadRefusals(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "data_dir = \""+t.TempDir()+"\"\n", map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
	tests := []struct {
		name   string
		body   io.Reader
		status int
		want   string
	}{
		{"garbage", strings.NewReader("definitely not wasm"), 400, "refused"},
		{"empty", strings.NewReader(""), 400, "refused"},
		{"too large for a module", strings.NewReader(strings.Repeat("\x00", 17<<20)), 413, "policy_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, resp := g.do(t, "PUT", "/admin/policies/router", tc.body, nil)
			if status != tc.status || !strings.Contains(resp, tc.want) {
				t.Fatalf("%d %s", status, resp)
			}
		})
	}
	// A 100 MB upload is refused from its headers: the body is never sent.
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /admin/policies/router HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", adminKey, 100<<20)
	hresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(hresp.Body)
	conn.Close()
	if hresp.StatusCode != 413 || !strings.Contains(string(b), "request_too_large") {
		t.Fatalf("100 MB upload: %d %s", hresp.StatusCode, b)
	}
	// The gateway still routes with the built-in router.
	status, hdr, body := g.post(t, "/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"hi"}]}`, nil)
	if status != 200 || hdr.Get("X-Gateway-Route-Reason") == "" {
		t.Fatalf("after refusals: %d %v %s", status, hdr, body)
	}
	if status, _ := g.do(t, "PUT", "/admin/policies/router", strings.NewReader("x"), map[string]string{"Authorization": "Bearer wrong"}); status != 401 {
		t.Fatalf("wrong admin key: %d", status)
	}
	status, resp := g.get(t, "/v1/skills", nil)
	if status != 200 || !strings.Contains(resp, `"id":"systematic-debugging"`) || strings.Count(resp, `"object":"skill"`) != 8 {
		t.Fatalf("skills: %d %s", status, resp)
	}
}

// TestPolicyFanOutThroughRedis: an upload on one replica reaches another
// through Redis, and a replica started later loads it too.
func TestPolicyFanOutThroughRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	env := map[string]string{"REDIS_URL": rs.URL(), "GATEWAY_ADMIN_KEY": adminKey}
	g1 := startGateway(t, "data_dir = \""+t.TempDir()+"\"\n", env)
	g2 := startGateway(t, "data_dir = \""+t.TempDir()+"\"\n", env)
	module := readExample(t, "wat-router/router.wasm")
	waitFor(t, "replica 2 to subscribe", func() bool {
		status, _ := g1.do(t, "PUT", "/admin/policies/watrouter?position=before:router", strings.NewReader(string(module)), nil)
		if status != 200 {
			t.Fatalf("upload: %d", status)
		}
		status, resp := g2.do(t, "GET", "/admin/policies/watrouter", nil, nil)
		return status == 200 && strings.Contains(resp, `"origin":"upload"`)
	})
	// The replica placed it where the upload asked.
	if status, resp := g2.do(t, "GET", "/admin/policies", nil, nil); status != 200 ||
		!strings.Contains(resp, `"stage":"route","policies":["watrouter","router"]`) {
		t.Fatalf("replica's chains: %d %s", status, resp)
	}
	g3 := startGateway(t, "data_dir = \""+t.TempDir()+"\"\n", env)
	waitFor(t, "a new replica to load stored policies", func() bool {
		status, _ := g3.do(t, "GET", "/admin/policies/watrouter", nil, nil)
		return status == 200
	})
	g1.do(t, "DELETE", "/admin/policies/watrouter", nil, nil)
	waitFor(t, "the deletion to reach replica 2", func() bool {
		status, _ := g2.do(t, "GET", "/admin/policies/watrouter", nil, nil)
		return status == 404
	})
}

// TestPolicyRollbackFansOut: a rollback on one replica undoes the last
// upload there and on the other replica (through Redis, like an upload),
// is audited, and a rollback with nothing to go back to is a 409.
func TestPolicyRollbackFansOut(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	env := map[string]string{"REDIS_URL": rs.URL(), "GATEWAY_ADMIN_KEY": adminKey}
	g1 := startGateway(t, "data_dir = \""+t.TempDir()+"\"\n", env)
	g2 := startGateway(t, "data_dir = \""+t.TempDir()+"\"\n", env)
	// Two small modules (a large Go-built one takes minutes to compile
	// under -race on a busy machine, on each replica).
	first := readExample(t, "wat-router/router.wasm")
	second, err := os.ReadFile("../wasm/testdata/fixed.wasm")
	if err != nil {
		t.Fatal(err)
	}
	digest := func(g *gw) string {
		status, resp := g.do(t, "GET", "/admin/policies/router", nil, nil)
		var info struct{ Digest, Origin string }
		if status != 200 || json.Unmarshal([]byte(resp), &info) != nil {
			t.Fatalf("GET router: %d %s", status, resp)
		}
		return info.Origin + ":" + info.Digest
	}
	if status, resp := g1.do(t, "POST", "/admin/policies/router/rollback", nil, nil); status != 409 || !strings.Contains(resp, `"code":"no_previous_version"`) {
		t.Fatalf("rollback of the built-in: %d %s", status, resp)
	}
	if status, _ := g1.do(t, "POST", "/admin/policies/nope/rollback", nil, nil); status != 404 {
		t.Fatalf("rollback of an unknown policy: %d", status)
	}
	waitFor(t, "replica 2 to take the first upload", func() bool {
		if status, resp := g1.do(t, "PUT", "/admin/policies/router", strings.NewReader(string(first)), nil); status != 200 {
			t.Fatalf("upload: %d %s", status, resp)
		}
		return digest(g2) == "upload:"+digestHex(first)
	})
	if status, resp := g1.do(t, "PUT", "/admin/policies/router", strings.NewReader(string(second)), nil); status != 200 {
		t.Fatalf("second upload: %d %s", status, resp)
	}
	waitFor(t, "replica 2 to take the second upload", func() bool { return digest(g2) == "upload:"+digestHex(second) })
	status, resp := g1.do(t, "POST", "/admin/policies/router/rollback", nil, nil)
	if status != 200 || !strings.Contains(resp, `"rollback_to":"upload:`+digestHex(second)+`"`) {
		t.Fatalf("rollback: %d %s", status, resp)
	}
	if got := digest(g1); got != "upload:"+digestHex(first) {
		t.Fatalf("replica 1 after the rollback runs %s", got)
	}
	waitFor(t, "the rollback to reach replica 2", func() bool { return digest(g2) == "upload:"+digestHex(first) })
	if status, resp := g1.do(t, "GET", "/admin/audit?action=policy.rollback", nil, nil); status != 200 ||
		!strings.Contains(resp, `"target":"router"`) {
		t.Fatalf("audit: %d %s", status, resp)
	}
}

func TestAdminPage(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", map[string]string{"GATEWAY_ADMIN_KEY": adminKey})
	status, body := g.get(t, "/admin", map[string]string{"Authorization": ""})
	if status != 200 || !strings.Contains(body, "<title>AI Gateway") || strings.Contains(body, adminKey) {
		t.Fatalf("%d %.200s", status, body)
	}
}

func TestAdminReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := dir + "/gateway.toml"
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := func(key string) string {
		return "data_dir = \"" + dir + "\"\n[[keys]]\nkey = \"" + key + "\"\nproject = \"p\"\n"
	}
	write(conf("first-key"))
	g := startGateway(t, conf("first-key"), map[string]string{"GATEWAY_API_KEY": "", "GATEWAY_ADMIN_KEY": adminKey})
	g.srv.SetConfigSource(path, func(k string) string {
		if k == "GATEWAY_ADMIN_KEY" {
			return adminKey
		}
		return ""
	})
	body := `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`
	if status, _, _ := g.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer first-key"}); status != 200 {
		t.Fatalf("first key: %d", status)
	}
	write(conf("second-key"))
	status, resp := g.do(t, "POST", "/admin/reload", nil, nil)
	if status != 200 || !strings.Contains(resp, `"keys"`) {
		t.Fatalf("reload: %d %s", status, resp)
	}
	if status, _, _ := g.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer first-key"}); status != 401 {
		t.Fatalf("old key after reload: %d", status)
	}
	if status, _, _ := g.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer second-key"}); status != 200 {
		t.Fatalf("new key after reload: %d", status)
	}
	write("listen = \n")
	if status, resp := g.do(t, "POST", "/admin/reload", nil, nil); status != 400 || !strings.Contains(resp, "nothing changed") {
		t.Fatalf("invalid config: %d %s", status, resp)
	}
	if status, _, _ := g.post(t, "/v1/chat/completions", body, map[string]string{"Authorization": "Bearer second-key"}); status != 200 {
		t.Fatalf("a refused reload changed the keys: %d", status)
	}
}
