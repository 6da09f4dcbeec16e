package ledger

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/aigateway/gateway/engine/store"
)

// The journal makes a recorded row survive the death of the process
// (kill -9, an OOM kill, a panic) between Record and the group commit that
// stores it. Record appends the row to the current journal segment with
// one write(2) before it returns, so before the caller sends the answer:
// the bytes are then in the kernel's page cache, which outlives the
// process. Nothing is fsynced on the request path; a power cut can lose
// what the kernel had not written back yet (dirty pages age out after
// vm.dirty_expire_centisecs, 30 s by default).
//
// A segment is a file in the spill directory, named
// journal-<unix nanos>-<pid>.bin, a sequence of binary row records
// (record.go) with runs of NUL bytes between them. The flusher starts a new segment each time it
// takes the queue, and deletes a segment once every row it holds is stored
// or spilled. The process holds an exclusive flock on each of its
// segments; at start, a segment nobody holds was left by a dead process:
// it is converted into a spill file and replayed with them (adopt.go). Rows it holds that
// the store already has are skipped (ON CONFLICT DO NOTHING), so a journal
// replay is as harmless as a spill replay.

// segment is one journal file.
type segment struct {
	f    *os.File
	path string
	// users counts Record calls that chose this segment and are still
	// writing to it; the flusher waits for zero before deleting it.
	users atomic.Int32
	// chunks is the number of queue chunks taken with the segment whose
	// rows are neither stored nor spilled yet (owned by the flusher).
	chunks int
	// mem maps the segment's first segmentBytes (journal_linux.go): a row
	// is copied into it at the offset off reserves, without a system call;
	// the rows past it, or all of them when mem is nil or broken, are
	// appended with write(2).
	mem    []byte
	off    atomic.Int64
	broken atomic.Bool
	// touched is how much of mem is prefaulted (page-aligned): the first
	// write to a page of a shared file mapping faults into the kernel (~20
	// µs on ext4, ~2 µs a row), so the writer's toucher goroutine writes
	// each page ahead of the rows (prefault), signalled through ahead.
	touched atomic.Int64
	ahead   chan struct{}

	// pinMu guards pins and orphan: a provisional row (Writer.Provisional)
	// pins its segment until the row's final version is recorded; a
	// segment retired while pinned is deleted by its last unpin instead.
	pinMu  sync.Mutex
	pins   int
	orphan bool
}

// touchAhead is how far ahead of the rows the pages are prefaulted: the
// resident cost of an idle segment, and ~1,700 rows of head start.
const touchAhead = 256 << 10

var pageBytes = int64(os.Getpagesize())

// segmentBytes is the mapped part of a segment: about 55,000 rows, more
// than one flush interval holds below ~10,000 requests a second. Only the
// pages rows were written to are in memory.
const segmentBytes = 8 << 20

// openSegment creates and locks a new journal segment in dir, mapped when
// the platform and the file system allow (mapSegment).
// ahead is the writer's toucher signal (nil: no toucher).
func openSegment(dir string, ahead chan struct{}) (*segment, error) {
	f, path, err := createLocked(dir, "journal-")
	if err != nil {
		return nil, err
	}
	s := &segment{f: f, path: path, ahead: ahead}
	s.mem = mapSegment(f, segmentBytes)
	s.prefault(touchAhead)
	return s, nil
}

// prefault makes the pages of mem below upTo resident and writable. Only
// one goroutine at a time calls it: the one opening the segment, then the
// writer's toucher. A page is touched with an atomic add of 0, which
// changes no byte, so a row being copied into the same page concurrently
// is safe.
func (s *segment) prefault(upTo int64) {
	if s.mem == nil || s.broken.Load() {
		return
	}
	upTo = min(upTo, int64(len(s.mem)))
	p := s.touched.Load()
	if p >= upTo {
		return
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			s.broken.Store(true) // the file system could not back a page
		}
	}()
	for ; p < upTo; p += pageBytes {
		atomic.AddUint32((*uint32)(unsafe.Pointer(&s.mem[p])), 0)
	}
	s.touched.Store(p)
}

// createLocked creates prefix<unix nanos>-<pid>.bin in dir under a
// dot-name, locks it exclusively and renames it into view, so that no
// other process ever sees it unlocked.
func createLocked(dir, prefix string) (*os.File, string, error) {
	name := prefix + strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + strconv.Itoa(os.Getpid()) + segmentExt
	tmp := filepath.Join(dir, "."+name)
	// Read and write: a shared writable mapping needs both.
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, "", err
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, "", err
	}
	return f, path, nil
}

