package gemini

import (
	"errors"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// ErrBadResponse is returned when the upstream's answer is not a
// GenerateContentResponse.
var ErrBadResponse = errors.New("malformed gemini response")

// FinishReason maps a Gemini finishReason
// (https://ai.google.dev/api/generate-content#FinishReason) to an OpenAI
// finish_reason: STOP is "stop", or "tool_calls" when the answer holds
// function calls; MAX_TOKENS is "length"; SAFETY, RECITATION, BLOCKLIST,
// PROHIBITED_CONTENT, SPII and IMAGE_SAFETY are "content_filter"; anything
// else (LANGUAGE, MALFORMED_FUNCTION_CALL, OTHER, …) is "stop".
func FinishReason(reason string, hasCalls bool) string {
	switch reason {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return "content_filter"
	}
	if hasCalls {
		return "tool_calls"
	}
	return "stop"
}

// usageCounts are Gemini's usageMetadata counts.
type usageCounts struct {
	prompt, candidates, cached, thoughts, toolPrompt int
	set                                              bool
}

func parseUsage(v []byte, u *usageCounts) {
	if jsonscan.KindOf(v) != jsonscan.Object {
		return
	}
	*u = usageCounts{set: true}
	_ = jsonscan.ObjectEach(v, func(k, val []byte) error {
		switch string(k) {
		case "promptTokenCount":
			u.prompt = wire.Num(val)
		case "candidatesTokenCount":
			u.candidates = wire.Num(val)
		case "cachedContentTokenCount":
			u.cached = wire.Num(val)
		case "thoughtsTokenCount":
			u.thoughts = wire.Num(val)
		case "toolUsePromptTokenCount":
			u.toolPrompt = wire.Num(val)
		}
		return nil
	})
}

// openAI converts the counts: promptTokenCount already includes the cached
// content, tool-use prompts count as prompt, and thoughts count as
// completion (as OpenAI counts reasoning tokens).
func (u usageCounts) openAI() providers.Usage {
	return providers.Usage{
		PromptTokens:     u.prompt + u.toolPrompt,
		CompletionTokens: u.candidates + u.thoughts,
		CachedTokens:     u.cached,
		ReasoningTokens:  u.thoughts,
		Set:              u.set,
	}
}

type partKind uint8

const (
	partOther partKind = iota
	partText
	partThought
	partCall
)

// part is one decoded content part; every slice aliases the input or the
// scratch buffer.
type part struct {
	kind                partKind
	text                []byte
	name, args, id, sig []byte
}

// eachPart calls fn for every part of the first candidate's content and
// returns the candidate's finishReason.
func eachPart(cand []byte, scratch *[]byte, fn func(p part)) (finish []byte) {
	var p part
	_ = jsonscan.ObjectEach(cand, func(k, v []byte) error {
		switch string(k) {
		case "finishReason":
			finish = wire.Unq(v, scratch)
		case "content":
			parts := jsonscan.Get(v, "parts")
			if jsonscan.KindOf(parts) != jsonscan.Array {
				return nil
			}
			_ = jsonscan.ArrayEach(parts, func(_ int, e []byte) error {
				if jsonscan.KindOf(e) != jsonscan.Object {
					return nil
				}
				p = part{}
				var text, thought, call []byte
				_ = jsonscan.ObjectEach(e, func(pk, pv []byte) error {
					switch string(pk) {
					case "text":
						text = pv
					case "thought":
						thought = pv
					case "functionCall":
						call = pv
					case "thoughtSignature":
						p.sig = wire.Unq(pv, scratch)
					}
					return nil
				})
				switch {
				case jsonscan.KindOf(call) == jsonscan.Object:
					p.kind = partCall
					p.name = wire.Unq(jsonscan.Get(call, "name"), scratch)
					p.id = wire.Unq(jsonscan.Get(call, "id"), scratch)
					p.args = jsonscan.Get(call, "args")
					if jsonscan.KindOf(p.args) != jsonscan.Object {
						p.args = emptyObject
					}
				case text != nil:
					p.kind = partText
					if string(thought) == "true" {
						p.kind = partThought
					}
					p.text = wire.Unq(text, scratch)
				}
				fn(p)
				return nil
			})
		}
		return nil
	})
	return finish
}

// appendToolID appends the OpenAI id for a function call: Gemini's own id
// when it sent one, else "call_" and 16 hex digits of an FNV-1a hash of the
// response id, the call's position in the answer, its name and arguments —
// stable for a given answer, distinct across answers. A thought signature
// rides along after signatureSep so that it reaches Gemini again when the
// client sends the call back.
func appendToolID(dst, responseID []byte, ordinal int, p *part, args []byte) []byte {
	if len(p.id) > 0 {
		dst = append(dst, p.id...)
	} else {
		const offset, prime = 14695981039346656037, 1099511628211
		h := uint64(offset)
		mix := func(b []byte) {
			for _, c := range b {
				h ^= uint64(c)
				h *= prime
			}
			h ^= 0xff // separator: no UTF-8 text holds this byte
			h *= prime
		}
		ord := [4]byte{byte(ordinal), byte(ordinal >> 8), byte(ordinal >> 16), byte(ordinal >> 24)}
		mix(responseID)
		mix(ord[:])
		mix(p.name)
		mix(args)
		dst = append(dst, "call_"...)
		const hexdig = "0123456789abcdef"
		for s := 60; s >= 0; s -= 4 {
			dst = append(dst, hexdig[(h>>uint(s))&0xf])
		}
	}
	if len(p.sig) > 0 {
		dst = append(dst, signatureSep...)
		dst = append(dst, p.sig...)
	}
	return dst
}

type respBuf struct {
	scratch []byte
	content []byte
	reason  []byte
	strs    []byte // ids and arguments of the calls, back to back
	calls   []providers.ToolCall
	out     []byte
}

// parseResponse translates a GenerateContentResponse
// (https://ai.google.dev/api/generate-content#generatecontentresponse)
// into c: text parts joined, thought parts as reasoning_content, function
// calls as tool calls with synthesised ids and compact arguments; other
// part types (executable code, inline output data) are dropped. c.Model
// points into body or b: it is valid while both are.
func parseResponse(body []byte, c *providers.Completion, b *respBuf) error {
	if jsonscan.Validate(body) != nil || jsonscan.KindOf(body[jsonscan.SkipSpace(body, 0):]) != jsonscan.Object {
		return ErrBadResponse
	}
	body = wire.TrimSpace(body)
	b.scratch, b.content, b.reason, b.strs, b.calls = b.scratch[:0], b.content[:0], b.reason[:0], b.strs[:0], b.calls[:0]
	responseID := wire.Unq(jsonscan.Get(body, "responseId"), &b.scratch)
	if m := wire.Unq(jsonscan.Get(body, "modelVersion"), &b.scratch); len(m) > 0 {
		// A view of body or b.scratch, not a copy: c is rendered
		// (AppendJSON) before either is reused.
		c.Model = unsafeconv.String(m)
	}
	var u usageCounts
	parseUsage(jsonscan.Get(body, "usageMetadata"), &u)
	var finish []byte
	blocked := false
	if pf := jsonscan.Get(body, "promptFeedback"); jsonscan.KindOf(pf) == jsonscan.Object && jsonscan.Get(pf, "blockReason") != nil {
		blocked = true
	}
	type span struct{ id0, id1, a0, a1 int }
	var spans [8]span
	sp := spans[:0]
	if cands := jsonscan.Get(body, "candidates"); jsonscan.KindOf(cands) == jsonscan.Array {
		var first []byte
		_ = jsonscan.ArrayEach(cands, func(i int, e []byte) error {
			if i == 0 {
				first = e
			}
			return nil
		})
		if jsonscan.KindOf(first) == jsonscan.Object {
			finish = eachPart(first, &b.scratch, func(p part) {
				switch p.kind {
				case partText:
					b.content = append(b.content, p.text...)
				case partThought:
					b.reason = append(b.reason, p.text...)
				case partCall:
					a0 := len(b.strs)
					b.strs = appendCompact(b.strs, p.args)
					a1 := len(b.strs)
					b.strs = appendToolID(b.strs, responseID, len(sp), &p, b.strs[a0:a1])
					sp = append(sp, span{a1, len(b.strs), a0, a1})
					b.calls = append(b.calls, providers.ToolCall{Type: "function", Name: string(p.name)})
				}
			})
		}
	}
	for i := range b.calls {
		b.calls[i].ID = string(b.strs[sp[i].id0:sp[i].id1])
		b.calls[i].Arguments = string(b.strs[sp[i].a0:sp[i].a1])
	}
	c.Content, c.Reasoning, c.ToolCalls = b.content, b.reason, b.calls
	c.Finish = FinishReason(string(finish), len(b.calls) > 0)
	if blocked && len(finish) == 0 {
		c.Finish = "content_filter"
	}
	c.Usage = u.openAI()
	return nil
}
