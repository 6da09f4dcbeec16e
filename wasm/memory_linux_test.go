package wasm

import (
	"context"
	"encoding/binary"
	"os"
	"syscall"
	"testing"
	"unsafe"

	"github.com/VictoriaMetrics/metrics"
)

// residentBytes counts the bytes of the pages wholly inside b that are
// mapped in this process (/proc/self/pagemap, bit 63: present), which is
// what RSS counts; mincore would report the page cache instead.
func residentBytes(t *testing.T, b []byte) int {
	page := uintptr(syscall.Getpagesize())
	start := (uintptr(unsafe.Pointer(unsafe.SliceData(b))) + page - 1) &^ (page - 1)
	end := (uintptr(unsafe.Pointer(unsafe.SliceData(b))) + uintptr(len(b))) &^ (page - 1)
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Skipf("pagemap: %v", err)
	}
	defer f.Close()
	entries := make([]byte, 8*((end-start)/page))
	if _, err := f.ReadAt(entries, int64(start/page*8)); err != nil {
		t.Skipf("pagemap: %v", err)
	}
	n := 0
	for i := 0; i < len(entries); i += 8 {
		if binary.LittleEndian.Uint64(entries[i:])&(1<<63) != 0 {
			n += int(page)
		}
	}
	return n
}

// TestEmbeddedModulePagesDroppedAllocs: loading the default built-ins reads
// every byte of their embedded modules (digest, compile); afterwards those
// pages are no longer resident, so they do not count towards the gateway's
// RSS (12 MB for the six).
func TestEmbeddedModulePagesDroppedAllocs(t *testing.T) {
	ctx := context.Background()
	h, err := New(ctx, Options{CacheDir: t.TempDir(), Metrics: metrics.NewSet(), IdleRelease: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	pcs := append(DefaultPolicies(), PolicyConfig{Name: "dedup", Module: BuiltinPrefix + "dedup", Stages: []string{"request"}})
	for i := range pcs {
		if pcs[i].Name == "router" {
			pcs[i].Config = allocRouterConfig
		}
	}
	if err := h.Configure(pcs); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, name := range []string{"stripper", "skills", "dedup", "diff-first", "router"} {
		b, _ := Builtin(name)
		n := residentBytes(t, b)
		total += n
		t.Logf("%s: %d of %d bytes resident", name, n, len(b))
	}
	if total > 256<<10 {
		t.Fatalf("%d bytes of the embedded modules stay resident after the load, budget 256 KiB", total)
	}
}
