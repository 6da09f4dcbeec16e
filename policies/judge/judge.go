package main

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/aigateway/gateway/abi"
)

// Rules, in the order the judge applies them; each names itself in the
// judge.rule tag.
const (
	ruleToolCall   = "tool_call"
	ruleTruncated  = "truncated"
	ruleFlagged    = "refusal_flag"
	ruleEmpty      = "empty"
	ruleShort      = "too_short"
	ruleRefusal    = "refusal"
	ruleRepetition = "repetition"
	ruleNoCode     = "no_code"
	ruleClarifying = "clarifying"
	ruleOK         = "ok"
)

// Scores of the verdicts (0..1000). An escalation scores low, by how sure
// the rule is that the answer is useless; an accepted answer starts at 700
// (the seed's 0.7) and earns 100 each for length, code for a code request
// and structure.
const (
	scoreEmpty      = 0
	scoreRefusal    = 100
	scoreShort      = 100
	scoreRepetition = 150
	scoreTruncated  = 200
	scoreSoft       = 250
	scoreNoCode     = 300
	scoreAccept     = 700
	scoreToolCall   = 800
)

const (
	// refusalWindow: refusal phrases count only in the answer's first 200
	// characters (the seed's rule): later, "I can't" is part of an answer.
	refusalWindow = 200
	// softMaxChars: a hedge ("I'm not sure", "I don't have access") is a
	// refusal only in a short answer without code; a long one goes on to
	// answer.
	softMaxChars = 400
	// clarifyMaxChars: a clarifying question is short.
	clarifyMaxChars = 1200
	// maxExtraRefusals bounds extra_refusals (each also gets a curly-quote
	// variant in the matcher).
	maxExtraRefusals = 64
)

// Refusal phrases, lower-case. Hard ones refuse outright; soft ones hedge
// and count only in a short answer without code that asks nothing back.
var (
	hardRefusals = []string{
		"i can't help", "i cannot help", "i can't assist", "i cannot assist",
		"sorry, i can't", "sorry, but i can't", "sorry, i cannot", "sorry, but i cannot",
		"i'm not able to help", "i am not able to help", "i'm unable to help", "i am unable to help",
		"i'm unable to assist", "i am unable to assist", "i can't provide", "i cannot provide",
		"i must decline", "i won't be able to help",
	}
	softRefusals = []string{
		"i don't know", "i do not know", "i'm not sure", "i am not sure",
		"i don't understand", "i do not understand", "i'm not able to", "i am not able to",
		"i'm unable to", "i am unable to", "i don't have access", "i do not have access",
		"i don't have the ability", "i do not have the ability", "i apologize, but i",
	}
)

// config is the policy's settings, immutable once configure accepted them.
type config struct {
	minChars    int
	requireCode bool
	refusals    *abi.Matcher
	// phrase[id] is the phrase pattern id reports (the ASCII spelling for a
	// curly-quote variant); ids below soft are hard refusals.
	phrase []string
	soft   int
}

var cfg = mustConfig(nil)

func mustConfig(extra []string) config {
	c, msg := newConfig(1, true, extra)
	if msg != "" {
		panic("BUG: judge default config: " + msg)
	}
	return c
}

func newConfig(minChars int, requireCode bool, extra []string) (config, string) {
	c := config{minChars: minChars, requireCode: requireCode}
	var pats []string
	add := func(p string) {
		pats = append(pats, p)
		c.phrase = append(c.phrase, p)
		if strings.Contains(p, "'") {
			pats = append(pats, strings.ReplaceAll(p, "'", "\u2019"))
			c.phrase = append(c.phrase, p)
		}
	}
	for _, p := range hardRefusals {
		add(p)
	}
	for _, p := range extra {
		add(p)
	}
	c.soft = len(pats)
	for _, p := range softRefusals {
		add(p)
	}
	if len(pats) > abi.MaxPatterns {
		return c, "judge: too many refusal phrases"
	}
	c.refusals = abi.NewMatcher(pats...)
	return c, ""
}

// configure parses {"min_chars": N, "require_code_for_code_requests": bool,
// "extra_refusals": ["…"]}; unknown keys are refused.
func configure(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	minChars, requireCode := 1, true
	var extra []string
	if len(raw) > 0 && string(raw) != "null" {
		if !abi.JSONValid(raw) || raw[0] != '{' {
			return "judge: config must be a JSON object"
		}
		msg := ""
		abi.JSONObjectEach(raw, func(k, v []byte) bool {
			switch string(k) {
			case "min_chars":
				n, ok := abi.JSONInt(v)
				if !ok || n < 0 || n > 1<<20 {
					msg = "judge: min_chars must be an integer from 0 to 1048576"
					return false
				}
				minChars = int(n)
			case "require_code_for_code_requests":
				b, ok := abi.JSONBool(v)
				if !ok {
					msg = "judge: require_code_for_code_requests must be a boolean"
					return false
				}
				requireCode = b
			case "extra_refusals":
				ok := abi.JSONArrayEach(v, func(e []byte) bool {
					s, _, ok := abi.JSONUnquote(e, nil)
					p := strings.TrimSpace(lowerASCII(string(s)))
					if !ok || p == "" || len(p) > 120 || !utf8.ValidString(p) {
						msg = "judge: extra_refusals must hold non-empty strings of at most 120 bytes"
						return false
					}
					extra = append(extra, p)
					return len(extra) <= maxExtraRefusals
				})
				if msg == "" && (!ok || len(extra) > maxExtraRefusals) {
					msg = "judge: extra_refusals must be an array of at most 64 strings"
				}
				if msg != "" {
					return false
				}
			default:
				msg = "judge: unknown config key \"" + string(k) +
					"\" (known: min_chars, require_code_for_code_requests, extra_refusals)"
				return false
			}
			return true
		})
		if msg != "" {
			return msg
		}
	}
	c, msg := newConfig(minChars, requireCode, extra)
	if msg != "" {
		return msg
	}
	cfg = c
	return ""
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = abi.Lower(c)
	}
	return string(b)
}

