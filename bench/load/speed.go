package load

import (
	"io"
	"net"
	"runtime"
	"time"
)

// speedWork is one unit of the speed probe: FNV-1a over a 64 KiB buffer,
// pure integer work in registers and L1/L2, about 60 µs on a 2020s core.
const speedBytes = 64 << 10

// Speed measures how much CPU time this thread needs for a fixed unit of
// work over rounds runs: least is the fastest run, mean the average. Both
// are thread CPU time (CLOCK_THREAD_CPUTIME_ID), so time spent waiting for
// a CPU inside this machine is not counted; but on a virtual machine
// whose host takes the virtual CPU away without steal accounting
// (/proc/stat's steal stays 0 here), the guest charges that time to the
// thread that was running. least is the CPU's speed; mean over least is
// how much the host took: about 1.0 on a virtual CPU the host leaves
// alone, 1.5 when it takes a third of the time. The bench harness runs it
// (loadgen -speed) pinned to the gateway's CPUs and to the load's before
// and after each paired round (bench/README.md, "Paired rounds").
func Speed(rounds int) (least, mean time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, speedBytes)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	least = time.Duration(1<<63 - 1)
	var sink uint32
	n := max(rounds, 1)
	start := threadCPU()
	for r := 0; r < n; r++ {
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
	mean = (threadCPU() - start) / time.Duration(n)
	speedSink = sink
	return least, mean
}

var speedSink uint32

// LoopbackSpeed measures the kernel's loopback TCP path on this CPU: the
// least wall time of one 600-byte round trip (a write and a read at each
// end, both ends in this process), over rounds runs of 100. Run pinned to
// one CPU, it is the cost of the system calls a gateway's requests are
// made of, which Speed's pure computation does not exercise. The bench
// harness records it with Speed for each paired round; it returns 0 when
// loopback TCP is not available.
func LoopbackSpeed(rounds int) time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0
	}
	defer c.Close()
	msg, buf := make([]byte, 600), make([]byte, 600)
	best := time.Duration(1<<63 - 1)
	for r := 0; r < max(rounds, 1); r++ {
		t0 := time.Now()
		for range 100 {
			if _, err := c.Write(msg); err != nil {
				return 0
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				return 0
			}
		}
		if d := time.Since(t0) / 100; d < best {
			best = d
		}
	}
	return best
}
