package engine

import (
	"bytes"
	"context"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/limits"
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

// classifier is the second routing phase: a small model decides the tier of
// requests the router found ambiguous. Its answers are cached per
// conversation tail.
type classifier struct {
	s       *Server
	model   *catalog.Model
	timeout time.Duration

	mu    sync.Mutex
	cache map[uint64]classified
	order []uint64
}

type classified struct{ tier, reason string }

const classifierCacheSize = 256

// newClassifier returns the phase-2 classifier, or nil unless
// routing.classifier_model names one (any configured provider's model):
// phase 2 is an extra upstream call per ambiguous request, so it is never
// made unless the operator asks for it. Without it the router's own tier
// stands.
func newClassifier(s *Server) *classifier {
	name := s.cfg.Routing.ClassifierModel
	if name == "" {
		return nil
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		return nil
	}
	return &classifier{s: s, model: m, timeout: s.cfg.Routing.ClassifierTimeout.D(), cache: map[uint64]classified{}}
}

// classify returns the tier for r, or ok false when the classifier failed
// (any failure: the caller keeps the router's fallback).
func (c *classifier) classify(ctx context.Context, x *exchange, r *providers.Request) (tier, reason string, ok bool) {
	excerpt := conversationTail(r, classifierInputChars)
	h := fnv.New64a()
	h.Write([]byte(excerpt))
	key := h.Sum64()
	c.mu.Lock()
	if v, hit := c.cache[key]; hit {
		c.mu.Unlock()
		return v.tier, v.reason + " (cached)", true
	}
	c.mu.Unlock()

	var b []byte
	b = append(b, `{"temperature":0,"max_tokens":50,"messages":[{"role":"system","content":`...)
	b = jsonscan.AppendQuote(b, classifierSystem)
	b = append(b, `},{"role":"user","content":`...)
	b = jsonscan.AppendQuote(b, "Classify this request:\n\n"+excerpt)
	b = append(b, `}]}`...)
	req := providers.AcquireRequest()
	defer providers.ReleaseRequest(req)
	if err := req.Decode(b); err != nil {
		return "", "", false
	}
	call := providers.Call{Req: req, ID: "chatcmpl-classifier", Created: time.Now().Unix()}
	uc := upstreamCall{kind: callClassifier, models: []*catalog.Model{c.model}, call: &call}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.s.callUpstream(cctx, x, &uc, []limits.Target{{Provider: c.model.Provider, Model: c.model.Upstream}}); err != nil {
		classifierErrors.Inc()
		return "", "", false
	}
	resp := uc.resp
	// The classifier works for this request: its project pays.
	x.extraCost += accounting.Cost(uc.model, resp.Usage)
	defer resp.Close()
	tier, reason, ok = parseClassification(completionText(resp.Body))
	if !ok {
		classifierErrors.Inc()
		return "", "", false
	}
	c.mu.Lock()
	if len(c.order) >= classifierCacheSize {
		delete(c.cache, c.order[0])
		c.order = c.order[1:]
	}
	c.cache[key] = classified{tier, reason}
	c.order = append(c.order, key)
	c.mu.Unlock()
	return tier, reason, true
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

// parseClassification reads {"tier","reason"} from a model's answer, code
// fences and chatter around the object tolerated. The seed's tier names
// (sonnet, opus) are accepted.
func parseClassification(text []byte) (tier, reason string, ok bool) {
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
		reason = printableASCII(string(r), 80)
	}
	return tier, reason, true
}

// printableASCII keeps a header-safe prefix of s.
func printableASCII(s string, max int) string {
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}

// tierModel returns the model bound to tier, or to the nearest bound tier
// above it (then below it).
func (s *Server) tierModel(tier string) string {
	order := []string{"local", "fast", "strong", "reasoning"}
	at := 0
	for i, t := range order {
		if t == tier {
			at = i
		}
	}
	for i := at; i < len(order); i++ {
		if m := s.tiers[order[i]]; m != "" {
			return m
		}
	}
	for i := at - 1; i >= 0; i-- {
		if m := s.tiers[order[i]]; m != "" {
			return m
		}
	}
	return ""
}
