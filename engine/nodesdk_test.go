package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers/providertest"
)

// TestNodeSDKEveryProvider runs the official OpenAI and Anthropic Node SDKs
// (the versions pinned in testdata/nodesdk/package-lock.json) against a
// gateway in front of each provider's fake and the mock, as issue 12's new
// user did: responses.create streaming and not, a function-tool round trip
// chained with previous_response_id, retrieve, inputItems and delete; chat
// completions with a tool round trip; models.retrieve; the SDK's error
// class for each error status; n=2 and a named tool_choice on the mock;
// anthropic messages.countTokens for every model; embeddings and a batch (files.create, batches.create,
// polling, the output and error files) on the mock. testdata/nodesdk's
// check files hold the checks (lib.mjs says how they run); their output is
// the test's report.
//
// It needs node and npm (and the npm registry the first time: the packages
// are installed once into the user's cache directory, keyed by the lock
// file). Without them it skips, or fails when CI is set (.ci/run installs
// them).
func TestNodeSDKEveryProvider(t *testing.T) {
	t.Parallel()
	dir := nodeSDKInstall(t)
	const args = `{"city":"Paris","days":3}`
	oa, _ := providertest.StartOpenAI(&providertest.OpenAI{ToolCall: "get_weather", ToolArgs: args, ArgChunks: 3, Reply: "It is sunny."})
	an, _ := providertest.StartAnthropic(&providertest.Anthropic{ToolCall: "get_weather", ToolArgs: args, ArgChunks: 3, Reply: "It is sunny."})
	ge, _ := providertest.StartGemini(&providertest.Gemini{ToolCall: "get_weather", ToolArgs: args, Reply: "It is sunny."})
	ol, _ := providertest.StartOllama(&providertest.Ollama{ToolCall: "get_weather", ToolArgs: args, Reply: "It is sunny."})
	g := startGateway(t, "", fakeProvidersEnv(t, oa, an, ge, ol))
	type provider struct {
		Model string `json:"model"`
		Args  string `json:"args"`
		Reply string `json:"reply"`
	}
	list, err := json.Marshal([]provider{
		{"openai/gpt-4o", args, "It is sunny."},
		{"anthropic/claude-sonnet-4-0", args, "It is sunny."},
		{"gemini/gemini-2.0-flash", args, "It is sunny."},
		{"ollama/qwen2.5-coder", args, "It is sunny."},
		{"mock/tool", "{}", `The tool returned: {"forecast":"sunny"}`},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The scripts run from a fresh directory inside the install directory,
	// where node resolves their imports (a copy per run, as other test
	// processes may share the install). Every *.mjs but lib.mjs is a check
	// file, run as its own subtest against the same gateway.
	run, err := os.MkdirTemp(dir, "run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(run) })
	files, err := filepath.Glob(filepath.Join("testdata", "nodesdk", "*.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	var checks []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(run, filepath.Base(f)), src, 0o644); err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) != "lib.mjs" {
			checks = append(checks, filepath.Base(f))
		}
	}
	if len(checks) == 0 {
		t.Fatal("no check files in testdata/nodesdk")
	}
	for _, name := range checks {
		t.Run(strings.TrimSuffix(name, ".mjs"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", name)
			cmd.Dir = run
			cmd.Env = append(os.Environ(), "GATEWAY_URL="+g.url, "GATEWAY_KEY="+testKey, "PROVIDERS="+string(list))
			out, err := cmd.CombinedOutput()
			t.Logf("node %s:\n%s", name, out)
			if err != nil {
				t.Fatalf("node: %v (the FAIL lines above say which checks)", err)
			}
		})
	}
}

// nodeSDKInstall returns a directory holding testdata/nodesdk's packages,
// installed with npm ci into the user's cache directory once per lock file
// (outside the repository, so a fresh clone has no node_modules and runs
// reuse them). It skips the test when node or npm is missing or the
// install fails, outside CI.
func nodeSDKInstall(t *testing.T) string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format+"; set CI=1 to make this a failure", args...)
	}
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			unavailable("%s not installed: the Node SDK test needs node and npm", bin)
		}
	}
	src := filepath.Join("testdata", "nodesdk")
	pkg, err := os.ReadFile(filepath.Join(src, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	lock, err := os.ReadFile(filepath.Join(src, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append(pkg, lock...))
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "aigateway", "nodesdk-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Install beside it and rename, so that a concurrent run never sees a
	// half-installed directory.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "nodesdk-install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for name, b := range map[string][]byte{"package.json": pkg, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable("npm ci (testdata/nodesdk): %v\n%s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another run may have installed it first.
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); statErr != nil {
			t.Fatalf("install %s: %v", dir, err)
		}
	}
	return dir
}
