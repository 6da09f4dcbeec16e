package wasm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// Bounds on what an untrusted module may cost the host before it runs: its
// size (Options.MaxModuleSize), its functions (MaxFunctions, checked on the
// section headers before anything is decoded), its compile time
// (CompileTimeout, a bounded number of untrusted compiles at a time) and the disk its
// compiled code takes (CacheMaxBytes).

// countFunctions reads the section headers of a Wasm binary and returns the
// number of imports plus the number of functions it defines: an upper bound
// of its functions, found without decoding any of them. A module whose
// sections run past its end is refused.
func countFunctions(b []byte) (int, error) {
	imports, defined := 0, 0
	for i := 8; i < len(b); {
		id := b[i]
		size, n := uleb32(b[i+1:])
		if n == 0 || size > uint64(len(b)-i-1-n) {
			return 0, invalid("section %d runs past the end of the module", id)
		}
		body := b[i+1+n : i+1+n+int(size)]
		switch id {
		case 2, 3: // import, function: a vector count comes first
			count, m := uleb32(body)
			if m == 0 {
				return 0, invalid("section %d: bad vector length", id)
			}
			if id == 2 {
				imports = int(count)
			} else {
				defined = int(count)
			}
		}
		i += 1 + n + int(size)
	}
	return imports + defined, nil
}

// uleb32 decodes an unsigned LEB128 of at most 5 bytes; n is 0 when b does
// not start with one.
func uleb32(b []byte) (v uint64, n int) {
	for shift := 0; n < len(b) && n < 5; shift += 7 {
		c := b[n]
		n++
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, n
		}
	}
	return 0, 0
}

// checkBounds refuses an untrusted module whose function count exceeds the
// host's bound, before wazero decodes it (decoding 2.4 million functions
// took 1.4 GB).
func (h *Host) checkBounds(module []byte) error {
	funcs, err := countFunctions(module)
	if err != nil {
		return err
	}
	if funcs > h.opts.MaxFunctions {
		return invalid("%d functions (imports included), the cap is %d", funcs, h.opts.MaxFunctions)
	}
	return nil
}

// compileUntrusted compiles an uploaded or file module within
// Options.CompileTimeout. wazero stops a multi-worker compile between
// functions when its context ends, but not inside one function, nor while it
// decodes and validates; so past the budget the caller is answered at once
// and the compile is abandoned: it runs on, holding its slot, and its result
// is closed when it ends. The slots (GOMAXPROCS, at least 2) bound the CPU
// that hostile modules can burn at once; an upload that finds them all
// taken for a whole budget is refused with ErrBusy.
func (h *Host) compileUntrusted(rt wazero.Runtime, module []byte) (wazero.CompiledModule, error) {
	wait := time.NewTimer(h.opts.CompileTimeout)
	select {
	case h.compileSlots <- struct{}{}:
		wait.Stop()
	case <-wait.C:
		return nil, fmt.Errorf("%w: other uploaded modules are still compiling", ErrBusy)
	}
	// Cancelled when the caller returns, not when the compile ends: a
	// cancelled budget must mean "past the budget" to the select below.
	ctx, cancel := context.WithTimeout(h.compileCtx, h.opts.CompileTimeout)
	defer cancel()
	type result struct {
		cm  wazero.CompiledModule
		err error
	}
	done := make(chan result, 1)
	h.compileGate.Lock()
	if h.closed.Load() {
		h.compileGate.Unlock()
		<-h.compileSlots
		return nil, ErrClosed
	}
	h.compiles.Add(1)
	h.compileGate.Unlock()
	go func() {
		defer h.compiles.Done()
		defer func() { <-h.compileSlots }()
		// At least two workers: wazero checks the context only when it
		// compiles with several.
		cctx := experimental.WithCompilationWorkers(ctx, max(2, runtime.GOMAXPROCS(0)))
		cm, err := rt.CompileModule(cctx, module)
		done <- result{cm, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil {
			return nil, invalid("compile: took longer than the %v budget", h.opts.CompileTimeout)
		}
		return r.cm, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.cm != nil {
				_ = r.cm.Close(context.Background())
			}
		}()
		return nil, invalid("compile: took longer than the %v budget (abandoned)", h.opts.CompileTimeout)
	}
}

// uploadCacheDir is where untrusted modules' compiled code is cached;
// builtinCacheDir holds the built-ins', which the bound never evicts (they
// are compiled at every start).
func uploadCacheDir(dir string) string  { return filepath.Join(dir, "uploads") }
func builtinCacheDir(dir string) string { return filepath.Join(dir, "builtin") }

// trimCache deletes the oldest files of the upload compilation cache until
// it holds at most Options.CacheMaxBytes. A deleted entry is only a cache
// miss: the module compiles again the next time it loads.
func (h *Host) trimCache() error {
	if h.opts.CacheDir == "" || h.opts.CacheMaxBytes <= 0 {
		return nil
	}
	type entry struct {
		path string
		size int64
		mod  time.Time
	}
	var files []entry
	var total int64
	root := h.opts.CacheDir
	keep := builtinCacheDir(root)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed meanwhile
		}
		if d.IsDir() {
			if path == keep {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		files = append(files, entry{path, info.Size(), info.ModTime()})
		total += info.Size()
		return nil
	})
	if err != nil || total <= h.opts.CacheMaxBytes {
		return err
	}
	slices.SortFunc(files, func(a, b entry) int { return a.mod.Compare(b.mod) })
	var errs []error
	for _, f := range files {
		if total <= h.opts.CacheMaxBytes {
			break
		}
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		total -= f.size
	}
	return errors.Join(errs...)
}
