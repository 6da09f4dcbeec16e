package engine

import (
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
	const offset, prime = 14695981039346656037, 1099511628211
	sum := uint64(offset)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			sum = (sum ^ uint64(s[i])) * prime
		}
		sum = (sum ^ 0xff) * prime
	}
	add("gateway-prompt-cache")
	add(x.project)
	if sid := h.Peek("X-Session-Id"); len(sid) > 0 {
		add("session")
		add(unsafeconv.String(sid))
	} else {
		sys, user := false, false
		for i := range x.req.Messages {
			m := &x.req.Messages[i]
			switch {
			case !sys && (m.Role == "system" || m.Role == "developer"):
				sys = true
				addText(add, m, 1<<30)
			case !user && m.Role == "user":
				user = true
				addText(add, m, promptKeyOpening)
			}
			if sys && user {
				break
			}
		}
	}
	const hexDigits = "0123456789abcdef"
	x.pkey = append(x.pkey[:0], "gw-"...)
	for s := 60; s >= 0; s -= 4 {
		x.pkey = append(x.pkey, hexDigits[(sum>>uint(s))&15])
	}
	return unsafeconv.String(x.pkey)
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