// verdict is the judge's decision on one answer.
type verdict struct {
	escalate bool
	score    int
	rule     string
	reason   []byte
}

// state is reused from call to call: an instance runs one call at a time.
var (
	respScratch []byte
	ans         answer
	v           verdict
	tagRule     = []byte("judge.rule")
)

// onResponse judges a complete non-streaming answer and sets the verdict.
func onResponse(c *abi.Call) abi.Status {
	body, ok := c.Response()
	if !ok {
		return abi.StatusOK // not the response stage: nothing to judge
	}
	parseResponse(body, &ans, &respScratch)
	var request []byte
	if last := c.LastIndex("user"); last >= 0 {
		request = c.Text(last)
	}
	judge(&v, &ans, request, c.Flags())
	if st := c.SetVerdict(v.escalate, v.score, v.reason); st != abi.StatusOK {
		return c.Fail("judge: set_verdict refused the verdict")
	}
	c.Tag(tagRule, []byte(v.rule))
	return abi.StatusOK
}

// judge decides on answer a to the request's last user message; flags are
// the request's abi.Flag* bits. Rules, in order: a tool call is accepted; a
// truncated or upstream-flagged answer, an empty or too short one, a
// refusal, repetition in prose, and a missing code block for a clear
// code-writing request escalate; a clarifying question is accepted.
func judge(v *verdict, a *answer, request []byte, flags uint64) {
	v.reason = v.reason[:0]
	text := bytes.TrimSpace(a.text)
	chars := utf8.RuneCount(text)
	switch {
	case a.toolCalls:
		v.set(false, scoreToolCall, ruleToolCall, "tool call")
		return
	case a.truncated:
		v.set(true, scoreTruncated, ruleTruncated, "truncated: the upstream stopped at its token limit (")
		v.reason = append(append(v.reason, a.finish...), ')')
		return
	case a.refusal:
		v.set(true, scoreRefusal, ruleFlagged, "refused or filtered by the upstream (")
		v.reason = append(append(v.reason, a.finish...), ')')
		return
	case chars == 0:
		v.set(true, scoreEmpty, ruleEmpty, "empty answer")
		return
	case chars < cfg.minChars:
		v.set(true, scoreShort, ruleShort, "too short: ")
		v.reason = abi.AppendInt(v.reason, int64(chars))
		v.reason = append(v.reason, " chars < min_chars "...)
		v.reason = abi.AppendInt(v.reason, int64(cfg.minChars))
		return
	}
	code := hasCode(text)
	clarifying := chars <= clarifyMaxChars && isClarifying(text)
	if id := refusal(text); id >= 0 && (id < cfg.soft || (chars < softMaxChars && !code && !clarifying)) {
		score := scoreRefusal
		if id >= cfg.soft {
			score = scoreSoft
		}
		v.set(true, score, ruleRefusal, "refusal: \"")
		v.reason = appendPrintable(v.reason, cfg.phrase[id])
		v.reason = append(v.reason, '"')
		return
	}
	json := flags&abi.FlagJSON != 0
	if !json {
		if what, n := repetition(text); n > 0 {
			v.set(true, scoreRepetition, ruleRepetition, "repetition in prose: ")
			v.reason = append(v.reason, what...)
			v.reason = append(v.reason, " repeated "...)
			v.reason = abi.AppendInt(v.reason, int64(n))
			v.reason = append(v.reason, " times"...)
			return
		}
	}
	// With tools defined, an agent writes code through its tools; in JSON
	// mode the answer is data.
	codeRequest := !json && flags&abi.FlagTools == 0 && isCodeRequest(request)
	if cfg.requireCode && codeRequest && !code {
		if clarifying {
			v.set(false, scoreAccept, ruleClarifying, "clarifying question")
			return
		}
		v.set(true, scoreNoCode, ruleNoCode, "no code block for a code request")
		return
	}
	if clarifying && !code {
		v.set(false, scoreAccept, ruleClarifying, "clarifying question")
		return
	}
	score := scoreAccept
	v.set(false, 0, ruleOK, "ok")
	if chars > 300 {
		score += 100
		v.reason = append(v.reason, ", long"...)
	}
	if codeRequest && code {
		score += 100
		v.reason = append(v.reason, ", code"...)
	}
	if hasList(text) {
		score += 100
		v.reason = append(v.reason, ", list"...)
	}
	v.score = min(score, 1000)
}

func (v *verdict) set(escalate bool, score int, rule, reason string) {
	v.escalate, v.score, v.rule = escalate, score, rule
	v.reason = append(v.reason[:0], reason...)
}

// appendPrintable appends s with every byte outside printable ASCII
// replaced by '?': verdict reasons end up in headers and logs.
func appendPrintable(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c > '~' {
			c = '?'
		}
		dst = append(dst, c)
	}
	return dst
}
