package ledger

import (
	"os"
	"syscall"
)

// mapSegment reserves n bytes of disk for f (fallocate: a page the
// mapping touches later never needs a block a full disk cannot give, the
// SIGBUS case) and maps them shared and writable. nil when either fails
// (a file system without fallocate, no space, no mmap): the segment then
// takes every row with write(2), as before.
func mapSegment(f *os.File, n int) []byte {
	fd := int(f.Fd())
	if err := syscall.Fallocate(fd, 0, 0, int64(n)); err != nil {
		return nil
	}
	mem, err := syscall.Mmap(fd, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		_ = f.Truncate(0) // O_APPEND writes start at 0 again
		return nil
	}
	return mem
}

func unmapSegment(mem []byte) { _ = syscall.Munmap(mem) }
