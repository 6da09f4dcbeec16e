package engine

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestAdminReloadSections: for every section of gateway.toml, a reload of a
// file that changes only that section either applies it everywhere it is
// used (keys, projects, policies, skills — checked through the endpoints
// that read them) or reports it, alone, in needs_restart and applies none
// of it.
func TestAdminReloadSections(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The compile budget is the one startGateway gives tests, so that the
	// running configuration and the file agree.
	base := "listen = \"127.0.0.1:0\"\ndata_dir = \"" + dir + "\"\n[[keys]]\nkey = \"k1\"\nproject = \"p\"\n[policy_limits]\ncompile_timeout = \"5m\"\n"
	env := map[string]string{"GATEWAY_API_KEY": "", "GATEWAY_ADMIN_KEY": adminKey}
	chat := `{"model":"mock/echo","messages":[{"role":"user","content":"x"}]}`
	tests := []struct {
		section, add string
		restart      bool
		check        func(t *testing.T, g *gw) // the section's effect after the reload
	}{
		{section: "keys", add: "[[keys]]\nkey = \"k2\"\nproject = \"p\"\n", check: func(t *testing.T, g *gw) {
			if status, _, body := g.post(t, "/v1/chat/completions", chat, map[string]string{"Authorization": "Bearer k2"}); status != 200 {
				t.Fatalf("the added key: %d %s", status, body)
			}
		}},
		{section: "projects", add: "[[projects]]\nid = \"added\"\nname = \"Added\"\n", check: func(t *testing.T, g *gw) {
			if status, body := g.do(t, "GET", "/admin/projects/added", nil, nil); status != 200 {
				t.Fatalf("the added project: %d %s", status, body)
			}
		}},
		{section: "policies", add: "[[policies]]\nname = \"router\"\nmodule = \"builtin:router\"\nstages = [\"route\"]\n", check: func(t *testing.T, g *gw) {
			status, body := g.do(t, "GET", "/admin/policies", nil, nil)
			if status != 200 || !strings.Contains(body, `"router"`) || strings.Contains(body, `"stripper"`) {
				t.Fatalf("policies after the reload: %d %s", status, body)
			}
		}},
		{section: "skills", add: "[[skills]]\nid = \"haiku\"\ndescription = \"Answers in a haiku\"\ntemplate = \"Answer as a haiku.\"\n", check: func(t *testing.T, g *gw) {
			status, body := g.get(t, "/v1/skills", map[string]string{"Authorization": "Bearer k1"})
			if status != 200 || !strings.Contains(body, `"haiku"`) {
				t.Fatalf("GET /v1/skills after the reload: %d %s", status, body)
			}
		}},
		{section: "server", add: "", restart: true},
		{section: "listen", restart: true},
		{section: "providers", add: "[providers.extra]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"x\"\n", restart: true},
		{section: "models", add: "[[models]]\nname = \"extra-model\"\nprovider = \"mock\"\n", restart: true},
		{section: "cache", add: "[cache]\nttl = \"2h\"\n", restart: true},
		{section: "reliability", add: "[reliability]\nretry = false\n", restart: true},
		{section: "optimize", add: "[optimize]\nstrip_ide_boilerplate = false\n", restart: true, check: func(t *testing.T, g *gw) {
			// Not applied in part: the stripper still runs.
			status, body := g.do(t, "GET", "/admin/policies", nil, nil)
			if status != 200 || !strings.Contains(body, `"stripper"`) {
				t.Fatalf("the stripper went with a restart-only section: %d %s", status, body)
			}
		}},
		{section: "routing", add: "[routing]\ncascade = true\n", restart: true},
		{section: "policy_limits", add: "max_functions = 123\n", restart: true}, // in base's [policy_limits]
		{section: "store", add: "[store]\nretention_days = 7\n", restart: true},
		{section: "webhooks", add: "[webhooks]\nmax_attempts = 3\n", restart: true},
		{section: "admin_keys", add: "[[admin_keys]]\nname = \"ops\"\nkey = \"ops-key-0123456789\"\n", restart: true},
	}
	for _, tc := range tests {
		t.Run(tc.section, func(t *testing.T) {
			path := t.TempDir() + "/gateway.toml"
			write := func(s string) {
				if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			g := startGateway(t, base, env)
			g.srv.SetConfigSource(path, func(k string) string { return env[k] })
			changed := base + tc.add
			switch tc.section {
			case "server":
				changed = strings.Replace(base, "data_dir", "max_body_bytes = 1000\ndata_dir", 1)
			case "listen":
				changed = strings.Replace(base, "127.0.0.1:0", "127.0.0.1:1", 1)
			}
			// The unchanged file first: nothing to restart.
			write(base)
			if status, resp := g.do(t, "POST", "/admin/reload", nil, nil); status != 200 || !strings.Contains(resp, `"needs_restart":null`) && !strings.Contains(resp, `"needs_restart":[]`) {
				t.Fatalf("reload of the running file: %d %s", status, resp)
			}
			write(changed)
			status, resp := g.do(t, "POST", "/admin/reload", nil, nil)
			if status != 200 {
				t.Fatalf("reload: %d %s", status, resp)
			}
			var out struct {
				Applied      []string `json:"applied"`
				NeedsRestart []string `json:"needs_restart"`
			}
			if err := json.Unmarshal([]byte(resp), &out); err != nil {
				t.Fatal(err)
			}
			if tc.restart {
				if len(out.NeedsRestart) != 1 || out.NeedsRestart[0] != tc.section {
					t.Fatalf("needs_restart = %v, want [%s]", out.NeedsRestart, tc.section)
				}
			} else if len(out.NeedsRestart) != 0 || !strings.Contains(strings.Join(out.Applied, ","), tc.section) {
				t.Fatalf("applied %v, needs_restart %v: want %s applied", out.Applied, out.NeedsRestart, tc.section)
			}
			if tc.check != nil {
				tc.check(t, g)
			}
			// Whatever the section, the running key still works.
			if status, _, body := g.post(t, "/v1/chat/completions", chat, map[string]string{"Authorization": "Bearer k1"}); status != 200 {
				t.Fatalf("k1 after the reload: %d %s", status, body)
			}
		})
	}
}
