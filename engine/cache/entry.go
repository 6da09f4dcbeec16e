package cache

import (
	"encoding/binary"
	"sync"

	"github.com/aigateway/gateway/internal/binread"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
	"github.com/klauspost/compress/s2"
)

// Entry is one cached answer, independent of how it was delivered: the
// assembled content, reasoning, refusal and tool calls, the finish reason,
// the usage, and the model and creation time the upstream reported. The same
// Entry renders a non-streaming chat.completion (AppendCompletion) and an
// OpenAI SSE stream (NewReplay).
//
// # Notes
//
// An Entry is immutable: every field aliases one private buffer that nothing
// writes after the Entry is built, so Entries are shared freely between
// goroutines and never pooled. Callers must not modify the slices.
type Entry struct {
	Model     string
	Created   int64
	Content   []byte
	Reasoning []byte
	Refusal   []byte
	ToolCalls []providers.ToolCall
	Finish    string
	Usage     providers.Usage

	// Set once stored or loaded: the namespace, the key hash and the expiry
	// (Unix seconds).
	Project, Provider, UpstreamModel string
	Expires                          int64
	sum                              [32]byte

	body []byte // the uncompressed body encoding every field aliases
}

// Size is the entry's encoded size in bytes, before compression.
func (e *Entry) Size() int { return len(e.body) }

// AppendCompletion appends the entry as an OpenAI chat.completion body with
// the given completion id; created and model are the original answer's. It
// allocates nothing when dst has room.
func (e *Entry) AppendCompletion(dst []byte, id string) []byte {
	c := providers.Completion{
		ID: id, Created: e.Created, Model: e.Model,
		Content: e.Content, Reasoning: e.Reasoning, Refusal: e.Refusal,
		ToolCalls: e.ToolCalls, Finish: e.Finish, Usage: e.Usage,
	}
	return c.AppendJSON(dst)
}

type bodyBuf struct{ b []byte }

var bodyPool = sync.Pool{New: func() any { return new(bodyBuf) }}

// Response renders the entry as a provider response, so that the engine
// serves a hit exactly like an upstream answer: a chat.completion body, or,
// for stream, a Stream that replays the entry (with the usage chunk when
// includeUsage). The caller must Close it.
func (e *Entry) Response(id string, stream, includeUsage bool) *providers.Response {
	if stream {
		r := AcquireReplay(e, id, includeUsage)
		resp := providers.NewResponse(func() { ReleaseReplay(r) })
		resp.Stream = r
		return resp
	}
	bb := bodyPool.Get().(*bodyBuf)
	bb.b = e.AppendCompletion(bb.b[:0], id)
	resp := providers.NewResponse(func() { bodyPool.Put(bb) })
	resp.Body, resp.Usage = bb.b, e.Usage
	return resp
}

// The stored form:
//
//	magic(1) version(1) flags(1) expires(8, LE) sum(32)
//	project, provider, model   (uvarint length + bytes each)
//	body                        (s2 block when flags&flagS2)
//
// body:
//
//	created(varint) model finish content reasoning refusal
//	usage: prompt completion cached cache_write reasoning (uvarint each) set(1)
//	ntools(uvarint), then id type name arguments for each
const (
	magic      = 0xCE
	version    = 1
	flagS2     = 1
	headerSize = 3 + 8 + 32
	// maxDecoded bounds decompression of untrusted stored bytes.
	maxDecoded = 64 << 20
)

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// appendBody appends the body encoding of the given parts.
func appendBody(dst []byte, created int64, model, finish, content, reasoning, refusal []byte, u providers.Usage, tools []toolAcc) []byte {
	dst = binary.AppendVarint(dst, created)
	dst = appendBytes(dst, model)
	dst = appendBytes(dst, finish)
	dst = appendBytes(dst, content)
	dst = appendBytes(dst, reasoning)
	dst = appendBytes(dst, refusal)
	for _, v := range [...]int{u.PromptTokens, u.CompletionTokens, u.CachedTokens, u.CacheWriteTokens, u.ReasoningTokens} {
		dst = binary.AppendUvarint(dst, uint64(max(v, 0)))
	}
	set := byte(0)
	if u.Set {
		set = 1
	}
	dst = append(dst, set)
	dst = binary.AppendUvarint(dst, uint64(len(tools)))
	for i := range tools {
		t := &tools[i]
		dst = appendBytes(dst, t.id)
		typ := t.typ
		if len(typ) == 0 {
			typ = functionType
		}
		dst = appendBytes(dst, typ)
		dst = appendBytes(dst, t.name)
		dst = appendBytes(dst, t.args)
	}
	return dst
}

