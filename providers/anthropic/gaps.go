package anthropic

import "time"

// The 1-hour cache TTL, chosen per request from the pauses observed.
//
// Anthropic's cache entries live 5 minutes, refreshed by each read, or an
// hour with "ttl": "1h"; a 1-hour write costs 2× the base input price
// instead of 1.25×, and reads cost 0.1× either way
// (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching,
// "1-hour cache duration" and "Pricing"). A conversation breakpoint writes
// the new part of the prompt (W tokens) and, through the entry it leaves,
// protects the whole prefix P: if the next turn comes after 5 minutes, a
// 5-minute entry is gone and that turn writes P again at 1.25× instead of
// reading it at 0.1×. So the 1-hour TTL pays when
//
//	P(next pause in (5 min, 1 h]) × (1.25 − 0.1) × (P − base) > (2 − 1.25) × W
//
// where base is the part another request keeps alive anyway (the system
// prompt and tools, shared by the client's other sessions). In an agent
// loop W is a small part of P, so a modest chance of a long pause pays;
// on a first write of a whole prompt (W ≈ P) it takes a chance above 65%.
//
// The chance comes from the pauses the ledger saw: per session (the hash
// of the first message: an agent's task, a chat's first question) and per
// client (head: model, tools and system prompt). A pause is the time from
// the previous request carrying the prefix this one continues; the chance
// is long pauses per request. The estimate shrinks the session's own count
// toward the client's rate, and the client's rate toward 0 (the weights
// below), so that without evidence the 5-minute default stays.

// gapStats counts requests, and the pauses in (5 min, 1 h] observed
// before one of them.
type gapStats struct {
	seen    int64
	n, long int32
}

// The estimate's priors, in pseudo-requests: a session's own count weighs
// sessionWeight requests' worth of its client's rate, and a client's rate
// starts at 0 and moves only with clientWeight requests' worth of
// evidence. A pause past 5 minutes that strikes at random (an agent whose
// developer steps away one turn in twenty) does not reach the ~5% chance
// at which an agent turn's 1-hour write pays, so its client should not
// flip on two early pauses; a chat whose every other turn comes 5–7
// minutes later does reach it.
const (
	sessionWeight = 8
	clientWeight  = 20
)

// Price ratios of Anthropic's prompt caching, in base input prices.
const (
	readRatio      = 0.1
	shortRatio     = 1.25
	hourRatio      = 2.0
	sessionKeyMask = 0x9e3779b97f4a7c15 // separates session keys from head keys in one map
)

// hourMargin is how many times the premium the expected saving must be.
// The premium is paid on every turn, the saving only on the rare long
// pause, and the chance is estimated from a handful of pauses: an agent
// whose developer steps away at random one turn in twenty sits near the
// break-even point, where the estimate's noise decides. The cost bench
// (bench/RESULTS.md) measured the break-even rule (margin 1) losing there.
const hourMargin = 1

// countGap records a request of head's session sess, after a pause of gap
// (0: no earlier request of its prefix seen). The chance of a long pause
// is counted per request, not per pause: a request that no later turn
// continues (the end of a session) wastes a 1-hour premium too. l.mu is
// held.
func (l *prefixLedger) countGap(head, sess uint64, gap time.Duration, now int64) {
	long := gap > shortTTL && gap <= hourTTL
	if len(l.gaps) >= ledgerMax {
		for k, g := range l.gaps {
			if g.seen <= now-int64(tailsTTL) {
				delete(l.gaps, k)
			}
		}
		if len(l.gaps) >= ledgerMax {
			clear(l.gaps)
		}
	}
	for _, k := range [2]uint64{head, sess ^ sessionKeyMask} {
		g := l.gaps[k]
		g.seen, g.n = now, g.n+1
		if long {
			g.long++
		}
		l.gaps[k] = g
	}
}

// pLong estimates the chance that the next pause of the session is in
// (5 min, 1 h]. l.mu is held.
func (l *prefixLedger) pLong(head, sess uint64, now int64) float64 {
	exp := now - int64(tailsTTL)
	var h, s gapStats
	if g, ok := l.gaps[head]; ok && g.seen > exp {
		h = g
	}
	if g, ok := l.gaps[sess^sessionKeyMask]; ok && g.seen > exp {
		s = g
	}
	client := float64(h.long) / float64(h.n+clientWeight)
	return (float64(s.long) + sessionWeight*client) / (float64(s.n) + sessionWeight)
}

// hourPays reports whether a 1-hour TTL on a conversation breakpoint whose
// prefix is prefix bytes pays, given that the request reads read bytes
// from the cache and that base bytes stay cached without it.
func hourPays(pLong float64, prefix, read, base int) bool {
	if pLong <= 0 || prefix <= base {
		return false
	}
	written := prefix - max(read, base)
	return pLong*(shortRatio-readRatio)*float64(prefix-base) > hourMargin*(hourRatio-shortRatio)*float64(written)
}

// The client's head (tools and system prompt, the system and tool
// breakpoints) is shared by all its sessions. A new session reads it if
// an entry is still there: with 5 minutes, only if the client wrote or read
// it at the top of a request in the last 5 minutes. A 1-hour write of the
// head costs 0.75 × its tokens more, once, and saves 1.15 × them at every
// later session start within the hour that would have found it expired.
// So the head takes the 1-hour TTL once the client has started a second
// session within an hour of the previous one: a recurring client, for
// which one more such start repays the premium. A marked breakpoint that
// hits costs nothing extra (only writes are billed by TTL).

// startsKeyMask separates a head's session-start counts from its pause
// counts in the gaps map.
const startsKeyMask = 0x5bd1e9955bd1e995

// countStart records that a request of head shared no prefix with any
// request of the last hour: a session starts. l.mu is held.
func (l *prefixLedger) countStart(head uint64, now int64) {
	k := head ^ startsKeyMask
	g := l.gaps[k]
	if g.seen <= now-int64(hourTTL) {
		g.n = 0
	}
	g.seen, g.n = now, g.n+1
	l.gaps[k] = g
}

// recurring reports whether head's client started two sessions or more,
// each within an hour of the previous one. l.mu is held.
func (l *prefixLedger) recurring(head uint64, now int64) bool {
	g, ok := l.gaps[head^startsKeyMask]
	return ok && g.n >= 2 && g.seen > now-int64(hourTTL)
}
