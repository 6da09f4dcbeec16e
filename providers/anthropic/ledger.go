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
// The ledger remembers, for an hour (Anthropic's longer cache lifetime), a
// hash of every message-boundary prefix of the requests the provider sent,
// when it was last sent, whether that boundary was its request's last, and
// whether it was written with the 1-hour TTL (gaps.go, which also keeps
// the pauses and session starts the 1-hour choice is made from). For a new request the
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
	// gaps counts, per head and per session, the pauses between a request
	// and the earlier one whose prefix it continues (gaps.go).
	gaps map[uint64]gapStats
	now  func() time.Time
	seed maphash.Seed
	// noHour keeps every breakpoint at the 5-minute TTL (Config.NoHourTTL).
	noHour bool
}

type ledgerEntry struct {
	seen int64 // unix nanoseconds of the last request that sent it
	last bool  // the boundary ended its request
	hour bool  // the prefix was written with the 1-hour TTL
	// n is the message count of the request that recorded the boundary;
	// in tails, the tail length.
	n int32
}

// ledgerMax bounds the ledger: 64k boundaries, about 1.5 MB.
const ledgerMax = 1 << 16

// Lifetimes: Anthropic's two cache TTLs; the ledger remembers a boundary
// for the longer one, to see pauses up to an hour.
const (
	shortTTL = 5 * time.Minute
	hourTTL  = time.Hour
)

func newPrefixLedger(now func() time.Time) *prefixLedger {
	if now == nil {
		now = time.Now
	}
	return &prefixLedger{m: make(map[uint64]ledgerEntry), tails: make(map[uint64]ledgerEntry), gaps: make(map[uint64]gapStats),
		now: now, seed: maphash.MakeSeed()}
}

// history is what the ledger knows of a request: the index of the last of
// its message boundaries that a recent request also had (-1: none), and
// how many trailing messages the client rewrites (tail: 0 when it appends,
// -1 when unknown).
type history struct {
	shared int
	tail   int
	// live: the prefix up to shared is likely still in Anthropic's cache
	// (sent within 5 minutes, or within the hour with the 1-hour TTL).
	live bool
	// pLong is the estimated chance that the session's next turn comes
	// after more than 5 minutes and within the hour (gaps.go).
	pLong float64
	// headHour: the client behind the head (tools and system prompt)
	// started another session within the hour, so its head breakpoints
	// take the 1-hour TTL (gaps.go).
	headHour bool
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
	horizon := now - int64(hourTTL)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(bounds) - 1; i >= 0; i-- {
		if e, ok := l.m[bounds[i]]; ok && e.seen > horizon {
			h.shared, h.tail = i, 0
			if !e.last {
				h.tail = max(int(e.n)-1-i, 0)
			}
			gap := time.Duration(now - e.seen)
			h.live = gap <= shortTTL || e.hour
			l.countGap(head, bounds[0], gap, now)
			break
		}
	}
	if h.shared < 0 {
		l.countGap(head, bounds[0], 0, now)
		l.countStart(head, now)
	}
	h.headHour = l.recurring(head, now)
	h.pLong = l.pLong(head, bounds[0], now)
	if h.tail >= 0 {
		if len(l.tails) >= ledgerMax {
			clear(l.tails)
		}
		l.tails[head] = ledgerEntry{seen: now, n: int32(h.tail)}
	} else if e, ok := l.tails[head]; ok && e.seen > now-int64(tailsTTL) {
		h.tail = int(e.n)
	}
	if len(l.m)+len(bounds) > ledgerMax {
		for k, e := range l.m {
			if e.seen <= horizon {
				delete(l.m, k)
			}
		}
		if len(l.m)+len(bounds) > ledgerMax {
			clear(l.m)
		}
	}
	for i, b := range bounds {
		e := l.m[b]
		alive := e.seen > horizon
		// A boundary stays "last" once some request ended there: a retry
		// or a parallel request of the same prompt appends nothing yet.
		// A 1-hour entry stays one while it lives (a read refreshes it).
		l.m[b] = ledgerEntry{seen: now, last: e.last && alive || i == len(bounds)-1, hour: e.hour && alive, n: int32(len(bounds))}
	}
	return h
}

// wroteHour records that the prefixes up to bounds[k] were sent with a
// 1-hour breakpoint at or after them.
func (l *prefixLedger) wroteHour(bounds []uint64, k int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range bounds[:min(k+1, len(bounds))] {
		if e, ok := l.m[b]; ok {
			e.hour = true
			l.m[b] = e
		}
	}
}