var functionType = []byte("function")

// appendStored appends the stored form of e under k, expiring at expires,
// compressing the body when it is at least compressAt bytes (0: never) and
// compression saves at least an eighth.
func appendStored(dst []byte, e *Entry, k *Key, expires int64, compressAt int) []byte {
	flags := byte(0)
	compress := compressAt > 0 && len(e.body) >= compressAt
	if compress {
		flags = flagS2
	}
	start := len(dst)
	dst = append(dst, magic, version, flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(expires))
	dst = append(dst, k.Sum[:]...)
	dst = appendStr(dst, k.Project)
	dst = appendStr(dst, k.Provider)
	dst = appendStr(dst, k.Model)
	if !compress {
		return append(dst, e.body...)
	}
	hdr := len(dst)
	need := s2.MaxEncodedLen(len(e.body))
	if need < 0 {
		dst[start+2] = 0
		return append(dst, e.body...)
	}
	dst = append(dst, make([]byte, need)...)
	enc := s2.Encode(dst[hdr:], e.body)
	if len(enc) > len(e.body)-len(e.body)/8 {
		dst = dst[:hdr]
		dst[start+2] = 0
		return append(dst, e.body...)
	}
	return dst[:hdr+len(enc)]
}

// str reads a length-prefixed string that aliases the entry's bytes.
func str(r *binread.Reader) string { return unsafeconv.String(r.Bytes()) }

// decodeStored decodes a stored entry. It takes ownership of b: the Entry
// aliases it.
func decodeStored(b []byte) (*Entry, error) {
	if len(b) < headerSize || b[0] != magic || b[1] != version || b[2]&^flagS2 != 0 {
		return nil, ErrCorrupt
	}
	e := &Entry{Expires: int64(binary.LittleEndian.Uint64(b[3:]))}
	copy(e.sum[:], b[11:headerSize])
	r := binread.Reader{B: b[headerSize:]}
	e.Project, e.Provider, e.UpstreamModel = str(&r), str(&r), str(&r)
	if r.Bad {
		return nil, ErrCorrupt
	}
	body := r.B
	if b[2]&flagS2 != 0 {
		n, err := s2.DecodedLen(body)
		if err != nil || n > maxDecoded {
			return nil, ErrCorrupt
		}
		dec, err := s2.Decode(make([]byte, n), body)
		if err != nil {
			return nil, ErrCorrupt
		}
		body = dec
	}
	if err := e.decodeBody(body); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeBody fills e's answer fields from body, which e then owns.
func (e *Entry) decodeBody(body []byte) error {
	r := binread.Reader{B: body}
	e.body = body
	e.Created = r.Varint()
	e.Model = str(&r)
	e.Finish = str(&r)
	e.Content = r.Bytes()
	e.Reasoning = r.Bytes()
	e.Refusal = r.Bytes()
	var u [5]int
	for i := range u {
		v := r.Uvarint()
		if v > 1<<40 {
			r.Bad = true
		}
		u[i] = int(v)
	}
	e.Usage = providers.Usage{PromptTokens: u[0], CompletionTokens: u[1], CachedTokens: u[2], CacheWriteTokens: u[3], ReasoningTokens: u[4], Set: r.Byte() == 1}
	n := r.Uvarint()
	// Each tool call takes at least four length bytes.
	if r.Bad || n > uint64(len(r.B)/4) {
		return ErrCorrupt
	}
	if n > 0 {
		e.ToolCalls = make([]providers.ToolCall, n)
		for i := range e.ToolCalls {
			tc := &e.ToolCalls[i]
			tc.ID, tc.Type, tc.Name, tc.Arguments = str(&r), str(&r), str(&r), str(&r)
		}
	}
	if r.Bad || len(r.B) != 0 {
		return ErrCorrupt
	}
	return nil
}
