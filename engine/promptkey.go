package engine

import (
	"encoding/binary"

	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// OpenAI routes a request to a cache machine by a hash of its first ~256
// tokens combined with its prompt_cache_key, and spreads one prefix-and-key
// combination over more machines past about 15 requests a minute
// (https://developers.openai.com/api/docs/guides/prompt-caching). One key
// for a whole project (what the gateway sent before) puts every session
// that starts alike (same agent, same system prompt and tools) on one
// route, which overflows as soon as a few sessions run at once; no key at
// all does the same. promptCacheKey gives each conversation its own route:
//
//   - the client's X-Session-Id when it sends one;
//   - otherwise the conversation's opening, which its later turns repeat:
//     the first system message and the first promptKeyOpening bytes of the
//     first user message (an agent's task, a chat's first question, the
//     head of the file an autocomplete client sends, which stays the same
//     while the developer types further down).
//
// The key is a hash, prefixed "gw-": it carries neither the project's id
// nor any text. The client's own prompt_cache_key is always kept
// (openai.AppendBodyWith).
const promptKeyOpening = 1024

// promptCacheKey writes x's key into x.pkey and returns a view of it, valid
// until x is released.
func (x *exchange) promptCacheKey(h *fasthttp.RequestHeader) string {
	var k keyHash
	k.init()
	k.add("gateway-prompt-cache")
	k.add(x.project)
	if sid := h.Peek("X-Session-Id"); len(sid) > 0 {
		k.add("session")
		k.add(unsafeconv.String(sid))
	} else {
		sys, user := false, false
		for i := range x.req.Messages {
			m := &x.req.Messages[i]
			switch {
			case !sys && (m.Role == "system" || m.Role == "developer"):
				sys = true
				addText(k.add, m, 1<<30)
			case !user && m.Role == "user":
				user = true
				addText(k.add, m, promptKeyOpening)
			}
			if sys && user {
				break
			}
		}
	}
	sum := k.sum()
	const hexDigits = "0123456789abcdef"
	x.pkey = append(x.pkey[:0], "gw-"...)
	for s := 60; s >= 0; s -= 4 {
		x.pkey = append(x.pkey, hexDigits[(sum>>uint(s))&15])
	}
	return unsafeconv.String(x.pkey)
}

// keyHash is FNV-1a over 64-bit words: the whole system message is hashed
// (an agent's can be tens of KiB), and FNV-1a byte by byte costs a
// multiply's latency per byte (~1.7 ns: 50 µs for 30 KB, more than the
// decode of a 100 KiB prompt). Eight bytes per multiply is eight times
// less; a word that differs still changes the sum (the prime is odd, so
// the multiply is a bijection), and sum's final mix spreads the high
// bits, which a word-wise FNV leaves weak, over the whole key.
type keyHash struct{ h uint64 }

const (
	keyOffset = 14695981039346656037
	keyPrime  = 1099511628211
)

func (k *keyHash) init() { k.h = keyOffset }

// add feeds s, then its length: moving the boundary between two strings
// changes the sum.
func (k *keyHash) add(s string) {
	h := k.h
	i := 0
	for ; i+8 <= len(s); i += 8 {
		h = (h ^ binary.LittleEndian.Uint64(unsafeconv.Bytes(s[i:i+8]))) * keyPrime
	}
	for ; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * keyPrime
	}
	k.h = (h ^ uint64(len(s)) ^ 0xff<<56) * keyPrime
}

// sum returns the hash with a final mix (splitmix64's).
func (k *keyHash) sum() uint64 {
	z := k.h
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// addText feeds the first limit bytes of m's text to add.
func addText(add func(string), m *providers.Message, limit int) {
	if len(m.Parts) == 0 {
		add(m.Content[:min(len(m.Content), limit)])
		return
	}
	for i := range m.Parts {
		if p := &m.Parts[i]; p.Type == "text" && limit > 0 {
			n := min(len(p.Text), limit)
			add(p.Text[:n])
			limit -= n
		}
	}
}
