// Package proctest runs the gateway as a child process for tests that
// kill it (the fleet test, the batch soak): build the binary once, start
// it on a loopback port, wait until it is ready.
package proctest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Build builds ./cmd/gateway into t's temporary directory and returns the
// binary's path.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gateway")
	build.Dir = Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "../../..")
}

// FreeAddr returns a loopback address with a port free right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start runs bin with the config at path on addr, its environment env and
// its stderr appended to logs, and returns once /readyz answers 200 (60 s
// at most; the test fails naming what after that).
func Start(t testing.TB, bin, path, addr string, env []string, logs *os.File, what string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "-config", path, "-listen", addr)
	cmd.Env = env
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready; stderr in %s", what, logs.Name())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
