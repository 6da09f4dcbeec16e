package memtrim

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Trims come once per busy-to-quiet transition, never while busy, never
// twice in a row, never before any work.
func TestWatcherStep(t *testing.T) {
	const busy, quiet = Quiet + 1, Quiet
	for _, tc := range []struct {
		deltas []uint64
		want   []bool
	}{
		{[]uint64{quiet, quiet, 0}, []bool{false, false, false}},
		{[]uint64{busy, busy, quiet, quiet, 0}, []bool{false, false, true, false, false}},
		{[]uint64{busy, quiet, busy, quiet}, []bool{false, true, false, true}},
		{[]uint64{busy, busy, busy}, []bool{false, false, false}},
	} {
		var w watcher
		for i, d := range tc.deltas {
			if got := w.step(d); got != tc.want[i] {
				t.Fatalf("deltas %v: step %d = %v, want %v", tc.deltas, i, got, tc.want[i])
			}
		}
	}
}

// garbage allocates n MiB that a pool and the heap keep after the caller
// drops them: what a burst of requests leaves.
func garbage(n int) {
	var pool sync.Pool
	for range n {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = 1 // touched: resident
		}
		pool.Put(&b)
	}
}

// A trim returns the memory of a burst, once it is garbage, to the
// system.
func TestTrimReturnsMemory(t *testing.T) {
	Trim()
	base := resident()
	burst := make([][]byte, 64)
	for i := range burst {
		burst[i] = make([]byte, 1<<20)
		for j := range burst[i] {
			burst[i][j] = 1 // touched: resident
		}
	}
	before := resident()
	burst = nil
	Trim()
	after := resident()
	if before < base+64<<20 || after > base+8<<20 {
		t.Fatalf("resident %d MiB before the burst, %d MiB with it, %d MiB after it and the trim", base>>20, before>>20, after>>20)
	}
	_ = burst
}

// Run trims once the process goes quiet after a burst, calling its release
// hooks first, and stops with its context.
func TestRunTrimsAfterBurst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var hooks atomic.Int32
	hook := func() { hooks.Add(1) }
	go func() { Run(ctx, 20*time.Millisecond, hook, hook); close(done) }()
	n := trims.Get()
	for range 5 {
		garbage(8)
		time.Sleep(10 * time.Millisecond)
	}
	deadline := time.Now().Add(10 * time.Second)
	for trims.Get() == n {
		if time.Now().After(deadline) {
			t.Fatal("no trim within 10 s of the burst's end")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if n := trims.Get() - n; hooks.Load() < 2 || hooks.Load() != int32(2*n) {
		t.Fatalf("%d trims called the release hooks %d times, want twice each", n, hooks.Load())
	}
	Run(context.Background(), 0) // off: returns at once
}
