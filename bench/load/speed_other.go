//go:build !linux

package load

import (
	"syscall"
	"time"
)

// threadCPU falls back to the process's CPU time where the thread's clock
// is not at hand (the probe then needs a quiet process: loadgen -speed is).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
