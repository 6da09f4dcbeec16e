package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"sync"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
)

// Key identifies one cacheable answer: the SHA-256 of the canonical request
// (see KeyFor) and the namespace it lives in.
//
// # Notes
//
// The strings alias the caller's values (KeyFor copies nothing); a Key kept
// past the request must not alias request memory that is about to be reused.
type Key struct {
	// Sum is the hash of everything that shapes the answer, including the
	// namespace below.
	Sum [32]byte
	// Project is the tenant namespace; Provider and Model the resolved
	// upstream. They are repeated in clear so that stores can purge by
	// project and by model.
	Project, Provider, Model string
}

// keyVersion is hashed first; bump it whenever the canonical form changes so
// that old entries are never read with a new meaning.
const keyVersion = "gw-cache-key-v1"

// KeyFor hashes everything in req that shapes the answer, under the project
// namespace and the resolved provider and upstream model. It allocates
// nothing in steady state. docs/caching.md lists exactly what is hashed.
//
// Known fields are hashed in canonical form (decoded strings, numbers as
// values, a fixed field order), so the client's whitespace, key order and
// string escapes do not matter; raw JSON values (tools, tool_choice,
// response_format, unknown members) are hashed with whitespace removed and
// strings unescaped, but in their own member order, which a model can see.
// The stream flag, stream_options, user, skill and the model name as the
// client wrote it are not hashed.
func KeyFor(req *providers.Request, project, provider, upstreamModel string) Key {
	k := Key{Project: project, Provider: provider, Model: upstreamModel}
	h := hasherPool.Get().(*keyHasher)
	h.request(req, project, provider, upstreamModel)
	h.h.Sum(h.sum[:0])
	k.Sum = h.sum
	hasherPool.Put(h)
	return k
}

// Hex returns the hexadecimal form of the hash.
func (k *Key) Hex() string { return hex.EncodeToString(k.Sum[:]) }

type keyHasher struct {
	h       hash.Hash
	buf     []byte // staged small writes; flushed in large blocks
	scratch []byte // unescaped strings
	idx     []int  // unknown top-level fields, sorted by key
	sum     [32]byte
}

var hasherPool = sync.Pool{New: func() any {
	return &keyHasher{h: sha256.New(), buf: make([]byte, 0, 8<<10)}
}}

const flushAt = 6 << 10

func (k *keyHasher) flush() {
	if len(k.buf) > 0 {
		k.h.Write(k.buf)
		k.buf = k.buf[:0]
	}
}

func (k *keyHasher) tag(b byte) { k.buf = append(k.buf, b) }

func (k *keyHasher) u64(v uint64) { k.buf = binary.LittleEndian.AppendUint64(k.buf, v) }

// bytes hashes p with its length, so that adjacent values cannot run into
// each other.
func (k *keyHasher) bytes(p []byte) {
	k.u64(uint64(len(p)))
	k.raw(p)
}

func (k *keyHasher) raw(p []byte) {
	if len(p) > 1024 {
		k.flush()
		k.h.Write(p)
		return
	}
	k.buf = append(k.buf, p...)
	if len(k.buf) >= flushAt {
		k.flush()
	}
}

func (k *keyHasher) str(s string) { k.bytes(unsafeconv.Bytes(s)) }

func (k *keyHasher) float(f providers.Float) {
	if !f.Set {
		k.tag(0)
		return
	}
	k.tag(1)
	v := f.V
	if v == 0 {
		v = 0 // -0 and 0 are the same temperature
	}
	k.u64(math.Float64bits(v))
}

// json hashes a validated JSON value without insignificant whitespace and
// with strings unescaped and length-prefixed. Member order is kept.
func (k *keyHasher) json(v []byte) {
	k.tag('J')
	for i := 0; i < len(v); {
		switch c := v[i]; c {
		case ' ', '\t', '\n', '\r':
			i++
		case '"':
			end, esc := stringEnd(v, i)
			s := v[i+1 : end-1]
			if esc {
				if u, scratch, err := jsonscan.Unquote(v[i:end], k.scratch[:0]); err == nil {
					s = u
					k.scratch = scratch
				}
			}
			k.tag('"')
			k.bytes(s)
			i = end
		default:
			j := i + 1
			for j < len(v) {
				if c := v[j]; c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' {
					break
				}
				j++
			}
			k.raw(v[i:j])
			i = j
		}
	}
	k.tag(0)
}

