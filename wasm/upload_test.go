package wasm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aigateway/gateway/abi"
)

func routeModel(t testing.TB, h *Host) string {
	t.Helper()
	var out Output
	if err := h.Run(context.Background(), abi.StageRoute, chatInput("user", "mock/echo"), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Failures) != 0 {
		t.Fatalf("failures: %s", out.AppendText(nil))
	}
	return string(out.Route.Model)
}

func TestUploadPersistDelete(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	cfg := []PolicyConfig{{Name: "r", Module: testdata("echo.wasm"), Stages: []string{"route"}}}
	h := newHost(t, Options{DataDir: data})
	if err := h.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	var changes []string
	h.OnChange(func(name, digest string, module []byte) {
		changes = append(changes, name+":"+digest[:min(len(digest), 8)]+":"+map[bool]string{true: "module", false: "delete"}[module != nil])
	})
	if got := routeModel(t, h); got != "mock/echo" {
		t.Fatalf("before upload: %s", got)
	}
	before, _ := h.Get("r")
	info, err := h.Upload("r", readTestdata(t, "fixed.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Origin != "upload" || info.Digest == before.Digest || len(info.Stages) != 1 || info.Stages[0] != "route" {
		t.Fatalf("info after upload = %+v", info)
	}
	if got := routeModel(t, h); got != "fixed/model" {
		t.Fatalf("after upload: %s", got)
	}
	if _, err := os.Stat(filepath.Join(data, "policies", "r.wasm")); err != nil {
		t.Fatalf("upload not persisted: %v", err)
	}
	// A replica's upload is applied but not published again.
	if _, err := h.Upload("r", readTestdata(t, "fixed.wasm"), FromReplica); err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0] != "r:"+info.Digest[:8]+":module" {
		t.Fatalf("OnChange calls = %v", changes)
	}

	// A restart keeps the upload.
	h2 := newHost(t, Options{DataDir: data})
	if err := h2.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	if got := routeModel(t, h2); got != "fixed/model" {
		t.Fatalf("after restart: %s", got)
	}
	if i, _ := h2.Get("r"); i.Origin != "upload" || i.Digest != info.Digest {
		t.Fatalf("after restart: %+v", i)
	}

	// Delete restores the configured module, everywhere.
	if err := h.Delete("r"); err != nil {
		t.Fatal(err)
	}
	if got := routeModel(t, h); got != "mock/echo" {
		t.Fatalf("after delete: %s", got)
	}
	if i, _ := h.Get("r"); i.Origin != "file" || i.Digest != before.Digest {
		t.Fatalf("after delete: %+v", i)
	}
	if _, err := os.Stat(filepath.Join(data, "policies", "r.wasm")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("delete left the file: %v", err)
	}
	if len(changes) != 2 || changes[1] != "r::delete" {
		t.Fatalf("OnChange calls = %v", changes)
	}
	if err := h.Delete("nope"); !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("Delete(nope) = %v", err)
	}
}

