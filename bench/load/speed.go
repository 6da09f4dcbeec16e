package load

import (
	"runtime"
	"time"
)

// speedBytes is the buffer of one unit of the speed probe: FNV-1a over
// 64 KiB, pure integer work in registers and L1/L2, about 70 µs here.
const speedBytes = 64 << 10

// Speed returns the least thread CPU time (CLOCK_THREAD_CPUTIME_ID) one
// unit of fixed work took over rounds runs: the CPU's speed at this moment
// (lower is faster). Time spent waiting for a CPU is not counted, and the
// least of many runs leaves out the runs something interrupted; a virtual
// CPU whose physical core's other hyperthread is busy, or that the host
// clocks lower, needs more. The bench harness runs it (loadgen -speed)
// pinned to the gateway's CPUs and to the load's before and after each
// paired round (bench/README.md, "Paired rounds").
func Speed(rounds int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, speedBytes)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	least := time.Duration(1<<63 - 1)
	var sink uint32
	for r := 0; r < max(rounds, 1); r++ {
		t0 := threadCPU()
		h := uint32(2166136261)
		for _, c := range buf {
			h = (h ^ uint32(c)) * 16777619
		}
		sink += h
		if d := threadCPU() - t0; d > 0 && d < least {
			least = d
		}
	}
	speedSink = sink // keeps the loop from being optimised away
	return least
}

var speedSink uint32
