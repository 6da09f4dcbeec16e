package semantic

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"unicode/utf8"

	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// scopeID identifies the set of requests a final turn may be matched
// within: everything that shapes the answer except the final user turn's
// text.
type scopeID [16]byte

// scopeVersion is hashed first; bump it when the scope's meaning changes so
// that stored records are never matched with a new meaning.
const scopeVersion = "gw-sem-scope-v1"

// Reasons a request is not eligible, as reported by Stats and metrics.
const (
	ReasonNoUserTurn = "no-user-turn" // the last message is not from the user (an assistant prefill, a system message)
	ReasonToolResult = "tool-result"  // the last message is a tool (or function) result: agent traffic
	ReasonNonText    = "non-text"     // the final turn carries images, audio or files
	ReasonEmpty      = "empty-turn"   // the final turn has no text
	ReasonLong       = "long-turn"    // the final turn is longer than MaxTurnChars
	ReasonExtra      = "extra-fields" // the final message carries members besides role, content and name
	ReasonChoices    = "uncacheable"  // several choices, logprobs or audio output
)

var reasons = [...]string{ReasonNoUserTurn, ReasonToolResult, ReasonNonText, ReasonEmpty, ReasonLong, ReasonExtra, ReasonChoices}

// finalTurn returns the text of req's final user turn, or the reason the
// request is not eligible. The text aliases req (or is freshly built when
// the turn has several text parts).
func finalTurn(req *providers.Request, maxChars int) (string, string) {
	if req.N > 1 || wantsExtras(req) {
		return "", ReasonChoices
	}
	if len(req.Messages) == 0 {
		return "", ReasonNoUserTurn
	}
	m := &req.Messages[len(req.Messages)-1]
	switch m.Role {
	case "user":
	case "tool", "function":
		return "", ReasonToolResult
	default:
		return "", ReasonNoUserTurn
	}
	if m.ToolCallID != "" || len(m.ToolCalls) > 0 {
		return "", ReasonToolResult
	}
	for i := range m.Parts {
		if m.Parts[i].Type != "text" {
			return "", ReasonNonText
		}
	}
	if !m.Span.Empty() && m.Span.End <= len(req.Body) {
		extra := false
		_ = jsonscan.ObjectEach(req.Body[m.Span.Start:m.Span.End], func(key, _ []byte) error {
			switch string(key) {
			case "role", "content", "name":
			default:
				extra = true
			}
			return nil
		})
		if extra {
			return "", ReasonExtra
		}
	}
	text := m.Text()
	empty := true
	for _, r := range text {
		if isWordRune(r) {
			empty = false
			break
		}
	}
	if empty {
		return "", ReasonEmpty
	}
	if len(text) > maxChars && utf8.RuneCountInString(text) > maxChars {
		return "", ReasonLong
	}
	return text, ""
}

// wantsExtras reports a request whose answer an Entry cannot hold
// (logprobs, audio); the engine's cache policy refuses these too.
func wantsExtras(r *providers.Request) bool {
	if v := r.Value("logprobs"); string(v) == "true" {
		return true
	}
	if v := r.Value("top_logprobs"); v != nil && string(v) != "null" {
		return true
	}
	if v := r.Value("audio"); v != nil && string(v) != "null" {
		return true
	}
	return bytes.Contains(r.Value("modalities"), []byte(`"audio"`))
}

// scopeOf hashes everything in req that shapes the answer except the final
// turn's text: the exact cache's key over the request without its last
// message (project, provider and model, the system prompt and every earlier
// message, tools, tool_choice, response_format and every sampling
// parameter), then the final message's name, under seed (the scope version
// and the embedder's ID).
func scopeOf(seed *[32]byte, req *providers.Request, project, provider, model string) scopeID {
	prefix := *req
	prefix.Messages = req.Messages[:len(req.Messages)-1]
	k := cache.KeyFor(&prefix, project, provider, model)
	name := req.Messages[len(req.Messages)-1].Name
	var stack [128]byte
	b := append(stack[:0], seed[:]...)
	b = append(b, k.Sum[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
	b = append(b, name...)
	sum := sha256.Sum256(b)
	var s scopeID
	copy(s[:], sum[:])
	return s
}

// scopeSeed is the hash every scope starts from.
func scopeSeed(embedderID string) [32]byte {
	return sha256.Sum256([]byte(scopeVersion + "\x00" + embedderID))
}

// recordID names one final turn within a scope.
func recordID(s scopeID, text string) [16]byte {
	h := sha256.New()
	h.Write(s[:])
	h.Write([]byte(text))
	var sum [32]byte
	h.Sum(sum[:0])
	var id [16]byte
	copy(id[:], sum[:])
	return id
}
