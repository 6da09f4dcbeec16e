package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// The spill format is JSON lines: one store.UsageRow per line, in the
// admin API's field names, so that an operator can read (or grep, or load
// elsewhere) a spill file with standard tools. A batch is appended with one
// write and made durable with one fsync. A line torn by a crash mid-write
// fails to decode and is skipped at replay; every complete line before it
// was fsynced with its batch.
//
// Files are named spill-<unix nanos>-<pid>.jsonl and replayed oldest first.
// The writing process holds an exclusive flock on its file, so a second
// gateway sharing the directory never replays (and deletes) a file that is
// still being appended to. A new file is created under a dot-name, locked,
// and only then renamed into view.

var errLocked = errors.New("spill file in use by another process")

type spiller struct {
	dir string

	mu      sync.Mutex
	cur     *os.File
	curPath string
	buf     []byte
}

func newSpiller(dir string) (*spiller, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: spill_dir: %w", err)
	}
	return &spiller{dir: dir}, nil
}

// files lists the spill files, oldest first.
func (s *spiller) files() []string {
	m, _ := filepath.Glob(filepath.Join(s.dir, "spill-*.jsonl"))
	slices.Sort(m)
	return m
}

func (s *spiller) waiting() int { return len(s.files()) }

// open creates and locks a new spill file.
func (s *spiller) open() error {
	name := "spill-" + strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + strconv.Itoa(os.Getpid()) + ".jsonl"
	tmp := filepath.Join(s.dir, "."+name)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	path := filepath.Join(s.dir, name)
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	syncDir(s.dir)
	s.cur, s.curPath = f, path
	return nil
}

// append writes rows as one batch and fsyncs it.
func (s *spiller) append(batches ...[]store.UsageRow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	b := s.buf[:0]
	for _, rows := range batches {
		for i := range rows {
			line, err := json.Marshal(&rows[i])
			if err != nil {
				return err
			}
			b = append(append(b, line...), '\n')
		}
	}
	s.buf = b
	st, err := s.cur.Stat()
	if err != nil {
		return err
	}
	if _, err := s.cur.Write(b); err != nil {
		// Cut the partial batch off so that the file stays a sequence of
		// whole batches; if even that fails, replay skips the torn line.
		_ = s.cur.Truncate(st.Size())
		return err
	}
	return s.cur.Sync()
}

// closeCurrent closes (and unlocks) the file being appended to; the next
// append starts a new one.
func (s *spiller) closeCurrent() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		_ = s.cur.Close()
		s.cur, s.curPath = nil, ""
	}
}

// replay reads a spill file in batches of n rows and hands each to insert:
// the final rows (pass 1) or the provisional ones (pass 2, journal.go's
// appendProvisional). Pass 1 deletes a file that has no provisional row,
// pass 2 every file it replays. It returns the rows inserted.
func (s *spiller) replay(path string, n int, provisional bool, insert func([]store.UsageRow) error) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if path == s.curPath {
		return 0, errLocked
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil // replayed by another gateway meanwhile
		}
		return 0, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return 0, errLocked
	}
	if _, err := os.Stat(path); err != nil {
		return 0, nil // deleted between our open and our lock
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	sc.Split(splitRows)
	batch := make([]store.UsageRow, 0, n)
	done, torn, skipped := 0, 0, 0
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r spillLine
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.ID == "" || r.Time.IsZero() {
			if !provisional {
				torn++ // counted once: pass 2 reads the same file again
			}
			continue
		}
		if r.Provisional != provisional {
			skipped++
			continue
		}
		batch = append(batch, r.UsageRow)
		if len(batch) == n {
			if err := insert(batch); err != nil {
				return done, err
			}
			done += len(batch)
			batch = batch[:0]
		}
	}
	if err := sc.Err(); err != nil {
		return done, err
	}
	if len(batch) > 0 {
		if err := insert(batch); err != nil {
			return done, err
		}
		done += len(batch)
	}
	if !provisional && skipped > 0 {
		return done, nil // pass 2 replays its provisional rows, then deletes it
	}
	if err := os.Remove(path); err != nil {
		return done, err
	}
	syncDir(s.dir)
	if torn > 0 {
		return done, &tornError{lines: torn, file: filepath.Base(path)}
	}
	return done, nil
}

// splitRows is bufio.ScanLines for spill files and journal segments: a
// run of NUL bytes also ends a line. A mapped segment (journal.go) is NUL
// past its last row, and a crash in the middle of a copy leaves a line cut
// short by NULs, which must not swallow the rows appended after the mapped
// part. A row never holds a raw NUL (JSON escapes it).
func splitRows(data []byte, atEOF bool) (int, []byte, error) {
	// NULs are skipped in the same call as the line after them: once the
	// file's end was seen, a call that returns no line ends the scan.
	i := 0
	for i < len(data) && data[i] == 0 {
		i++
	}
	rest := data[i:]
	if j := bytes.IndexAny(rest, "\n\x00"); j >= 0 {
		if rest[j] == '\n' {
			return i + j + 1, rest[:j], nil
		}
		return i + j, rest[:j], nil
	}
	if atEOF && len(rest) > 0 {
		return len(data), rest, nil
	}
	return i, nil, nil
}

// tornError reports lines of a spill file that could not be decoded (a
// crash mid-write); the rest of the file was replayed.
type tornError struct {
	lines int
	file  string
}

func (e *tornError) Error() string {
	return strconv.Itoa(e.lines) + " unreadable lines skipped in " + e.file
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
