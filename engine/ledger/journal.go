package ledger

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/internal/jsonscan"
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
// journal-<unix nanos>-<pid>.jsonl, in the spill format (JSON lines, one
// store.UsageRow per line). The flusher starts a new segment each time it
// takes the queue, and deletes a segment once every row it holds is stored
// or spilled. The process holds an exclusive flock on each of its
// segments; at start, a segment nobody holds was left by a dead process:
// it is renamed to a spill file and replayed with them. Rows it holds that
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
// resident cost of an idle segment, and ~550 rows of head start.
const touchAhead = 256 << 10

var pageBytes = int64(os.Getpagesize())

// segmentBytes is the mapped part of a segment: about 13,000 rows, more
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

// createLocked creates prefix<unix nanos>-<pid>.jsonl in dir under a
// dot-name, locks it exclusively and renames it into view, so that no
// other process ever sees it unlocked.
func createLocked(dir, prefix string) (*os.File, string, error) {
	name := prefix + strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + strconv.Itoa(os.Getpid()) + ".jsonl"
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
// line, which replay skips: that request had not been answered.
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

// adoptJournals turns the segments of dead processes into spill files (the
// same name with spill- for journal-, so that they replay in time order).
// A segment another process holds locked is left alone; an empty one is
// deleted.
func adoptJournals(dir string) (int, error) {
	m, err := filepath.Glob(filepath.Join(dir, "journal-*.jsonl"))
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, path := range m {
		f, err := os.Open(path)
		if err != nil {
			continue // adopted by another gateway meanwhile
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // a live gateway's segment
			continue
		}
		if holdsNoRow(f) {
			_ = os.Remove(path)
		} else if err := os.Rename(path, filepath.Join(dir, "spill-"+strings.TrimPrefix(filepath.Base(path), "journal-"))); err == nil {
			n++
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		f.Close()
	}
	if n > 0 {
		syncDir(dir)
	}
	return n, errors.Join(errs...)
}

// holdsNoRow reports whether a dead process's segment is empty: no byte,
// or only the NULs of a mapped segment's unused part.
func holdsNoRow(f *os.File) bool {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		if err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}

// lineBuf is a pooled encoding buffer for one journal line.
type lineBuf struct{ b []byte }

var linePool = sync.Pool{New: func() any { return &lineBuf{b: make([]byte, 0, 1024)} }}

// appendRow appends r as one JSON line that encoding/json decodes back
// into an equal store.UsageRow (the field names are its json tags). It
// allocates nothing: the journal encodes on the request path.
func appendRow(b []byte, r *store.UsageRow) []byte {
	b = append(b, `{"id":`...)
	b = jsonscan.AppendQuote(b, r.ID)
	b = append(b, `,"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","project_id":`...)
	b = jsonscan.AppendQuote(b, r.ProjectID)
	b = append(b, `,"key_id":`...)
	b = jsonscan.AppendQuote(b, r.KeyID)
	b = append(b, `,"endpoint":`...)
	b = jsonscan.AppendQuote(b, r.Endpoint)
	b = append(b, `,"requested_model":`...)
	b = jsonscan.AppendQuote(b, r.RequestedModel)
	b = append(b, `,"served_model":`...)
	b = jsonscan.AppendQuote(b, r.ServedModel)
	b = append(b, `,"provider":`...)
	b = jsonscan.AppendQuote(b, r.Provider)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"error_code":`...)
	b = jsonscan.AppendQuote(b, r.ErrorCode)
	b = append(b, `,"prompt_tokens":`...)
	b = strconv.AppendInt(b, r.PromptTokens, 10)
	b = append(b, `,"cached_tokens":`...)
	b = strconv.AppendInt(b, r.CachedTokens, 10)
	b = append(b, `,"cache_write_tokens":`...)
	b = strconv.AppendInt(b, r.CacheWriteTokens, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, r.CompletionTokens, 10)
	b = append(b, `,"cost_usd":`...)
	b = appendFloat(b, r.CostUSD)
	b = append(b, `,"savings":{"response_cache":`...)
	b = appendFloat(b, r.Savings.ResponseCache)
	b = append(b, `,"provider_prompt_cache":`...)
	b = appendFloat(b, r.Savings.ProviderPromptCache)
	b = append(b, `,"ide_boilerplate":`...)
	b = appendFloat(b, r.Savings.IDEBoilerplate)
	b = append(b, `,"file_dedup":`...)
	b = appendFloat(b, r.Savings.FileDedup)
	b = append(b, `,"routing":`...)
	b = appendFloat(b, r.Savings.Routing)
	b = append(b, `},"latency_ms":`...)
	b = appendFloat(b, r.LatencyMS)
	b = append(b, `,"upstream_ms":`...)
	b = appendFloat(b, r.UpstreamMS)
	b = append(b, `,"cache":`...)
	b = jsonscan.AppendQuote(b, r.Cache)
	b = append(b, `,"route_reason":`...)
	b = jsonscan.AppendQuote(b, r.RouteReason)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, r.Stream)
	b = append(b, `,"classifier_cost_usd":`...)
	b = appendFloat(b, r.ClassifierCostUSD)
	b = append(b, `,"cascade_extra_cost_usd":`...)
	b = appendFloat(b, r.CascadeExtraCostUSD)
	return append(b, "}\n"...)
}

// appendProvisional is appendRow with the provisional mark, which replay
// reads (spill.go) and a store.UsageRow decoding ignores.
func appendProvisional(b []byte, r *store.UsageRow) []byte {
	b = appendRow(b, r)
	return append(b[:len(b)-2], `,"provisional":true}`+"\n"...)
}

// appendFloat writes f as a JSON number (NaN and infinities, which JSON
// lacks, as 0: the store would refuse them too).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
