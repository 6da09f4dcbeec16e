package ledger

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/aigateway/gateway/engine/store"
)

// segmentExt names the journal segments this version writes (binary
// records, record.go); legacyExt the JSON-lines segments of gateways
// before it, which are still adopted (by a rename: they are in the spill
// format already).
const (
	segmentExt = ".bin"
	legacyExt  = ".jsonl"
)

// adoptJournals turns the segments of dead processes into spill files of
// the same time and pid (spill-<unix nanos>-<pid>.jsonl), so that they
// replay in time order with the others. A segment another process holds
// locked is left alone; an empty one is deleted. It returns the segments
// adopted and the torn records skipped (rows whose write a crash cut
// short: those requests had not been answered).
func adoptJournals(dir string) (adopted, torn int, err error) {
	var errs []error
	for _, ext := range []string{legacyExt, segmentExt} {
		m, err := filepath.Glob(filepath.Join(dir, "journal-*"+ext))
		if err != nil {
			return adopted, torn, err
		}
		for _, path := range m {
			ok, t, err := adoptSegment(dir, path, ext)
			if ok {
				adopted++
			}
			torn += t
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if adopted > 0 {
		syncDir(dir)
	}
	return adopted, torn, errors.Join(errs...)
}

// adoptSegment adopts one segment if no live process holds it.
func adoptSegment(dir, path, ext string) (adopted bool, torn int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, 0, nil // adopted by another gateway meanwhile
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false, 0, nil // a live gateway's segment
	}
	if _, err := os.Stat(path); err != nil {
		return false, 0, nil // adopted between our open and our lock
	}
	if holdsNoRow(f) {
		_ = os.Remove(path)
		return false, 0, nil
	}
	base := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "journal-"), ext)
	spill := filepath.Join(dir, "spill-"+base+legacyExt)
	if ext == legacyExt {
		if err := os.Rename(path, spill); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, 0, err
		}
		return true, 0, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, 0, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return false, 0, err
	}
	torn, err = writeSpill(dir, spill, data)
	if err != nil {
		return false, 0, fmt.Errorf("convert %s: %w", filepath.Base(path), err)
	}
	// Gone only once its rows are durable in the spill file: a crash in
	// between leaves both, and the store keeps the first of a (time, id).
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return true, torn, err
	}
	return true, torn, nil
}

// spillLine is a spill file's row, as adopted journals write it and replay
// reads it: the provisional mark is written only when set.
type spillLine struct {
	store.UsageRow
	Provisional bool `json:"provisional,omitempty"`
}

// writeSpill writes the records of a binary segment as the spill file
// path: under a dot-name, fsynced, then renamed into view.
func writeSpill(dir, path string, data []byte) (torn int, err error) {
	tmp := filepath.Join(dir, "."+filepath.Base(path))
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(bw) // one line per row
	var encErr error
	torn = decodeRecords(data, func(r store.UsageRow, provisional bool) {
		if encErr == nil {
			encErr = enc.Encode(spillLine{UsageRow: r, Provisional: provisional})
		}
	})
	err = errors.Join(encErr, bw.Flush(), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, err
	}
	return torn, nil
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
