package check

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// documentedEnv is every `UPPER_CASE` name README.md's tables mention.
func documentedEnv(t *testing.T) func(string) bool {
	t.Helper()
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]+)`").FindAllStringSubmatch(string(b), -1) {
		names[m[1]] = true
	}
	if !names["GATEWAY_API_KEY"] || !names["REDIS_URL"] {
		t.Fatal("README.md's environment table not found")
	}
	return func(name string) bool { return names[name] }
}

// TestManifests: deploy/kubernetes decodes strictly into the Kubernetes
// API types and passes every check.
func TestManifests(t *testing.T) {
	t.Parallel()
	m, err := Load("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range m.Check(documentedEnv(t)) {
		t.Error(err)
	}
	if len(m.Deployments) != 1 || len(m.Services) != 1 || len(m.ConfigMaps) != 1 || len(m.Secrets) != 1 || len(m.PDBs) != 1 || len(m.HPAs) != 1 {
		t.Fatalf("kinds: %d deployments, %d services, %d configmaps, %d secrets, %d PDBs, %d HPAs",
			len(m.Deployments), len(m.Services), len(m.ConfigMaps), len(m.Secrets), len(m.PDBs), len(m.HPAs))
	}
}

// TestChecksCatch: each mistake, made in a copy of the real manifests, is
// reported (the check is not a test that cannot fail).
func TestChecksCatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, old, new, want string
	}{
		{"unknown field", "deployment.yaml", "replicas: 3", "replicas: 3\n  replica: 3", `unknown field "replica"`},
		{"field of the wrong type", "pdb.yaml", "minAvailable: 2", "minAvailable: [2]", "PodDisruptionBudget"},
		{"duplicate key", "deployment.yaml", "replicas: 3", "replicas: 3\n  replicas: 4", `"replicas" already set`},
		{"unknown kind", "pdb.yaml", "apiVersion: policy/v1", "apiVersion: policy/v1beta1", "not a kind this check knows"},
		{"readiness path", "deployment.yaml", "path: /readyz", "path: /ready", "the gateway serves it on /readyz"},
		{"liveness path", "deployment.yaml", "path: /healthz", "path: /health", "the gateway serves it on /healthz"},
		{"probe port", "deployment.yaml", "httpGet: {path: /readyz, port: http}", "httpGet: {path: /readyz, port: web}", "readinessProbe port web is no container port"},
		{"listen port", "deployment.yaml", `"0.0.0.0:8080"`, `"0.0.0.0:9090"`, "listens on 9090"},
		{"service target port", "deployment.yaml", "targetPort: http", "targetPort: 8081", "targetPort 8081 is no container port"},
		{"service selector", "deployment.yaml", "selector: {app.kubernetes.io/name: ai-gateway}\n  ports", "selector: {app: gw}\n  ports", "selects no Deployment's pods"},
		{"undocumented secret key", "secret.yaml", "OPENAI_API_KEY:", "OPENAI_KEY:", "key OPENAI_KEY is no environment variable"},
		{"config key", "configmap.yaml", "gateway.toml: |", "config.toml: |", "has no key gateway.toml"},
		{"HPA target", "hpa.yaml", "name: ai-gateway\n  minReplicas", "name: gateway\n  minReplicas", "no such Deployment"},
		{"PDB blocks drains", "pdb.yaml", "minAvailable: 2", "minAvailable: 3", "no pod may ever be evicted"},
	}
	env := documentedEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files, _ := filepath.Glob("../*.yaml")
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				s := string(b)
				if filepath.Base(f) == tt.file {
					if !strings.Contains(s, tt.old) {
						t.Fatalf("%s no longer contains %q: update the case", tt.file, tt.old)
					}
					s = strings.Replace(s, tt.old, tt.new, 1)
				}
				if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var msgs []string
			m, err := Load(dir)
			if err != nil {
				msgs = append(msgs, err.Error())
			} else {
				for _, e := range m.Check(env) {
					msgs = append(msgs, e.Error())
				}
			}
			all := strings.Join(msgs, "\n")
			if !strings.Contains(all, tt.want) {
				t.Fatalf("want an error containing %q, got:\n%s", tt.want, all)
			}
		})
	}
}