func TestUploadNewPolicy(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	h := newHost(t, Options{DataDir: data})
	if err := h.Configure(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Upload("extra", readTestdata(t, "echo.wasm")); err != nil {
		t.Fatal(err)
	}
	for _, st := range []abi.Stage{abi.StageRequest, abi.StageRoute, abi.StageResponse} {
		if c := h.Chain(st); len(c) != 1 || c[0] != "extra" {
			t.Fatalf("chain %s = %v", st, c)
		}
	}
	h2 := newHost(t, Options{DataDir: data})
	if err := h2.Configure(nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := h2.Get("extra"); !ok {
		t.Fatal("an uploaded-only policy did not survive a restart")
	}
	if err := h2.Delete("extra"); err != nil {
		t.Fatal(err)
	}
	if _, ok := h2.Get("extra"); ok || len(h2.Chain(abi.StageRoute)) != 0 {
		t.Fatal("Delete of an uploaded-only policy left it in place")
	}
}

func TestRefusedUploadChangesNothing(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	h := newHost(t, Options{DataDir: data})
	if err := h.Configure([]PolicyConfig{{Name: "r", Module: testdata("fixed.wasm")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Upload("r", readTestdata(t, "fixed.wasm")); err != nil {
		t.Fatal(err)
	}
	before, _ := h.Get("r")
	tests := []struct {
		name   string
		module []byte
	}{
		{"bad import", readTestdata(t, "hostile/badimport.wasm")},
		{"stage missing", readTestdata(t, "hostile/trap.wasm")[:0]},
		{"no route stage", nil},
	}
	for _, tt := range tests {
		if _, err := h.Upload("r", tt.module); err == nil {
			t.Fatalf("%s: upload accepted", tt.name)
		}
	}
	after, _ := h.Get("r")
	if after.Digest != before.Digest || after.LoadedAt != before.LoadedAt {
		t.Fatalf("a refused upload changed the policy: %+v -> %+v", before, after)
	}
	persisted, _ := os.ReadFile(filepath.Join(data, "policies", "r.wasm"))
	if string(persisted) != string(readTestdata(t, "fixed.wasm")) {
		t.Fatal("a refused upload changed the persisted module")
	}
}

func TestBrokenPersistedUpload(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	os.MkdirAll(filepath.Join(data, "policies"), 0o755)
	os.WriteFile(filepath.Join(data, "policies", "r.wasm"), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(data, "policies", "orphan.wasm"), []byte("garbage"), 0o644)
	h := newHost(t, Options{DataDir: data})
	if err := h.Configure([]PolicyConfig{{Name: "r", Module: testdata("fixed.wasm")}}); err != nil {
		t.Fatalf("a broken persisted upload must not stop the gateway: %v", err)
	}
	if got := routeModel(t, h); got != "fixed/model" {
		t.Fatalf("fell back to %s", got)
	}
	var sawR, sawOrphan bool
	for _, i := range h.List() {
		switch i.Name {
		case "r":
			sawR = i.Origin == "file" && i.Error != ""
		case "orphan":
			sawOrphan = i.Error != ""
		}
	}
	if !sawR || !sawOrphan {
		t.Fatalf("List does not report the broken uploads: %+v", h.List())
	}
}

// TestUploadUnderLoad swaps modules back and forth while goroutines keep
// calling: no call may fail, and every call sees one module or the other.
func TestUploadUnderLoad(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{PoolSize: 4})
	// A generous deadline: this test is about swaps, and -race on two cores
	// can stall a goroutine for a while.
	if err := h.Configure([]PolicyConfig{{Name: "r", Module: testdata("echo.wasm"), Stages: []string{"route"}, Timeout: 5e9}}); err != nil {
		t.Fatal(err)
	}
	modules := [][]byte{readTestdata(t, "fixed.wasm"), readTestdata(t, "echo.wasm")}
	var calls, fixed, echo atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out Output
			in := chatInput("user", "mock/echo")
			for {
				select {
				case <-stop:
					return
				default:
				}
				out.Reset()
				if err := h.Run(context.Background(), abi.StageRoute, in, &out); err != nil || len(out.Failures) != 0 {
					errs <- string(out.AppendText(nil))
					return
				}
				switch string(out.Route.Model) {
				case "fixed/model":
					fixed.Add(1)
				case "mock/echo":
					echo.Add(1)
				default:
					errs <- "unexpected route " + string(out.Route.Model)
					return
				}
				calls.Add(1)
			}
		}()
	}
	for i := 0; i < 20; i++ {
		if _, err := h.Upload("r", modules[i%2]); err != nil {
			t.Fatal(err)
		}
		// Let some calls run on each version (bounded: the loop does not
		// depend on timing to finish, only to interleave).
		for n := calls.Load() + 50; calls.Load() < n && len(errs) == 0; {
			runtime.Gosched()
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if fixed.Load() == 0 || echo.Load() == 0 {
		t.Fatalf("behaviour did not change under load: fixed=%d echo=%d", fixed.Load(), echo.Load())
	}
	if i, _ := h.Get("r"); i.Errors != 0 {
		t.Fatalf("errors under load: %+v", i)
	}
}
