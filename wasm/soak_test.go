package wasm

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
)

// soak runs the garbage guest's route stage calls times on one instance
// (recycling off) and returns its memory after warm-up and at the end, and
// whether every call succeeded.
func soak(t *testing.T, fakeClocks bool, calls int) (warm, end int64, ok bool) {
	w, e, ok, _ := soakDetail(t, fakeClocks, calls)
	return w, e, ok
}

// soakDetail is soak, also returning the failure that ended the run early.
func soakDetail(t *testing.T, fakeClocks bool, calls int) (warm, end int64, ok bool, failure string) {
	t.Helper()
	opts := Options{PoolSize: 1, RecycleAfterCalls: -1, RecycleAboveFraction: -1}
	opts.fakeClocks = fakeClocks
	h := newHost(t, opts)
	if err := h.Configure([]PolicyConfig{{Name: "garbage", Module: testdata("guests/garbage.wasm"), Stages: []string{"route"}, MemoryMB: 512, Timeout: 5e9}}); err != nil {
		t.Fatal(err)
	}
	in := chatInput("user", "hello")
	var out Output
	ctx := context.Background()
	const warmup = 1000
	var peak int64
	for i := 0; i < calls; i++ {
		out.Reset()
		if err := h.Run(ctx, abi.StageRoute, in, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Failures) > 0 {
			f := out.Failures[0]
			detail := string(f.Detail)
			if i := strings.IndexByte(detail, '\n'); i > 0 {
				detail = detail[:i]
			}
			return warm, peak, false, "call " + strconv.Itoa(i+1) + ": " + f.Kind.String() + ": " + detail
		}
		if info, _ := h.Get("garbage"); info.MemoryBytes > peak {
			peak = info.MemoryBytes
		}
		if i+1 == warmup {
			info, _ := h.Get("garbage")
			warm = info.MemoryBytes
		}
	}
	info, _ := h.Get("garbage")
	if info.Instances != 1 || info.Calls != uint64(calls) {
		t.Fatalf("the soak must run on one instance: %+v", info)
	}
	return warm, info.MemoryBytes, true, ""
}

// TestSoakRealClocks proves why the host gives guests real clocks: a Go
// guest that allocates on every call keeps its memory within 2x of its
// post-warm-up size over 100,000 calls. The control run, with wazero's
// default fake clocks, shows the failure the real clocks fix: the Go
// runtime's GC pacer never sees time pass, and the heap grows until the
// instance runs out of memory.
func TestSoakRealClocks(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: 100,000 calls")
	}
	if raceEnabled {
		// The subject is the guest's GC pacing, which reads the wall clock:
		// under -race on a loaded machine the host is an order of magnitude
		// slower and the figures say nothing about production. Data races
		// in the pool are covered by the upload-under-load tests.
		t.Skip("soak test measures timing-dependent GC behaviour; run it without -race")
	}
	warm, end, ok, failure := soakDetail(t, false, 100_000)
	t.Logf("real clocks: %d MiB after warm-up, %d MiB after 100,000 calls", warm>>20, end>>20)
	if !ok || end > 2*warm {
		t.Fatalf("instance memory grew from %d to %d bytes (%s)", warm, end, failure)
	}

	warm, end, ok, failure = soakDetail(t, true, 20_000)
	t.Logf("fake clocks (control): %d MiB after warm-up, peak %d MiB, survived=%v %s", warm>>20, end>>20, ok, failure)
	if ok && end <= 2*warm {
		t.Fatalf("control run did not grow (%d -> %d bytes): the soak test no longer demonstrates anything", warm, end)
	}
}
