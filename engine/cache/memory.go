package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync/atomic"
	"time"

	"github.com/allegro/bigcache/v3"
)

// memory is the in-process tier: bigcache holds the stored bytes (bounded in
// MB, invisible to the GC), and a direct-mapped hot set in front holds
// decoded Entries of recent hits.
//
// bigcache copies every value it returns, so a bigcache hit costs one
// allocation of the entry's size and a decode. The hot set is what makes a
// repeated L1 hit allocation-free: one atomic load, a 32-byte compare, an
// expiry check. It is bounded by slot count and by hotMaxBytes per entry, and
// a collision simply replaces the slot.
type memory struct {
	bc          *bigcache.BigCache
	hot         []atomic.Pointer[Entry]
	hotMask     uint64
	hotMaxBytes int
}

// What an empty memory tier preallocates per shard (see newMemory).
const (
	initialEntriesPerShard = 10
	initialEntryBytes      = 256
)

func newMemory(mb, hotEntries, hotMaxBytes, maxEntry int, life time.Duration) (*memory, error) {
	// A shard must hold several of the largest entries, and shards are a
	// power of two.
	shards := 1024
	for shards > 1 && (mb<<20)/shards < 4*maxEntry {
		shards /= 2
	}
	// MaxEntriesInWindow and MaxEntrySize only size what bigcache
	// allocates up front (entries × size per shard, plus one entry buffer
	// per shard); a shard's queue doubles on demand up to its share of mb.
	// Sized for ten 256-byte entries per shard, an empty tier costs
	// shards × 2.5 KiB (160 KiB at the default 256 MB) instead of the
	// 8.5 MB that 64 × 2 KiB per shard preallocated.
	cfg := bigcache.Config{
		Shards:             shards,
		LifeWindow:         life,
		CleanWindow:        time.Minute,
		MaxEntriesInWindow: shards * initialEntriesPerShard,
		MaxEntrySize:       initialEntryBytes,
		HardMaxCacheSize:   mb,
	}
	bc, err := bigcache.New(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("memory tier: %w", err)
	}
	m := &memory{bc: bc, hotMaxBytes: hotMaxBytes}
	if hotEntries > 0 {
		n := 1 << bits.Len(uint(hotEntries-1))
		m.hot = make([]atomic.Pointer[Entry], n)
		m.hotMask = uint64(n - 1)
	}
	return m, nil
}

func (m *memory) slot(sum *[32]byte) *atomic.Pointer[Entry] {
	if m.hot == nil {
		return nil
	}
	return &m.hot[binary.LittleEndian.Uint64(sum[8:16])&m.hotMask]
}

// getHot is the allocation-free path.
func (m *memory) getHot(k *Key, now int64) *Entry {
	s := m.slot(&k.Sum)
	if s == nil {
		return nil
	}
	if e := s.Load(); e != nil && e.sum == k.Sum {
		if e.Expires > now {
			return e
		}
		s.CompareAndSwap(e, nil)
	}
	return nil
}

// get looks in the hot set, then in bigcache; storeKey is the entry's
// bigcache key.
func (m *memory) get(k *Key, storeKey string, now int64) (*Entry, error) {
	if e := m.getHot(k, now); e != nil {
		return e, nil
	}
	b, err := m.bc.Get(storeKey)
	if err != nil {
		if errors.Is(err, bigcache.ErrEntryNotFound) {
			return nil, nil
		}
		return nil, err
	}
	e, err := decodeStored(b)
	if err != nil || e.sum != k.Sum {
		_ = m.bc.Delete(storeKey)
		return nil, ErrCorrupt
	}
	if e.Expires <= now {
		_ = m.bc.Delete(storeKey)
		return nil, nil
	}
	m.promote(e)
	return e, nil
}

// promote puts a decoded entry in the hot set.
func (m *memory) promote(e *Entry) {
	if s := m.slot(&e.sum); s != nil && len(e.body) <= m.hotMaxBytes {
		s.Store(e)
	}
}

