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
//   - it ends inside an earlier request: the client rewrote the last t
//     messages of that request (Aider: the files, their "Ok" and the
//     request, t = 3), so a final-turn write would most likely be wasted.
//     The conversation breakpoint goes instead t messages before this
//     request's end: the part this client will keep next turn (Aider's
//     finished exchanges, this turn's new one included), with a second one
//     at the end of the shared prefix, which reads what the previous turn
//     wrote;
//   - no earlier request shares a message boundary (a new session, or a
//     client that rewrote an early message, as Aider does when a file is
//     added and its repository map changes): the tail length last seen for
//     the same tools and system prompt (the same client) applies, and
//     without one the stateless rules do.
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
	mu sync.Mutex
	m  map[uint64]ledgerEntry
	// tails is the rewritten-tail length last seen per head (model, tools
	// and system prompt): how the client behind that head grows its prompt.
	tails map[uint64]ledgerEntry
	ttl   time.Duration
	now   func() time.Time
	seed  maphash.Seed
}

type ledgerEntry struct {
	exp  int64 // unix nanoseconds
	last bool  // the boundary ended its request
	// n is the message count of the request that recorded the boundary;
	// in tails, the tail length.
	n int32
}

// ledgerMax bounds the ledger: 64k boundaries, about 1.5 MB.
const ledgerMax = 1 << 16

func newPrefixLedger() *prefixLedger {
	return &prefixLedger{m: make(map[uint64]ledgerEntry), tails: make(map[uint64]ledgerEntry), ttl: 5 * time.Minute, now: time.Now, seed: maphash.MakeSeed()}
}

// history is what the ledger knows of a request: the index of the last of
// its message boundaries that a recent request also had (-1: none), and
// how many trailing messages the client rewrites (tail: 0 when it appends,
// -1 when unknown).
type history struct {
	shared int
	tail   int
}

// tailsTTL keeps a client's tail length longer than a cache entry: it
// describes the client, not a prompt.
const tailsTTL = time.Hour

// observe looks up the boundary hashes of a request (one per message,
// cumulative; head hashes what precedes the messages) and records them,
// the final one as its request's last.
func (l *prefixLedger) observe(head uint64, bounds []uint64) history {
	h := history{shared: -1, tail: -1}
	if len(bounds) == 0 {
		return h
	}
	now := l.now().UnixNano()
	exp := now + int64(l.ttl)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(bounds) - 1; i >= 0; i-- {
		if e, ok := l.m[bounds[i]]; ok && e.exp > now {
			h.shared, h.tail = i, 0
			if !e.last {
				h.tail = max(int(e.n)-1-i, 0)
			}
			break
		}
	}
	if h.tail >= 0 {
		if len(l.tails) >= ledgerMax {
			clear(l.tails)
		}
		l.tails[head] = ledgerEntry{exp: now + int64(tailsTTL), n: int32(h.tail)}
	} else if e, ok := l.tails[head]; ok && e.exp > now {
		h.tail = int(e.n)
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
		l.m[b] = ledgerEntry{exp: exp, last: e.last && e.exp > now || i == len(bounds)-1, n: int32(len(bounds))}
	}
	return h
}
