package routing

import (
	"bytes"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// classifierSystem is the phase-2 prompt: the seed's three-tier rubric,
// extended to the gateway's four tiers.
const classifierSystem = `You route coding-assistant requests to the cheapest model tier that will answer them well.
Tiers:
- local: what a ~14B local model handles well: explanations, small or single-file edits, boilerplate, Q&A, formatting, docs, simple fixes, comments, type hints, docstrings.
- fast: short general tasks that need a capable hosted model but little reasoning.
- strong: multi-file edits, non-trivial refactors, complex debugging, tests for complex logic, code reviews, medium algorithms.
- reasoning: architecture, security audits, large migrations, distributed system design, incident analysis, breaking-change planning, cross-system performance.
Weigh complexity, scope, domain difficulty and reasoning depth.
Reply with only a JSON object: {"tier": "local|fast|strong|reasoning", "reason": "<ten words at most>"}`

// classifierInputChars bounds the conversation excerpt sent to the
// classifier (the seed's ~2,000 characters, always the last message).
const classifierInputChars = 2000

// ClassifierRequest is the phase-2 classifier's chat request for r (an
// OpenAI body: the rubric, then r's conversation tail) and the key of its
// answer in a ClassifierCache.
func ClassifierRequest(r *providers.Request) (body []byte, key uint64) {
	excerpt := conversationTail(r, classifierInputChars)
	h := fnv.New64a()
	h.Write([]byte(excerpt))
	body = append(body, `{"temperature":0,"max_tokens":50,"messages":[{"role":"system","content":`...)
	body = jsonscan.AppendQuote(body, classifierSystem)
	body = append(body, `},{"role":"user","content":`...)
	body = jsonscan.AppendQuote(body, "Classify this request:\n\n"+excerpt)
	body = append(body, `}]}`...)
	return body, h.Sum64()
}

// conversationTail returns the most recent messages, newest last, within
// max characters; the last message is always included (cut if needed).
func conversationTail(r *providers.Request, max int) string {
	var parts []string
	total := 0
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := &r.Messages[i]
		if m.Role == "system" || m.Role == "developer" {
			continue
		}
		t := m.Role + ": " + m.Text()
		if total+len(t) > max {
			if len(parts) == 0 {
				t = t[:max]
				parts = append(parts, t)
			}
			break
		}
		parts = append(parts, t)
		total += len(t)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "\n\n")
}

// ParseAnswer reads the tier from the classifier's OpenAI chat completion.
func ParseAnswer(completion []byte) (tier, reason string, ok bool) {
	return ParseClassification(completionText(completion))
}

// completionText returns choices[0].message.content of an OpenAI answer.
func completionText(body []byte) []byte {
	ch := jsonscan.Get(body, "choices")
	var msg []byte
	_ = jsonscan.ArrayEach(ch, func(i int, c []byte) error {
		if i == 0 {
			msg = jsonscan.Get(jsonscan.Get(c, "message"), "content")
		}
		return nil
	})
	s, _, err := jsonscan.Unquote(msg, nil)
	if err != nil {
		return nil
	}
	return s
}

// ParseClassification reads {"tier","reason"} from a model's answer, code
// fences and chatter around the object tolerated. The seed's tier names
// (sonnet, opus) are accepted.
func ParseClassification(text []byte) (tier, reason string, ok bool) {
	start := bytes.IndexByte(text, '{')
	end := bytes.LastIndexByte(text, '}')
	if start < 0 || end <= start {
		return "", "", false
	}
	obj := text[start : end+1]
	if jsonscan.Validate(obj) != nil {
		return "", "", false
	}
	t, _, err := jsonscan.Unquote(jsonscan.Get(obj, "tier"), nil)
	if err != nil {
		return "", "", false
	}
	switch strings.ToLower(strings.TrimSpace(string(t))) {
	case "local":
		tier = "local"
	case "fast":
		tier = "fast"
	case "strong", "sonnet":
		tier = "strong"
	case "reasoning", "opus":
		tier = "reasoning"
	default:
		return "", "", false
	}
	if r, _, err := jsonscan.Unquote(jsonscan.Get(obj, "reason"), nil); err == nil {
		reason = PrintableASCII(string(r), 80)
	}
	return tier, reason, true
}

// PrintableASCII keeps a header-safe prefix of s, at most max bytes.
func PrintableASCII(s string, max int) string {
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}

// ClassifierCache keeps the last classifierCacheSize phase-2 answers, by
// ClassifierRequest key, oldest out first.
//
// # Notes
//
// The zero value is ready and safe for concurrent use.
type ClassifierCache struct {
	mu    sync.Mutex
	byKey map[uint64]classified
	order []uint64
}

type classified struct{ tier, reason string }

const classifierCacheSize = 256

// Get returns a cached answer.
func (c *ClassifierCache) Get(key uint64) (tier, reason string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.byKey[key]
	return v.tier, v.reason, ok
}

// Put caches an answer.
func (c *ClassifierCache) Put(key uint64, tier, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[uint64]classified{}
	}
	if _, ok := c.byKey[key]; ok {
		c.byKey[key] = classified{tier, reason}
		return
	}
	if len(c.order) >= classifierCacheSize {
		delete(c.byKey, c.order[0])
		c.order = c.order[1:]
	}
	c.byKey[key] = classified{tier, reason}
	c.order = append(c.order, key)
}
