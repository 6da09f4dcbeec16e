package load

import (
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is the calling thread's CPU time, from
// clock_gettime(CLOCK_THREAD_CPUTIME_ID): nanosecond-precise, where
// getrusage's split of user and system time is adjusted by ticks and
// jumps by hundreds of microseconds between two close readings.
func threadCPU() time.Duration {
	const clockThreadCPUTimeID = 3
	var ts syscall.Timespec
	if _, _, e := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}
