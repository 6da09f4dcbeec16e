package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"
)

// On SQLite the ledger is stored in chunks: one row of usage_chunks per
// group commit, holding every ledger row of the batch in the compact
// encoding below. A B-tree insert per request (two, with the project
// index) bound 27 values through the Wasm boundary and wrote ~300 bytes of
// pages per row: 6–7 µs of CPU per row, 12–15% of a non-stream request's
// whole cost on one core. A chunk costs one insert per batch and ~70 bytes
// per row. Reads decode the chunks whose time range meets the query's
// (ledgerVTab); docs/ledger.md has the trade.
//
// Encoding, version 1 (all integers varints; u = unsigned, s = zigzag):
//
//	byte     version (1)
//	u        number of dictionary strings, then each: u length, bytes
//	u        number of rows
//	per row: u length of id, id bytes
//	         s ts (µs since the epoch) minus the previous row's (0 first)
//	         u×9 dictionary indexes: project_id, key_id, endpoint,
//	             requested_model, served_model, provider, error_code,
//	             cache, route_reason
//	         u status, s×4 prompt, cached, cache-write and completion
//	             tokens, u flags: bit 0 stream, bits 1… which of the
//	             floats below are not zero
//	         8 bytes little-endian for each non-zero float, in order:
//	             cost_usd, the five savings, latency_ms, upstream_ms,
//	             classifier_cost_usd, cascade_extra_cost_usd
const chunkVersion = 1

// chunkFloats is the number of float columns in a chunk row.
const chunkFloats = 10

var errChunk = errors.New("ledger chunk: corrupt")

// chunkEncoder encodes batches; its buffers are reused.
type chunkEncoder struct {
	dict  map[string]uint64
	strs  []string
	rows  []byte
	out   []byte
	ready bool
}

func (e *chunkEncoder) index(s string) uint64 {
	if i, ok := e.dict[s]; ok {
		return i
	}
	i := uint64(len(e.strs))
	e.dict[s] = i
	e.strs = append(e.strs, s)
	return i
}

// encode returns the chunk of rows (valid until the next call) and the
// rows' smallest and largest ts.
func (e *chunkEncoder) encode(rows []UsageRow) (data []byte, tsMin, tsMax int64) {
	if !e.ready {
		e.dict = make(map[string]uint64)
		e.ready = true
	}
	clear(e.dict)
	e.strs = e.strs[:0]
	b := e.rows[:0]
	var prev int64
	tsMin, tsMax = math.MaxInt64, math.MinInt64
	for i := range rows {
		u := &rows[i]
		ts := u.Time.UnixMicro()
		tsMin, tsMax = min(tsMin, ts), max(tsMax, ts)
		b = binary.AppendUvarint(b, uint64(len(u.ID)))
		b = append(b, u.ID...)
		b = binary.AppendVarint(b, ts-prev)
		prev = ts
		for _, s := range [...]string{u.ProjectID, u.KeyID, u.Endpoint, u.RequestedModel, u.ServedModel,
			u.Provider, u.ErrorCode, u.Cache, u.RouteReason} {
			b = binary.AppendUvarint(b, e.index(s))
		}
		b = binary.AppendUvarint(b, uint64(u.Status))
		b = binary.AppendVarint(b, u.PromptTokens)
		b = binary.AppendVarint(b, u.CachedTokens)
		b = binary.AppendVarint(b, u.CacheWriteTokens)
		b = binary.AppendVarint(b, u.CompletionTokens)
		fl := chunkFloatsOf(u)
		var flags uint64
		if u.Stream {
			flags = 1
		}
		for j, f := range fl {
			if f != 0 {
				flags |= 1 << (j + 1)
			}
		}
		b = binary.AppendUvarint(b, flags)
		for _, f := range fl {
			if f != 0 {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
			}
		}
	}
	e.rows = b
	o := append(e.out[:0], chunkVersion)
	o = binary.AppendUvarint(o, uint64(len(e.strs)))
	for _, s := range e.strs {
		o = binary.AppendUvarint(o, uint64(len(s)))
		o = append(o, s...)
	}
	o = binary.AppendUvarint(o, uint64(len(rows)))
	o = append(o, b...)
	e.out = o
	return o, tsMin, tsMax
}

func chunkFloatsOf(u *UsageRow) [chunkFloats]float64 {
	return [chunkFloats]float64{u.CostUSD, u.Savings.ResponseCache, u.Savings.ProviderPromptCache,
		u.Savings.IDEBoilerplate, u.Savings.FileDedup, u.Savings.Routing, u.LatencyMS, u.UpstreamMS,
		u.ClassifierCostUSD, u.CascadeExtraCostUSD}
}