// stringEnd returns the offset just past the string that starts at v[i] and
// whether it contains escapes.
func stringEnd(v []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(v); j++ {
		switch v[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return len(v), esc
}

// optJSON hashes an optional raw value.
func (k *keyHasher) optJSON(v []byte) {
	if v == nil {
		k.tag(0)
		return
	}
	k.json(v)
}

func (k *keyHasher) request(r *providers.Request, project, provider, model string) {
	k.h.Reset()
	k.buf = k.buf[:0]
	k.str(keyVersion)
	k.str(project)
	k.str(provider)
	k.str(model)

	k.tag('m')
	k.u64(uint64(len(r.Messages)))
	for i := range r.Messages {
		k.message(r, &r.Messages[i])
	}

	k.tag('t')
	k.u64(uint64(len(r.Tools)))
	for i := range r.Tools {
		k.json(r.Tools[i].Raw)
	}
	k.tag('c')
	k.optJSON(r.ToolChoice)
	k.tag('r')
	k.optJSON(r.ResponseFormat)
	k.tag('p')
	k.tag(byte(r.ParallelTools))
	k.tag('T')
	k.float(r.Temperature)
	k.tag('P')
	k.float(r.TopP)
	k.tag('x')
	k.u64(uint64(r.MaxTokens))
	k.tag('s')
	k.u64(uint64(len(r.Stop)))
	for _, s := range r.Stop {
		k.str(s)
	}
	k.tag('S')
	if r.Seed.Set {
		k.tag(1)
		k.u64(uint64(r.Seed.V))
	} else {
		k.tag(0)
	}
	k.tag('n')
	n := r.N
	if n == 0 {
		n = 1 // OpenAI's default
	}
	k.u64(uint64(n))

	k.unknownFields(r)
	k.flush()
}

func (k *keyHasher) message(r *providers.Request, m *providers.Message) {
	k.tag('M')
	k.str(m.Role)
	k.str(m.Name)
	k.str(m.ToolCallID)
	kind := byte(0) // absent
	if !m.ContentSpan.Empty() && m.ContentSpan.End <= len(r.Body) {
		kind = byte(jsonscan.KindOf(r.Body[m.ContentSpan.Start:m.ContentSpan.End]))
	}
	k.tag(kind)
	if len(m.Parts) > 0 {
		k.u64(uint64(len(m.Parts)))
		for j := range m.Parts {
			p := &m.Parts[j]
			k.str(p.Type)
			switch p.Type {
			case "text":
				k.str(p.Text)
			case "image_url":
				k.str(p.ImageURL)
				k.str(p.Detail)
			default:
				k.json(p.Raw)
			}
		}
	} else {
		k.str(m.Content)
	}
	k.u64(uint64(len(m.ToolCalls)))
	for j := range m.ToolCalls {
		tc := &m.ToolCalls[j]
		k.str(tc.ID)
		k.str(tc.Type)
		k.str(tc.Name)
		k.str(tc.Arguments)
	}
	// Members the canonical form does not interpret (reasoning_content echoed
	// back, refusal, audio, …) reach OpenAI-format upstreams verbatim.
	if !m.Span.Empty() && m.Span.End <= len(r.Body) {
		_ = jsonscan.ObjectEach(r.Body[m.Span.Start:m.Span.End], func(key, val []byte) error {
			switch string(key) {
			case "role", "content", "name", "tool_call_id", "tool_calls":
				return nil
			}
			k.tag('X')
			k.bytes(key)
			k.json(val)
			return nil
		})
	}
	k.tag('E')
}

// hashedFields are the top-level members hashed in canonical form above;
// excludedFields do not shape the answer.
func fieldClass(key string) int {
	switch key {
	case "messages", "tools", "tool_choice", "response_format", "parallel_tool_calls",
		"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "n":
		return 1
	case "model", "stream", "stream_options", "user", "skill":
		return 2
	}
	return 0
}

// unknownFields hashes every other top-level member, sorted by key so that
// member order does not matter.
func (k *keyHasher) unknownFields(r *providers.Request) {
	k.idx = k.idx[:0]
	for i := range r.Fields {
		if fieldClass(r.Fields[i].Key) == 0 {
			k.idx = append(k.idx, i)
		}
	}
	// Insertion sort: a handful of fields, stable, no allocation.
	for i := 1; i < len(k.idx); i++ {
		for j := i; j > 0 && r.Fields[k.idx[j]].Key < r.Fields[k.idx[j-1]].Key; j-- {
			k.idx[j], k.idx[j-1] = k.idx[j-1], k.idx[j]
		}
	}
	k.tag('U')
	k.u64(uint64(len(k.idx)))
	for _, i := range k.idx {
		f := &r.Fields[i]
		k.str(f.Key)
		if f.ValStart <= f.End && f.End <= len(r.Body) {
			k.json(r.Body[f.ValStart:f.End])
		}
	}
}
