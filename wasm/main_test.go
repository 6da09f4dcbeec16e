package wasm

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// cacheDir is one compilation cache shared by every Host of the test
// binary: each module compiles once per run, not once per test.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wasm-test-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newHost returns a Host with a private metrics set, closed at cleanup.
func newHost(t testing.TB, opts Options) *Host {
	t.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = cacheDir
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.DefaultTimeout == 0 {
		// A policy's first call on a loaded machine may take longer than
		// the production default (100ms): tests of deadlines set their own.
		opts.DefaultTimeout = 10 * time.Second
	}
	if opts.InitTimeout == 0 {
		// Likewise for starting a Go guest (production: 2s).
		opts.InitTimeout = time.Minute
	}
	if opts.CompileTimeout == 0 {
		// Go guests compile in seconds, but under -race on a loaded machine
		// with parallel tests they may take far longer: tests of the budget
		// set their own.
		opts.CompileTimeout = 5 * time.Minute
	}
	h, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func testdata(name string) string { return filepath.Join("testdata", name) }

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(testdata(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// chatInput returns an Input with the given (role, text) pairs.
func chatInput(pairs ...string) *Input {
	in := &Input{Model: []byte("auto"), Body: []byte(`{"model":"auto"}`)}
	for i := 0; i+1 < len(pairs); i += 2 {
		in.AddMessage([]byte(pairs[i]), []byte(pairs[i+1]), 0)
	}
	return in
}
