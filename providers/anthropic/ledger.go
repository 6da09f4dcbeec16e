package anthropic

import (
	"hash/maphash"
	"sync"
	"time"
)

// Prefix ledger: the history that makes breakpoint placement cost-aware.
//
// A breakpoint on the final user turn writes the whole prompt to the cache
// at 1.25× the input price, betting that the next request of the
// conversation re-sends this prompt and appends to it. Most clients do
// (chat UIs, agent loops). Some rewrite the tail of their prompt on every
// turn: Aider sends the system prompt, the repository map, the finished
// exchanges, then the files in the chat as they are now and the new
// request, so the previous request's end never comes back, its write is
// never read, and a gateway that writes it anyway makes the session cost
// more than sending it uncached (issue 14: Aider sessions 4.5% dearer).
//
// The ledger remembers, for a few minutes (Anthropic's cache lifetime), a
// hash of every message-boundary prefix of the requests the provider sent,
// and whether that boundary was its request's last. For a new request the
// longest prefix it shares with a recent one says how the client grows its
// conversation:
//
//   - it ends at an earlier request's last boundary: the client appends
//     (the common case), and the final-turn breakpoint pays;
//   - it ends inside an earlier request: the client rewrote what followed,
//     so a final-turn write would most likely be wasted. The conversation
//     breakpoint goes instead at the end of the shared prefix: the part
//     this client keeps from turn to turn (Aider's finished exchanges),
//     read from the entry the previous turn wrote within Anthropic's
//     20-block look-back, and extended by this turn's new exchange;
//   - no earlier request shares a message boundary: no history, the
//     stateless rules apply.
//
// The expected value of a write is P(read) × (input − cached-read price) ×
// prefix − (write − input price) × written tokens; with Anthropic's price
// ratios (0.1×, 1.25×) a write pays when its chance of being read exceeds
// about 0.28 × written / prefix. A rewritten tail puts that chance near zero
// for the final turn and near one for the shared prefix, which is the
// choice above; an appending client puts it near one for the final turn.
//
// # Notes
//
// Safe for concurrent use. It holds hashes only (no content), keyed with a
// per-process seed; a hash collision can only misplace a breakpoint. The
// table is bounded (ledgerMax entries; when full, expired entries are swept,
// and if none expired the table is cleared: history is an optimisation).
// Entries are shared by every project using the provider, as Anthropic's
// cache is shared by every request on the same organisation key.
type prefixLedger struct {
	mu   sync.Mutex
	m    map[uint64]ledgerEntry
	ttl  time.Duration
	now  func() time.Time
	seed maphash.Seed
}

type ledgerEntry struct {
	exp  int64 // unix nanoseconds
	last bool  // the boundary ended its request
}

// ledgerMax bounds the ledger: 64k boundaries, about 1.5 MB.
const ledgerMax = 1 << 16

func newPrefixLedger() *prefixLedger {
	return &prefixLedger{m: make(map[uint64]ledgerEntry), ttl: 5 * time.Minute, now: time.Now, seed: maphash.MakeSeed()}
}

// history is what the ledger knows of a request: the index of the last of
// its message boundaries that a recent request also had (-1: none), and
// whether that boundary ended the earlier request.
type history struct {
	shared int
	last   bool
}

// observe looks up the boundary hashes of a request (one per message,
// cumulative) and records them, the final one as its request's last.
func (l *prefixLedger) observe(bounds []uint64) history {
	h := history{shared: -1}
	if len(bounds) == 0 {
		return h
	}
	now := l.now().UnixNano()
	exp := now + int64(l.ttl)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(bounds) - 1; i >= 0; i-- {
		if e, ok := l.m[bounds[i]]; ok && e.exp > now {
			h = history{shared: i, last: e.last}
			break
		}
	}
	if len(l.m)+len(bounds) > ledgerMax {
		for k, e := range l.m {
			if e.exp <= now {
				delete(l.m, k)
			}
		}
		if len(l.m)+len(bounds) > ledgerMax {
			clear(l.m)
		}
	}
	for i, b := range bounds {
		e := l.m[b]
		// A boundary stays "last" once some request ended there: a retry
		// or a parallel request of the same prompt appends nothing yet.
		l.m[b] = ledgerEntry{exp: exp, last: e.last && e.exp > now || i == len(bounds)-1}
	}
	return h
}