// write appends one encoded row: a copy into the mapping (the page is the
// page cache's, so it outlives the process as a write(2)'s bytes do), or
// one write(2) past it. A crash in the middle of either can leave a torn
// record, which replay skips: that request had not been answered.
func (s *segment) write(b []byte) error {
	if s.mem != nil && !s.broken.Load() {
		end := s.off.Add(int64(len(b)))
		if end <= int64(len(s.mem)) {
			if copyMapped(s.mem[end-int64(len(b)):end], b) {
				if s.ahead != nil && end+touchAhead/2 > s.touched.Load() {
					select {
					case s.ahead <- struct{}{}:
					default:
					}
				}
				return nil
			}
			// The file system could not back the page (mapSegment
			// reserved the blocks, so this is a disk error): write(2)
			// from now on, past the mapped part.
			s.broken.Store(true)
		}
	}
	_, err := s.f.Write(b)
	return err
}

// copyMapped copies src into the mapped dst and reports whether it could:
// a fault on the mapping (SIGBUS: the file system failed to back the page)
// becomes a false instead of a crash of the gateway.
func copyMapped(dst, src []byte) (ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	copy(dst, src)
	return true
}

// reusable reports whether the segment can take rows again once its rows
// are committed: mapped, and every row inside the mapping (nothing was
// appended past it).
func (s *segment) reusable() bool {
	return s.mem != nil && !s.broken.Load() && s.off.Load() <= int64(len(s.mem))
}

// reset empties a reusable segment for its next rows: the rows' bytes are
// zeroed (a crash now leaves NULs, or rows already committed, which a
// replay skips) and the offset starts over. Its pages stay resident and
// dirty in the page cache, so the next rows take no page fault — the cost
// a fresh segment pays on every page (prefault).
func (s *segment) reset() {
	s.waitUsers()
	clear(s.mem[:s.off.Load()])
	s.off.Store(0)
}

// waitUsers waits for the writers still on the segment.
func (s *segment) waitUsers() {
	// A writer holds the segment for one copy or write(2): yield a few
	// times, then sleep, so that a write stuck on a slow disk costs no
	// spinning core.
	for i := 0; s.users.Load() != 0; i++ {
		if i < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// remove waits for the writers still on the segment, then deletes it.
func (s *segment) remove() {
	if s.f == nil {
		return
	}
	s.waitUsers()
	s.pinMu.Lock()
	if s.pins > 0 {
		s.orphan = true // the last unpin deletes it
		s.pinMu.Unlock()
		return
	}
	s.pinMu.Unlock()
	s.destroy()
}

// destroy unmaps, deletes and closes the segment (its lock goes with the
// last reference: the file and the mapping).
func (s *segment) destroy() {
	if s.mem != nil {
		unmapSegment(s.mem)
		s.mem = nil
	}
	_ = os.Remove(s.path)
	_ = s.f.Close()
}

// pinned reports whether a provisional row still pins the segment.
func (s *segment) pinned() bool {
	s.pinMu.Lock()
	defer s.pinMu.Unlock()
	return s.pins > 0
}

func (s *segment) pin() {
	s.pinMu.Lock()
	s.pins++
	s.pinMu.Unlock()
}

// unpin releases a provisional row's pin, deleting the segment when it
// was retired meanwhile and this was its last pin.
func (s *segment) unpin() {
	s.pinMu.Lock()
	s.pins--
	del := s.pins == 0 && s.orphan
	s.pinMu.Unlock()
	if del {
		s.destroy()
	}
}

// lineBuf is a pooled encoding buffer for one journal line.
type lineBuf struct{ b []byte }

var linePool = sync.Pool{New: func() any { return &lineBuf{b: make([]byte, 0, 1024)} }}

// appendRow appends r as one journal record (record.go).
func appendRow(b []byte, r *store.UsageRow) []byte { return appendRecord(b, r, false) }

// appendProvisional is appendRow with the provisional mark, which replay
// reads (spill.go): the row fills in only for a final row that never
// reached the journal.
func appendProvisional(b []byte, r *store.UsageRow) []byte { return appendRecord(b, r, true) }
