package semantic

import (
	"sync"
	"sync/atomic"

	"github.com/aigateway/gateway/engine/cache"
)

// rec is one stored final turn and its answer.
//
// # Notes
//
// Every field but the LRU links and used is immutable once the rec is in
// the index, so lookups read recs from a bucket's snapshot without a lock.
type rec struct {
	id      [16]byte
	scope   scopeID
	project string
	route   string // provider/model, for purges
	text    string
	vec     []float32
	sig     signature
	entry   *cache.Entry
	expires int64 // Unix seconds
	size    int64 // bytes held, for MaxBytes

	// Guarded by index.mu.
	used       uint64
	prev, next *rec
	b          *bucket
}

func (r *rec) memSize() int64 {
	n := 160 + len(r.text) + 4*len(r.vec) + r.entry.Size() + len(r.project) + len(r.route)
	for _, part := range [...][]string{r.sig.neg, r.sig.nums, r.sig.quotes, r.sig.idents, r.sig.words} {
		for _, s := range part {
			n += 16 + len(s)
		}
	}
	return int64(n)
}

// bucket holds one scope's records.
type bucket struct {
	scope scopeID
	// recs is an immutable snapshot, replaced (copy on write) under
	// index.mu; readers load it without a lock.
	recs atomic.Pointer[[]*rec]
}

func (b *bucket) snapshot() []*rec {
	if p := b.recs.Load(); p != nil {
		return *p
	}
	return nil
}

// loadSlots is the size of the table that remembers when each scope was
// last loaded from Redis. A collision forgets a scope, which only costs an
// extra load.
const loadSlots = 4096

// index is the in-process store: buckets by scope, one LRU list over all
// records, and bounds on records per scope, records and bytes.
type index struct {
	maxPerScope, maxEntries int
	maxBytes                int64

	mu      sync.Mutex
	buckets map[scopeID]*bucket
	head    *rec // most recently used
	tail    *rec
	n       int
	bytes   int64
	clock   uint64
	evicted uint64
	loaded  [loadSlots]struct {
		scope scopeID
		at    int64 // UnixNano
	}
}

func newIndex(maxPerScope, maxEntries int, maxBytes int64) *index {
	return &index{maxPerScope: maxPerScope, maxEntries: maxEntries, maxBytes: maxBytes, buckets: map[scopeID]*bucket{}}
}

// get returns the scope's records (nil when none).
func (x *index) get(s scopeID) []*rec {
	x.mu.Lock()
	b := x.buckets[s]
	x.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.snapshot()
}

// claimLoad reports whether the scope should be loaded from Redis now (it
// was not loaded within interval) and, if so, records the load as started,
// so that concurrent misses in one scope make one load.
func (x *index) claimLoad(s scopeID, now, interval int64) bool {
	slot := &x.loaded[(int(s[0])|int(s[1])<<8)&(loadSlots-1)]
	x.mu.Lock()
	defer x.mu.Unlock()
	if slot.scope == s && now-slot.at < interval {
		return false
	}
	slot.scope, slot.at = s, now
	return true
}

// touch marks r as just used (a hit).
func (x *index) touch(r *rec) {
	x.mu.Lock()
	if r.b != nil { // still indexed
		x.clock++
		r.used = x.clock
		x.unlink(r)
		x.pushFront(r)
	}
	x.mu.Unlock()
}

// put adds r, replacing a record with the same id in its scope, and evicts
// until the bounds hold: expired records of the scope first, then the
// scope's least recently used record while the scope is full, then the
// least recently used records overall. keepExisting leaves an existing
// record in place (a Redis load must not replace a fresher local store).
func (x *index) put(r *rec, now int64, keepExisting bool) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	b := x.buckets[r.scope]
	if b == nil {
		b = &bucket{scope: r.scope}
		x.buckets[r.scope] = b
	}
	old := b.snapshot()
	next := make([]*rec, 0, min(len(old)+1, x.maxPerScope))
	for _, o := range old {
		switch {
		case o.id == r.id:
			if keepExisting {
				return false
			}
			x.drop(o)
		case o.expires <= now:
			x.drop(o)
		default:
			next = append(next, o)
		}
	}
	for len(next) >= x.maxPerScope {
		lru := 0
		for i, o := range next {
			if o.used < next[lru].used {
				lru = i
			}
		}
		x.drop(next[lru])
		x.evicted++
		next = append(next[:lru], next[lru+1:]...)
	}
	x.clock++
	r.used, r.b = x.clock, b
	r.size = r.memSize()
	next = append(next, r)
	b.recs.Store(&next)
	x.pushFront(r)
	x.n++
	x.bytes += r.size
	for (x.n > x.maxEntries || x.bytes > x.maxBytes) && x.tail != nil && x.tail != r {
		x.remove(x.tail)
		x.evicted++
	}
	return true
}

// remove takes r out of its bucket and the LRU list.
func (x *index) remove(r *rec) {
	b := r.b
	if b == nil {
		return
	}
	old := b.snapshot()
	next := make([]*rec, 0, len(old))
	for _, o := range old {
		if o != r {
			next = append(next, o)
		}
	}
	x.drop(r)
	if len(next) == 0 {
		delete(x.buckets, b.scope)
		b.recs.Store(nil)
		return
	}
	b.recs.Store(&next)
}

// drop unlinks r and uncounts it; the caller fixes the bucket's snapshot.
func (x *index) drop(r *rec) {
	x.unlink(r)
	r.b = nil
	x.n--
	x.bytes -= r.size
}

func (x *index) unlink(r *rec) {
	if r.prev != nil {
		r.prev.next = r.next
	} else if x.head == r {
		x.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else if x.tail == r {
		x.tail = r.prev
	}
	r.prev, r.next = nil, nil
}

func (x *index) pushFront(r *rec) {
	r.prev, r.next = nil, x.head
	if x.head != nil {
		x.head.prev = r
	}
	x.head = r
	if x.tail == nil {
		x.tail = r
	}
}

// purge removes the records of a project and/or a route ("provider/model";
// "" matches any) and returns how many.
func (x *index) purge(project, route string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for r := x.head; r != nil; {
		next := r.next
		if (project == "" || r.project == project) && (route == "" || r.route == route) {
			x.remove(r)
			n++
		}
		r = next
	}
	if project == "" && route == "" {
		x.loaded = [loadSlots]struct {
			scope scopeID
			at    int64
		}{}
	}
	return n
}

// counts returns the number of records, scopes and bytes held, and the
// evictions so far.
func (x *index) counts() (entries, scopes int, bytes int64, evicted uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.n, len(x.buckets), x.bytes, x.evicted
}
