package ledger

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"time"

	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/internal/binread"
)

// The journal's row record. A journal segment is private to the gateway
// (a crash leaves it behind, and the next start converts it into a JSON
// spill file: adopt.go), so its rows are written in a compact binary form
// rather than the spill format's JSON: about a quarter of the bytes, and a
// fraction of the encoding time, on the request path.
//
//	record  = recordMark, uvarint(len(payload)), payload, crc32c(payload) (4 bytes, little-endian)
//	payload = recordVersion, flags, uvarint(float mask),
//	          varint(unix seconds), uvarint(nanoseconds),
//	          10 × (uvarint(len), bytes): id, project, key, endpoint, requested model,
//	                                      served model, provider, error code, cache, route reason,
//	          varint(status), 4 × varint: prompt, cached, cache-write, completion tokens,
//	          one little-endian float64 per bit set in the mask, in recordFloats' order
//
// flags: bit 0 provisional (Writer.Provisional), bit 1 stream. A float
// that is zero, NaN or infinite is not written (NaN and infinities as 0,
// as the JSON encoding did: the store refuses them).
//
// A crash in the middle of a record's copy leaves it cut short (followed
// by the NULs of the mapping's unused part, or by nothing): its checksum
// fails and the reader looks for the next mark whose record checks out,
// so a torn record never swallows the rows written after it.

const (
	recordMark    = 0xA5
	recordVersion = 1

	flagProvisional = 1 << 0
	flagStream      = 1 << 1

	// recordMax bounds a record's payload at decoding: no row comes near
	// (its id is at most 200 bytes, the rest are names), and a torn
	// length must not make the reader skip a whole segment.
	recordMax = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordFloats are the row's float fields, in the record's order.
func recordFloats(r *store.UsageRow) [10]*float64 {
	return [10]*float64{&r.CostUSD, &r.Savings.ResponseCache, &r.Savings.ProviderPromptCache,
		&r.Savings.IDEBoilerplate, &r.Savings.FileDedup, &r.Savings.Routing,
		&r.LatencyMS, &r.UpstreamMS, &r.ClassifierCostUSD, &r.CascadeExtraCostUSD}
}

// recordStrings are the row's string fields, in the record's order.
func recordStrings(r *store.UsageRow) [10]*string {
	return [10]*string{&r.ID, &r.ProjectID, &r.KeyID, &r.Endpoint, &r.RequestedModel,
		&r.ServedModel, &r.Provider, &r.ErrorCode, &r.Cache, &r.RouteReason}
}

// appendRecord appends r as one journal record. It allocates nothing
// once b has room: the journal encodes on the request path.
func appendRecord(b []byte, r *store.UsageRow, provisional bool) []byte {
	// The payload is written after a length placeholder of the most bytes
	// its uvarint can take here, then moved back over the unused ones.
	start := len(b)
	b = append(b, recordMark, 0, 0, 0)
	body := len(b)
	flags := byte(0)
	if provisional {
		flags |= flagProvisional
	}
	if r.Stream {
		flags |= flagStream
	}
	floats := recordFloats(r)
	mask := uint64(0)
	for i, f := range floats {
		if v := *f; v != 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
			mask |= 1 << i
		}
	}
	b = append(b, recordVersion, flags)
	b = binary.AppendUvarint(b, mask)
	b = binary.AppendVarint(b, r.Time.Unix())
	b = binary.AppendUvarint(b, uint64(r.Time.Nanosecond()))
	for _, s := range recordStrings(r) {
		b = binary.AppendUvarint(b, uint64(len(*s)))
		b = append(b, *s...)
	}
	b = binary.AppendVarint(b, int64(r.Status))
	b = binary.AppendVarint(b, r.PromptTokens)
	b = binary.AppendVarint(b, r.CachedTokens)
	b = binary.AppendVarint(b, r.CacheWriteTokens)
	b = binary.AppendVarint(b, r.CompletionTokens)
	for i, f := range floats {
		if mask&(1<<i) != 0 {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*f))
		}
	}
	n := len(b) - body
	if n >= 1<<21 { // a row this large is refused at decoding anyway
		return b[:start]
	}
	var lenBuf [binary.MaxVarintLen32]byte
	k := binary.PutUvarint(lenBuf[:], uint64(n))
	// Close the gap between the length and the payload.
	copy(b[start+1:], lenBuf[:k])
	if k < 3 {
		copy(b[start+1+k:], b[body:])
		b = b[:len(b)-(3-k)]
	}
	payload := b[start+1+k:]
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(payload, castagnoli))
}

// decodeRecords calls fn with every record of a journal segment that
// checks out, in order, and returns how many torn ones it skipped (one
// per damaged stretch). NUL bytes between records are skipped. The rows'
// strings are their own (copied out of data).
func decodeRecords(data []byte, fn func(r store.UsageRow, provisional bool)) (torn int) {
	damaged := false
	for i := 0; i < len(data); {
		c := data[i]
		if c == 0 {
			i++
			continue
		}
		if c == recordMark {
			if n, r, prov, ok := decodeRecord(data[i:]); ok {
				fn(r, prov)
				i += n
				damaged = false
				continue
			}
		}
		if !damaged {
			torn++
			damaged = true
		}
		i++
	}
	return torn
}

// decodeRecord decodes the record at the start of b: its length in b, the
// row, and whether it checks out.
func decodeRecord(b []byte) (n int, r store.UsageRow, provisional, ok bool) {
	size, k := binary.Uvarint(b[1:])
	if k <= 0 || size > recordMax || uint64(len(b)-1-k) < size+4 {
		return 0, r, false, false
	}
	payload := b[1+k : 1+k+int(size)]
	if binary.LittleEndian.Uint32(b[1+k+int(size):]) != crc32.Checksum(payload, castagnoli) {
		return 0, r, false, false
	}
	d := binread.Reader{B: payload}
	if d.Byte() != recordVersion {
		return 0, r, false, false
	}
	flags := d.Byte()
	mask := d.Uvarint()
	sec := d.Varint()
	nsec := d.Uvarint()
	for _, s := range recordStrings(&r) {
		*s = string(d.Bytes()) // the row owns its strings: data is reused
	}
	r.Status = int(d.Varint())
	r.PromptTokens = d.Varint()
	r.CachedTokens = d.Varint()
	r.CacheWriteTokens = d.Varint()
	r.CompletionTokens = d.Varint()
	for i, f := range recordFloats(&r) {
		if mask&(1<<i) != 0 {
			*f = math.Float64frombits(d.Uint64())
		}
	}
	if d.Bad || len(d.B) != 0 || nsec >= 1e9 {
		return 0, r, false, false
	}
	r.Time = time.Unix(sec, int64(nsec)).UTC()
	r.Stream = flags&flagStream != 0
	return 1 + k + int(size) + 4, r, flags&flagProvisional != 0, true
}
