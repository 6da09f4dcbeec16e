package wasm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// history is what Rollback restores for one policy name: every Upload and
// Delete moves the upload that ran (or nil, the configured module) into
// prev, so that a rollback undoes the last change, and a second rollback
// undoes the first (like `cd -`). One previous version is kept per name,
// in memory and, with a DataDir, in policies/NAME.prev.wasm, so that a
// restart keeps it.
//
// # Notes
//
// A replica applies the uploads and deletions it receives from the others
// through Upload and Delete too, so every replica that saw the same
// changes holds the same history, and a rollback made on one fans out to
// the others as an upload (or a delete) of the module it restores. A
// replica that starts after the change knows the previous version only
// from its own DataDir.
type history struct {
	cur  []byte // the running upload; nil while the configured module runs
	prev []byte // the upload before the last change; nil: the configured module
	// prevHex is prev's sha256, for Info.
	prevHex string
}

func (h *Host) prevPath(name string) string {
	return filepath.Join(h.opts.DataDir, "policies", name+".prev.wasm")
}

// seedHistory fills the history of the names this Host has none of from
// what DataDir keeps: the persisted upload and the previous one.
func (h *Host) seedHistory(uploads map[string][]byte) {
	h.histMu.Lock()
	defer h.histMu.Unlock()
	if h.hist == nil {
		h.hist = map[string]*history{}
	}
	for name, up := range uploads {
		if h.hist[name] == nil {
			h.hist[name] = &history{cur: up}
		}
	}
	if h.opts.DataDir == "" {
		return
	}
	prevs, _ := filepath.Glob(filepath.Join(h.opts.DataDir, "policies", "*.prev.wasm"))
	for _, path := range prevs {
		name := filepath.Base(path)
		name = name[:len(name)-len(".prev.wasm")]
		hs := h.hist[name]
		if !validName(name) || (hs != nil && hs.prev != nil) {
			continue
		}
		if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() || st.Size() > h.opts.MaxModuleSize {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if hs == nil {
			hs = &history{cur: uploads[name]}
			h.hist[name] = hs
		}
		hs.prev, hs.prevHex = b, digestHex(b)
	}
}

// recordChange notes that module (nil: the configured module) now runs
// under name. Callers hold h.mu. Keeping the previous version on disk is
// best effort: the change itself is already persisted, and a lost
// .prev.wasm only costs the rollback after a restart.
func (h *Host) recordChange(name string, module []byte) {
	h.histMu.Lock()
	if h.hist == nil {
		h.hist = map[string]*history{}
	}
	hs := h.hist[name]
	if hs == nil {
		hs = &history{}
		h.hist[name] = hs
	}
	if hs.cur != nil && bytes.Equal(hs.cur, module) {
		// The running module uploaded again (a retried PUT, or the same
		// change arriving from another replica): nothing changed, and a
		// rollback must still undo the last real change.
		h.histMu.Unlock()
		return
	}
	hs.prev, hs.cur = hs.cur, module
	hs.prevHex = ""
	if hs.prev != nil {
		hs.prevHex = digestHex(hs.prev)
	}
	prev := hs.prev
	h.histMu.Unlock()
	if h.opts.DataDir == "" {
		return
	}
	if prev != nil {
		_ = h.writeFile(h.prevPath(name), name, prev)
	} else {
		_ = os.Remove(h.prevPath(name))
	}
}

// forget drops the history of a policy that no longer exists (an
// upload-only policy deleted). Callers hold h.mu.
func (h *Host) forget(name string) {
	h.histMu.Lock()
	delete(h.hist, name)
	h.histMu.Unlock()
	if h.opts.DataDir != "" {
		_ = os.Remove(h.prevPath(name))
	}
}

// rollbackTo is Info.RollbackTo of p, whose running module has origin.
func (h *Host) rollbackTo(p *policy, origin string) string {
	h.histMu.Lock()
	hs := h.hist[p.spec.name]
	var prevHex string
	if hs != nil {
		prevHex = hs.prevHex
	}
	h.histMu.Unlock()
	switch {
	case prevHex != "":
		return "upload:" + prevHex
	case p.fromCfg && origin == "upload":
		return p.spec.module
	}
	return ""
}

// Rollback undoes the last change of name: the upload that ran before it
// is uploaded again (validated like any upload, at the policy's current
// place), or, when the configured module ran before, the upload is
// deleted. Either way it is a change like Upload or Delete: persisted,
// recorded (a second Rollback undoes this one) and handed to OnChange
// unless opts has FromReplica. ErrNoPrevious when there is nothing to go
// back to (a configured module never replaced, or the first upload of a
// policy that gateway.toml does not configure: delete that instead).
func (h *Host) Rollback(name string, opts ...ChangeOption) (Info, error) {
	p := h.reg.Load().byName[name]
	if p == nil {
		return Info{}, fmt.Errorf("%w: %q", ErrUnknownPolicy, name)
	}
	h.histMu.Lock()
	var prev []byte
	if hs := h.hist[name]; hs != nil {
		prev = hs.prev
	}
	h.histMu.Unlock()
	if prev != nil {
		return h.UploadAt(name, prev, Position{}, opts...)
	}
	if v := p.cur.Load(); p.fromCfg && v != nil && v.origin == "upload" {
		if err := h.Delete(name, opts...); err != nil {
			return Info{}, err
		}
		info, ok := h.Get(name)
		if !ok {
			return Info{}, fmt.Errorf("%w: %q", ErrUnknownPolicy, name)
		}
		return info, nil
	}
	return Info{}, fmt.Errorf("%w: %q runs %s and has no earlier version here", ErrNoPrevious, name, p.spec.module)
}

func digestHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
