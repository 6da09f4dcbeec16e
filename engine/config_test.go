package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/limits"
)

func envFunc(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func loadString(t *testing.T, toml string, env map[string]string) (*Config, error) {
	t.Helper()
	path := t.TempDir() + "/gateway.toml"
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, envFunc(env))
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, toml string
		env        map[string]string
		want       string
	}{
		{name: "unknown top-level key", toml: "listen = \"127.0.0.1:1\"\nlisten_addr = \"x\"\n", want: `unknown configuration key "listen_addr"`},
		{name: "unknown nested key", toml: "[providers.openai]\nbase_urll = \"x\"\n", want: `"providers.openai.base_urll"`},
		{name: "syntax error names line", toml: "listen = \"a\"\n\nmax_body_bytes = = 3\n", want: "line 3"},
		{name: "bad duration", toml: "drain_timeout = \"soon\"\n", want: `invalid duration "soon"`},
		{name: "bad kind", toml: "[providers.x]\nkind = \"soap\"\nbase_url = \"http://h\"\n", want: `unknown kind "soap"`},
		{name: "mock setting on openai", toml: "[providers.x]\nkind = \"openai\"\nbase_url = \"http://h\"\npace = \"1ms\"\n", want: `pace means nothing to kind "openai" (only to kinds that read it: mock)`},
		{name: "azure query on anthropic", toml: "[providers.x]\nkind = \"anthropic\"\nbase_url = \"http://h\"\nquery = \"api-version=1\"\n", want: `query means nothing to kind "anthropic"`},
		{name: "missing kind", toml: "[providers.x]\nbase_url = \"http://h\"\n", want: "kind is required"},
		{name: "bad flag", env: map[string]string{"ENABLE_SMART_ROUTING": "maybe"}, want: `ENABLE_SMART_ROUTING="maybe" is not a boolean`},
		{name: "bad rpm", env: map[string]string{"RATE_LIMIT_RPM": "lots"}, want: "RATE_LIMIT_RPM"},
		{name: "bad port", env: map[string]string{"PORT": "http"}, want: "PORT"},
		{name: "bad breaker threshold", env: map[string]string{"CIRCUIT_BREAKER_THRESHOLD": "-1"}, want: "CIRCUIT_BREAKER_THRESHOLD"},
		{name: "bad breaker timeout", env: map[string]string{"CIRCUIT_BREAKER_TIMEOUT": "0"}, want: "CIRCUIT_BREAKER_TIMEOUT"},
		{name: "bad retry attempts", env: map[string]string{"RETRY_MAX_ATTEMPTS": "0"}, want: "RETRY_MAX_ATTEMPTS"},
		{name: "bad backoff", env: map[string]string{"RETRY_BACKOFF_BASE": "1s"}, want: "RETRY_BACKOFF_BASE"},
		{name: "bad mode", env: map[string]string{"SMART_ROUTING_MODE": "yolo"}, want: "SMART_ROUTING_MODE"},
		{name: "no key on public address", toml: "listen = \"0.0.0.0:8080\"\n", want: "no client key configured"},
		{name: "key with both forms", toml: "[[keys]]\nkey = \"a\"\nsha256 = \"b\"\n", want: "exactly one of key and sha256"},
		{name: "bad sha256", toml: "[[keys]]\nsha256 = \"zz\"\n", want: "64 hex digits"},
		{name: "model of unknown provider", toml: "[[models]]\nname = \"m\"\nprovider = \"nope\"\n", want: `unknown provider "nope"`},
		{name: "store url scheme", env: map[string]string{"DATABASE_URL": "mysql://x"}, want: "only postgres://"},
		{name: "project without id", toml: "[[projects]]\nname = \"x\"\n", want: "projects[0]: id is required"},
		{name: "project twice", toml: "[[projects]]\nid = \"a\"\n[[projects]]\nid = \"a\"\n", want: `id "a" is listed twice`},
		{name: "project period", toml: "[[projects]]\nid = \"a\"\nbudget_period = \"week\"\n", want: `budget_period "week"`},
		{name: "project unknown key", toml: "[[projects]]\nid = \"a\"\nbudget = 3\n", want: `"projects.budget"`},
		{name: "webhook allow", toml: "[webhooks]\nallow = [\"10.0.0.0/33\"]\n", want: "webhooks.allow"},
		{name: "threshold", toml: "[webhooks]\nbudget_thresholds = [0]\n", want: "budget_thresholds"},
		{name: "admin key without name", toml: "[[admin_keys]]\nkey = \"k\"\n", want: "name is required"},
		{name: "flush interval", toml: "[store]\nflush_interval = \"0s\"\n", want: "store.flush_interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadString(t, tc.toml, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	toml := `
listen = "127.0.0.1:9000"
[reliability]
rate_limit_rpm = 10
[optimize]
strip_ide_boilerplate = false
`
	cfg, err := loadString(t, toml, map[string]string{"RATE_LIMIT_RPM": "20", "PORT": "9100", "STRIP_IDE_BOILERPLATE": "ON", "ENFORCE_DIFF_FIRST": "yes", "RETRY_ENABLED": "0"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Reliab.RateLimitRPM != 20 || cfg.Listen != "127.0.0.1:9100" || !cfg.Optimize.StripIDEBoilerplate || !cfg.Optimize.EnforceDiffFirst || cfg.Reliab.Retry {
		t.Fatalf("env did not override file: %+v", cfg)
	}
	cfg, err = loadString(t, toml, map[string]string{"CIRCUIT_BREAKER_THRESHOLD": "7", "CIRCUIT_BREAKER_TIMEOUT": "45",
		"RETRY_MAX_ATTEMPTS": "2", "RETRY_BACKOFF_BASE": "0.25"})
	if err != nil {
		t.Fatal(err)
	}
	if r := cfg.Reliab; r.BreakerFailures != 7 || r.BreakerCooldown.D() != 45*time.Second || r.RetryMaxAttempts != 2 || r.RetryBackoffBase.D() != 250*time.Millisecond {
		t.Fatalf("reliability env: %+v", r)
	}
	cfg, err = loadString(t, toml, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Reliab.RateLimitRPM != 10 || cfg.Optimize.StripIDEBoilerplate || !cfg.Reliab.Retry || !cfg.Optimize.FileHashCache {
		t.Fatalf("file or defaults lost: %+v", cfg)
	}
}

func TestStoreConfigFromEnv(t *testing.T) {
	t.Parallel()
	cfg, err := loadString(t, "[store]\nurl = \"postgres://file/db\"\n", map[string]string{"DATABASE_URL": "postgres://env/db"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.URL != "postgres://env/db" || cfg.Store.FlushInterval.D() != time.Second || cfg.spillDir() != "data/ledger-spill" {
		t.Fatalf("store config: %+v (spill %s)", cfg.Store, cfg.spillDir())
	}
	// A public gateway may start with only an admin key (project keys come
	// from the API).
	if _, err := loadString(t, "listen = \"0.0.0.0:8080\"\nadmin_key = \"a\"\n", nil); err != nil {
		t.Fatal(err)
	}
}

func TestParseBool(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"1", "true", "TRUE", "Yes", "on", " ON "} {
		if b, err := ParseBool("X", v); err != nil || !b {
			t.Errorf("%q: %v %v", v, b, err)
		}
	}
	for _, v := range []string{"0", "false", "No", "OFF"} {
		if b, err := ParseBool("X", v); err != nil || b {
			t.Errorf("%q: %v %v", v, b, err)
		}
	}
	for _, v := range []string{"2", "enabled", "y"} {
		if _, err := ParseBool("X", v); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestProviderEnablement(t *testing.T) {
	t.Parallel()
	toml := `
[providers.vllm]
kind = "openai"
base_url = "http://127.0.0.1:8000/v1"
[providers.together]
kind = "openai"
base_url = "https://api.together.xyz/v1"
api_key_env = "TOGETHER_API_KEY"
`
	cfg, err := loadString(t, toml, map[string]string{"OPENAI_API_KEY": "sk", "LOCAL_LLM_BASE_URL": "http://127.0.0.1:11434"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(cfg.EnabledProviders(), ",")
	if got != "mock,ollama,openai,vllm" {
		t.Fatalf("enabled = %s", got)
	}
	if cfg.Providers["groq"].BaseURL != "https://api.groq.com/openai/v1" || cfg.Providers["groq"].Kind != "openai" {
		t.Fatalf("groq defaults: %+v", cfg.Providers["groq"])
	}
}

func TestUnauthenticatedPublicAllowedExplicitly(t *testing.T) {
	t.Parallel()
	if _, err := loadString(t, "listen = \"0.0.0.0:8080\"\nallow_unauthenticated = true\n", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := loadString(t, "listen = \"0.0.0.0:8080\"\n", map[string]string{"GATEWAY_API_KEY": "k"}); err != nil {
		t.Fatal(err)
	}
}

// TestShippedConfig checks that gateway.toml loads and documents every key.
func TestShippedConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../gateway.toml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load("../gateway.toml", envFunc(nil)); err != nil {
		t.Fatalf("shipped gateway.toml: %v", err)
	}
	text := string(data)
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := f.Tag.Get("toml")
			if tag == "" || tag == "-" {
				continue
			}
			if !strings.Contains(text, tag) {
				t.Errorf("gateway.toml does not document %s%s", path, tag)
			}
			ft := f.Type
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map || ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() == typ.PkgPath() && ft.Name() != "Duration" {
				walk(ft, path+tag+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
}

func FuzzConfig(f *testing.F) {
	f.Add("listen = \"127.0.0.1:1\"\n[providers.x]\nkind = \"openai\"\nbase_url = \"http://h\"\n")
	f.Add("[[models]]\nname = \"m\"\nprovider = \"mock\"\naliases = [\"a\"]\n")
	f.Fuzz(func(t *testing.T, s string) {
		cfg := Defaults()
		if err := decodeStrict(s, &cfg); err != nil {
			return
		}
		if err := cfg.Validate(envFunc(nil)); err != nil {
			return
		}
		_, _ = NewCatalog(&cfg)
	})
}

// The reliability keys docs/reliability.md documents for Redis and
// Retry-After are decoded and reach the limiter and the retry policy.
func TestReliabilityRedisAndRetryAfterKeys(t *testing.T) {
	t.Parallel()
	cfg, err := loadString(t, "[reliability]\nrate_limit_redis_timeout = \"120ms\"\nrate_limit_redis_retry = \"3s\"\nretry_max_retry_after = \"2s\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	rl := cfg.redisLimits()
	if rl.Timeout != 120*time.Millisecond || rl.RetryInterval != 3*time.Second || cfg.Reliab.RetryMaxRetryAfter.D() != 2*time.Second {
		t.Fatalf("redis limits %+v, max retry-after %v", rl, cfg.Reliab.RetryMaxRetryAfter.D())
	}
	def, err := loadString(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rl := def.redisLimits(); rl != limits.DefaultRedisConfig() || def.Reliab.RetryMaxRetryAfter.D() != 10*time.Second {
		t.Fatalf("defaults: %+v, %v", rl, def.Reliab.RetryMaxRetryAfter.D())
	}
}

// TestKubernetesConfigMap: the gateway.toml that deploy/kubernetes ships
// in its ConfigMap loads with the strict loader (the manifests themselves
// are checked by deploy/kubernetes/check, a module of its own).
func TestKubernetesConfigMap(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../deploy/kubernetes/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The block scalar under `gateway.toml: |`, dedented: its lines are
	// indented by four spaces or empty.
	var toml []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.TrimSpace(line) == "gateway.toml: |":
			in = true
		case in && (strings.HasPrefix(line, "    ") || strings.TrimSpace(line) == ""):
			toml = append(toml, strings.TrimPrefix(line, "    "))
		case in:
			in = false
		}
	}
	if len(toml) < 3 {
		t.Fatalf("no gateway.toml block in configmap.yaml (%d lines)", len(toml))
	}
	path := filepath.Join(t.TempDir(), "gateway.toml")
	if err := os.WriteFile(path, []byte(strings.Join(toml, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("the ConfigMap's gateway.toml: %v", err)
	}
	if cfg.DataDir != "/data" {
		t.Fatalf("data_dir = %q: the Deployment mounts its emptyDir at /data", cfg.DataDir)
	}
}
