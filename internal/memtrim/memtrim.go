// Package memtrim gives a process's unused memory back to the system once
// the process goes quiet after a burst of work.
//
// A Go program only collects garbage when it allocates: a gateway that
// served a burst and then went idle keeps the heap the burst grew (up to
// twice its live data, by GOGC) and everything its pools hold, until the
// runtime's forced collection two minutes later and the background
// scavenger's slow return after it. Measured on the gateway after 1,000
// slow streams: 50 MB of heap of which 5 MB live, 74 MB anonymous memory;
// after two collections and a few seconds of scavenging, 35 MB. For a
// sidecar or an edge replica, that idle memory is paid on every node; and
// a burst that starts from it peaks that much higher.
//
// Run watches the heap's allocation counter. Once a check interval saw
// less than Quiet allocation after one that saw more (the process went
// from busy to quiet), it collects twice (the second empties the pools'
// victim caches, sync.Pool's objects survive one collection) and returns
// every free page to the system (debug.FreeOSMemory). A trim costs one or
// two garbage collections of the live heap, once per busy-to-quiet
// transition; a steadily busy process never trims.
//
// Start-up counts as a burst: the first quiet interval after Run starts
// trims too, returning what loading the configuration and compiling the
// policies left behind.
//
// The first trim also drops the pages of the executable that start-up
// mapped (DropImage): the kernel maps the binary in 64 KiB or larger
// pieces, and loading, compiling the policies with wazero's compiler and a
// first request leave 26–33 MB of it resident, of which a gateway at work
// keeps about 22 MB. Later trims leave the image alone: the pages a
// working gateway dropped come back on its next request, which then took
// 3–7 ms instead of 1–2 (bench/RESULTS.md, "Start-up pages").
//
// Memory the Go heap does not own (a Wasm policy's instances and compiled
// code, mapped outside it) is released by hooks: Run calls its release
// functions first, on every busy-to-quiet transition, so that what they
// free goes back in the same trim. The package knows nothing of what they
// release: the caller (cmd/gateway) wires them.
package memtrim

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Quiet is the most a check interval may allocate and still count as
// quiet: the process's own background work (timers, the ledger flusher,
// a metrics scrape) allocates a little even when it serves nothing.
const Quiet = 256 << 10

var (
	trims    = vm.NewCounter(`gateway_memory_trims_total`)
	released = vm.NewCounter(`gateway_memory_trimmed_bytes_total`)
	image    = vm.NewCounter(`gateway_memory_image_dropped_bytes_total`)
)

// Run trims after every busy-to-quiet transition, checking every interval
// (a trim comes one to two intervals after the last burst), until ctx
// ends; each trim first calls every release function, in order, on Run's
// goroutine. An interval of zero or less returns at once.
func Run(ctx context.Context, interval time.Duration, release ...func()) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	w := watcher{active: true} // start-up was work
	w.sample()
	first := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if w.tick() {
			before := resident()
			for _, fn := range release {
				fn()
			}
			Trim()
			if after := resident(); after < before {
				released.Add(int(before - after))
			}
			if first {
				image.Add(int(DropImage()))
				first = false
			}
			trims.Inc()
			w.sample() // the trim's own allocations do not count as work
		}
	}
}

// Trim collects twice and returns every free page to the system.
func Trim() {
	runtime.GC()
	debug.FreeOSMemory()
}

// watcher decides when to trim from the heap's cumulative allocations.
type watcher struct {
	s      [1]metrics.Sample
	last   uint64
	active bool // allocated more than Quiet in an interval since the last trim
}

func (w *watcher) sample() {
	w.s[0].Name = "/gc/heap/allocs:bytes"
	metrics.Read(w.s[:])
	if w.s[0].Value.Kind() == metrics.KindUint64 {
		w.last = w.s[0].Value.Uint64()
	}
}

// tick reads the counter and reports whether to trim now.
func (w *watcher) tick() bool {
	prev := w.last
	w.sample()
	return w.step(w.last - prev)
}

// step is tick's decision for an interval that allocated delta bytes.
func (w *watcher) step(delta uint64) bool {
	if delta > Quiet {
		w.active = true
		return false
	}
	if !w.active {
		return false
	}
	w.active = false
	return true
}

// resident is the memory the runtime holds from the system and has not
// returned: what a trim can lower.
func resident() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}
