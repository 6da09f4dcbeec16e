package wasm

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// mappedMemory backs a guest's linear memory with an anonymous mapping of
// its whole cap, reserved once (MAP_NORESERVE: address space, not memory).
// Growing is a length change: no copy, and no doubled capacity held on the
// Go heap. A page costs memory only once the guest touches it, Free gives
// the pages back to the OS at once, and the guest's memory stays out of the
// Go heap, where it would raise the collector's goal (the heap may grow to
// twice what is live) by twice the guests' size.
//
// # Notes
//
// wazero frees a module's memory only once no call runs on it (a call that
// times out is closed without freeing, then freed when it returns), and the
// host never keeps a view of guest memory past a call (Output copies what it
// keeps), so unmapping cannot pull memory from under a reader.
type mappedMemory struct {
	buf   []byte // the whole mapping; nil once freed
	limit uint64
	m     *mapping
}

// mapping is unmapped once, by Free or by the cleanup of a mappedMemory
// that was never freed.
type mapping struct {
	mu sync.Mutex
	b  []byte
}

func (mp *mapping) unmap() {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	if mp.b != nil {
		_ = syscall.Munmap(mp.b)
		mp.b = nil
	}
}

// newMappedMemory reserves limit bytes, or returns nil when the mapping
// fails (the caller falls back to the Go heap).
func newMappedMemory(limit uint64) *mappedMemory {
	const page = 64 << 10
	size := (limit + page - 1) &^ (page - 1)
	if size == 0 || size > 1<<40 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	m := &mappedMemory{buf: b, limit: limit, m: &mapping{b: b}}
	// A module wazero never closes (its runtime dropped without Close)
	// still gives its mapping back.
	runtime.AddCleanup(m, (*mapping).unmap, m.m)
	return m
}

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > m.limit || m.buf == nil {
		return nil
	}
	return m.buf[:size]
}

func (m *mappedMemory) Free() {
	m.buf = nil
	m.m.unmap()
}

// dropPages tells the kernel that this process no longer needs the pages
// wholly inside b, which must be read-only bytes mapped from the binary (an
// embedded built-in module): they leave the resident set, and a later read
// faults them in again from the page cache, unchanged. Compiling the
// built-ins at load reads every byte of them (12 MB for the six), which
// would otherwise count towards the gateway's RSS for good.
func dropPages(b []byte) {
	if len(b) == 0 {
		return
	}
	page := uintptr(syscall.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	end := start + uintptr(len(b))
	start = (start + page - 1) &^ (page - 1)
	end &^= page - 1
	if end <= start {
		return
	}
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, start, end-start, syscall.MADV_DONTNEED)
}