// set stores the stored form under storeKey; e (with its header fields set)
// goes to the hot set.
func (m *memory) set(storeKey string, stored []byte, e *Entry) error {
	if err := m.bc.Set(storeKey, stored); err != nil {
		// Do not leave an older answer in the hot set.
		if s := m.slot(&e.sum); s != nil {
			s.Store(nil)
		}
		return err
	}
	if s := m.slot(&e.sum); s != nil {
		if len(e.body) <= m.hotMaxBytes {
			s.Store(e)
		} else if old := s.Load(); old != nil && old.sum == e.sum {
			s.CompareAndSwap(old, nil)
		}
	}
	return nil
}

// purge deletes the entries whose key matches; it returns how many it
// deleted from bigcache.
func (m *memory) purge(project, routeSeg string) int {
	for i := range m.hot {
		if e := m.hot[i].Load(); e != nil && matchEntry(e, project, routeSeg) {
			m.hot[i].CompareAndSwap(e, nil)
		}
	}
	if project == "" && routeSeg == "" {
		n := m.bc.Len()
		_ = m.bc.Reset()
		return n
	}
	var keys []string
	it := m.bc.Iterator()
	for it.SetNext() {
		info, err := it.Value()
		if err != nil {
			continue
		}
		if k := info.Key(); matchStoreKey(k, project, routeSeg) {
			keys = append(keys, k)
		}
	}
	n := 0
	for _, k := range keys {
		if m.bc.Delete(k) == nil {
			n++
		}
	}
	return n
}

func (m *memory) hotLen() int {
	n := 0
	for i := range m.hot {
		if m.hot[i].Load() != nil {
			n++
		}
	}
	return n
}

func (m *memory) close() { _ = m.bc.Close() }

// Store keys are keyPrefix + seg(project) + ":" + seg(provider/model) + ":" +
// hex(sum). seg percent-encodes ':', '%' and Redis glob metacharacters, so
// that segments never contain a separator and MATCH patterns need no
// escaping; an empty segment is "%", which no escaped value can be.
const keyPrefix = "gw:cache:"

func appendSeg(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '%')
	}
	const hexd = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ':', '%', '*', '?', '[', ']', '\\', ' ', '\n', '\r', '\t':
			dst = append(dst, '%', hexd[c>>4], hexd[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func seg(s string) string { return string(appendSeg(nil, s)) }

func appendStoreKey(dst []byte, k *Key) []byte {
	dst = append(dst, keyPrefix...)
	dst = appendSeg(dst, k.Project)
	dst = append(dst, ':')
	if k.Provider == "" && k.Model == "" {
		dst = append(dst, '%')
	} else {
		dst = appendSeg(dst, k.Provider)
		dst = append(dst, '/')
		dst = appendSeg(dst, k.Model)
	}
	dst = append(dst, ':')
	var h [64]byte
	const hexd = "0123456789abcdef"
	for i, b := range k.Sum {
		h[2*i], h[2*i+1] = hexd[b>>4], hexd[b&15]
	}
	return append(dst, h[:]...)
}

// matchStoreKey reports whether key belongs to the project and route
// segments (already escaped; "" matches any).
func matchStoreKey(key, projectSeg, routeSeg string) bool {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return false
	}
	p, rest, ok := strings.Cut(rest, ":")
	if !ok {
		return false
	}
	r, _, ok := strings.Cut(rest, ":")
	if !ok {
		return false
	}
	return (projectSeg == "" || p == projectSeg) && (routeSeg == "" || r == routeSeg)
}

func matchEntry(e *Entry, projectSeg, routeSeg string) bool {
	if projectSeg != "" && seg(e.Project) != projectSeg {
		return false
	}
	if routeSeg != "" && string(appendSeg(append(appendSeg(nil, e.Provider), '/'), e.UpstreamModel)) != routeSeg {
		return false
	}
	return true
}
