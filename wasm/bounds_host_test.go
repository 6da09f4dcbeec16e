package wasm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

func leb(n int) []byte {
	var b []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, leb(len(body))...), body...)
}

// synthModule is a valid module of funcs functions, the first of them
// nesting depth empty blocks (wazero's compiler takes time quadratic in the
// depth).
func synthModule(funcs, depth int) []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, section(1, []byte{1, 0x60, 0, 0})...) // type 0: () -> ()
	fsec := leb(funcs)
	for i := 0; i < funcs; i++ {
		fsec = append(fsec, 0)
	}
	m = append(m, section(3, fsec)...)
	code := leb(funcs)
	for i := 0; i < funcs; i++ {
		body := []byte{0} // no locals
		if i == 0 {
			for d := 0; d < depth; d++ {
				body = append(body, 0x02, 0x40) // block
			}
			for d := 0; d < depth; d++ {
				body = append(body, 0x0b)
			}
		}
		body = append(body, 0x0b)
		code = append(code, leb(len(body))...)
		code = append(code, body...)
	}
	return append(m, section(10, code)...)
}

func TestCountFunctions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		module []byte
		want   int
		err    string
	}{
		{"synthetic", synthModule(3, 0), 3, ""},
		{"imports count", readTestdata(t, "fixed.wasm"), 3, ""}, // set_route + 2 defined
		{"header only", []byte("\x00asm\x01\x00\x00\x00"), 0, ""},
		{"section past the end", append([]byte("\x00asm\x01\x00\x00\x00"), 3, 10, 1), 0, "past the end"},
		{"truncated size", append([]byte("\x00asm\x01\x00\x00\x00"), 3, 0x80), 0, "past the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := countFunctions(tt.module)
			if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) || got != tt.want {
				t.Fatalf("countFunctions = %d, %v; want %d, %q", got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzCountFunctions(f *testing.F) {
	f.Add(synthModule(2, 1))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x81"))
	f.Fuzz(func(t *testing.T, b []byte) {
		b = append([]byte("\x00asm\x01\x00\x00\x00"), b...)
		if n, err := countFunctions(b); err == nil && n < 0 {
			t.Fatalf("negative count %d", n)
		}
	})
}

func TestMaxFunctions(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{MaxFunctions: 10})
	_, err := h.Upload("many", synthModule(11, 0))
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "11 functions") {
		t.Fatalf("Upload = %v, want a refusal naming 11 functions", err)
	}
}

// TestUploadCannotStallHost: a module whose compile exceeds the budget is
// refused at the budget, its compile abandoned; while such compiles run on,
// trusted loads and the other admin operations proceed, and once they hold
// every compile slot another upload is answered ErrBusy instead of queueing
// behind them; once they end, uploads work again.
func TestUploadCannotStallHost(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{CacheDir: t.TempDir(), CompileTimeout: 50 * time.Millisecond})
	// A trusted load, not held to the 50 ms budget (a loaded machine can
	// take longer than that even for this small module).
	trust(h, readTestdata(t, "echo.wasm"))
	if err := h.Configure([]PolicyConfig{{Name: "echo", Module: testdata("echo.wasm")}}); err != nil {
		t.Fatal(err)
	}
	// Each takes about a third of a second to compile without -race, whatever the
	// machine's load: far past the 50 ms budget.
	for i := 0; i < cap(h.compileSlots); i++ {
		_, err := h.Upload("slow", synthModule(1, 6000+i))
		if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "budget") {
			t.Fatalf("Upload(slow %d) = %v, want a refusal at the budget", i, err)
		}
	}
	if len(h.compileSlots) == cap(h.compileSlots) {
		// Still compiling in the background: nothing else waits for them.
		if err := h.Configure([]PolicyConfig{{Name: "router", Module: "builtin:router"}}); err != nil {
			t.Fatalf("a trusted Configure waited for the abandoned compiles: %v", err)
		}
		if err := h.Delete("router"); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Upload("fixed", readTestdata(t, "fixed.wasm")); err != nil && !errors.Is(err, ErrBusy) {
			t.Fatalf("Upload while every slot is taken = %v, want ErrBusy (or success if one just ended)", err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for len(h.compileSlots) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := h.Upload("fixed", readTestdata(t, "fixed.wasm")); err != nil {
		t.Fatalf("Upload after the abandoned compiles ended: %v", err)
	}
}

func TestTrimCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newHost(t, Options{CacheDir: dir, CacheMaxBytes: 2500})
	old := time.Now().Add(-time.Hour)
	write := func(path string, size int, age time.Duration) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old.Add(age), old.Add(age)); err != nil {
			t.Fatal(err)
		}
	}
	up := filepath.Join(uploadCacheDir(dir), "wazero-x")
	write(filepath.Join(up, "a"), 1000, 0)
	write(filepath.Join(up, "b"), 1000, time.Minute)
	write(filepath.Join(up, "c"), 1000, 2*time.Minute)
	write(filepath.Join(dir, "stale-from-an-old-layout"), 1000, -time.Minute)
	write(filepath.Join(builtinCacheDir(dir), "wazero-x", "router"), 5000, -time.Hour)
	if err := h.trimCache(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		filepath.Join(dir, "stale-from-an-old-layout"):            false,
		filepath.Join(up, "a"):                                    false,
		filepath.Join(up, "b"):                                    true,
		filepath.Join(up, "c"):                                    true,
		filepath.Join(builtinCacheDir(dir), "wazero-x", "router"): true,
	} {
		if _, err := os.Stat(name); (err == nil) != want {
			t.Errorf("%s: exists = %v, want %v", name, err == nil, want)
		}
	}
}

// TestCloseWaitsForAbandonedCompiles: a Host closed while an abandoned
// compile still runs waits for it (cancelled, it ends between functions)
// instead of closing the runtime under it, which made wazero panic; an
// upload after Close is refused.
func TestCloseWaitsForAbandonedCompiles(t *testing.T) {
	t.Parallel()
	h, err := New(context.Background(), Options{CacheDir: t.TempDir(), CompileTimeout: 20 * time.Millisecond, Metrics: metrics.NewSet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Upload("slow", synthModule(1, 6000)); !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("Upload(slow) = %v, want a refusal at the budget", err)
	}
	if len(h.compileSlots) == 0 {
		t.Log("the abandoned compile already ended: Close is not exercised against a running one")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(h.compileSlots) != 0 {
		t.Fatal("Close returned while a compile still held its slot")
	}
	if _, err := h.Upload("late", synthModule(1, 10)); err == nil {
		t.Fatal("an upload after Close succeeded")
	}
}
