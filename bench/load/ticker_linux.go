package load

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// timer sleeps with the precision of the kernel's high-resolution timers: a
// one-shot timerfd(2) read through Go's network poller. Go's own timers wake
// about a millisecond late on Linux when the process is idle, which an
// open-loop run would add to every latency; and a thread blocked in
// nanosleep(2) keeps its P from the workers (with GOMAXPROCS=1 the answers
// then wait for sysmon, up to 10 ms).
type timer struct {
	fd  uintptr
	f   *os.File
	buf [8]byte
}

func newTimer() *timer {
	const clockMonotonic, tfdNonblock, tfdCloexec = 1, 0x800, 0x80000
	fd, _, errno := syscall.RawSyscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if errno != 0 {
		return &timer{} // seccomp or an old kernel: Go's timers
	}
	return &timer{fd: fd, f: os.NewFile(fd, "timerfd")}
}

// sleep blocks the goroutine (not its thread) for d.
func (t *timer) sleep(d time.Duration) {
	if d <= 0 {
		return
	}
	if t.f == nil {
		time.Sleep(d)
		return
	}
	spec := [2]syscall.Timespec{{}, syscall.NsecToTimespec(int64(d))} // it_interval, it_value
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, t.fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
		time.Sleep(d)
		return
	}
	if _, err := t.f.Read(t.buf[:]); err != nil {
		time.Sleep(d)
	}
}

func (t *timer) close() {
	if t.f != nil {
		_ = t.f.Close()
	}
}