// chunkReader walks a chunk's rows. The strings of the rows it yields
// point into data, which must not change while they are in use.
type chunkReader struct {
	data []byte
	off  int
	strs []string
	n    int // rows left
	ts   int64
	err  error
}

func (r *chunkReader) reset(data []byte) error {
	*r = chunkReader{data: data, strs: r.strs[:0]}
	if len(data) == 0 || data[0] != chunkVersion {
		return fmt.Errorf("%w: version", errChunk)
	}
	r.off = 1
	ns := r.uvarint()
	for i := uint64(0); i < ns && r.err == nil; i++ {
		r.strs = append(r.strs, r.str())
	}
	r.n = int(r.uvarint())
	if r.err == nil && (r.n < 0 || r.n > len(data)) {
		r.err = fmt.Errorf("%w: row count", errChunk)
	}
	return r.err
}

func (r *chunkReader) uvarint() uint64 {
	v, k := binary.Uvarint(r.data[r.off:])
	if k <= 0 {
		r.fail()
		return 0
	}
	r.off += k
	return v
}

func (r *chunkReader) varint() int64 {
	v, k := binary.Varint(r.data[r.off:])
	if k <= 0 {
		r.fail()
		return 0
	}
	r.off += k
	return v
}

func (r *chunkReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: at byte %d", errChunk, r.off)
	}
	r.off = len(r.data)
}

func (r *chunkReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.data)-r.off) {
		r.fail()
		return ""
	}
	s := r.data[r.off : r.off+int(n)]
	r.off += int(n)
	if len(s) == 0 {
		return ""
	}
	return unsafe.String(&s[0], len(s))
}

func (r *chunkReader) dictStr() string {
	i := r.uvarint()
	if i >= uint64(len(r.strs)) {
		r.fail()
		return ""
	}
	return r.strs[i]
}

// next decodes the next row into u; false at the end or on an error (Err).
func (r *chunkReader) next(u *UsageRow) bool {
	if r.n == 0 || r.err != nil {
		return false
	}
	r.n--
	u.ID = r.str()
	r.ts += r.varint()
	u.Time = time.UnixMicro(r.ts).UTC()
	for _, p := range [...]*string{&u.ProjectID, &u.KeyID, &u.Endpoint, &u.RequestedModel, &u.ServedModel,
		&u.Provider, &u.ErrorCode, &u.Cache, &u.RouteReason} {
		*p = r.dictStr()
	}
	u.Status = int(r.uvarint())
	u.PromptTokens = r.varint()
	u.CachedTokens = r.varint()
	u.CacheWriteTokens = r.varint()
	u.CompletionTokens = r.varint()
	flags := r.uvarint()
	u.Stream = flags&1 != 0
	var fl [chunkFloats]float64
	for j := range fl {
		if flags&(1<<(j+1)) == 0 {
			continue
		}
		if len(r.data)-r.off < 8 {
			r.fail()
			break
		}
		fl[j] = math.Float64frombits(binary.LittleEndian.Uint64(r.data[r.off:]))
		r.off += 8
	}
	u.CostUSD, u.Savings.ResponseCache, u.Savings.ProviderPromptCache, u.Savings.IDEBoilerplate,
		u.Savings.FileDedup, u.Savings.Routing, u.LatencyMS, u.UpstreamMS, u.ClassifierCostUSD,
		u.CascadeExtraCostUSD = fl[0], fl[1], fl[2], fl[3], fl[4], fl[5], fl[6], fl[7], fl[8], fl[9]
	if r.err != nil {
		return false
	}
	if r.n == 0 && r.off != len(r.data) {
		r.err = fmt.Errorf("%w: %d bytes after the last row", errChunk, len(r.data)-r.off)
		return false
	}
	return true
}

// Err is the first decoding error.
func (r *chunkReader) Err() error { return r.err }

// decodeChunk returns every row of a chunk; the strings are copies.
func decodeChunk(data []byte) ([]UsageRow, error) {
	own := append([]byte(nil), data...)
	var r chunkReader
	if err := r.reset(own); err != nil {
		return nil, err
	}
	out := make([]UsageRow, 0, r.n)
	var u UsageRow
	for r.next(&u) {
		out = append(out, u)
	}
	return out, r.Err()
}
