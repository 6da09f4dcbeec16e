package store

import (
	"bytes"
	"encoding/binary"
	"math"
	"sync"
	"time"
)

// PostgreSQL's binary COPY format, written by hand for the ledger's one
// table: pgx's CopyFrom boxes every value of every row into an interface
// and looks up its encoder (about 20 allocations and 4 µs of client CPU
// per row in BenchmarkInsertUsage); the format is a header, then per row a
// field count and length-prefixed big-endian values, then a trailer
// (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4).

// pgCopyUsage is the COPY statement the encoded stream feeds.
var pgCopyUsage = `COPY usage_ledger (` + usageColumns + `) FROM STDIN (FORMAT binary)`

// pgEpoch is the zero of PostgreSQL's timestamps.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

var pgCopyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// appendPGCopy appends the binary COPY stream of rows to b, in
// usageColumns' order and with the ledger's column types.
func appendPGCopy(b []byte, rows []UsageRow) []byte {
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	b = binary.BigEndian.AppendUint32(b, 0) // flags: no OIDs
	b = binary.BigEndian.AppendUint32(b, 0) // header extension length
	text := func(b []byte, s string) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		return append(b, s...)
	}
	int4 := func(b []byte, v int32) []byte {
		b = binary.BigEndian.AppendUint32(b, 4)
		return binary.BigEndian.AppendUint32(b, uint32(v))
	}
	int8 := func(b []byte, v int64) []byte {
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, uint64(v))
	}
	float8 := func(b []byte, v float64) []byte {
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
	}
	for i := range rows {
		u := &rows[i]
		b = binary.BigEndian.AppendUint16(b, 27)
		b = text(b, u.ID)
		b = int8(b, u.Time.UnixMicro()-pgEpoch) // timestamptz: µs since 2000 UTC
		b = text(b, u.ProjectID)
		b = text(b, u.KeyID)
		b = text(b, u.Endpoint)
		b = text(b, u.RequestedModel)
		b = text(b, u.ServedModel)
		b = text(b, u.Provider)
		b = int4(b, int32(u.Status))
		b = text(b, u.ErrorCode)
		b = int8(b, u.PromptTokens)
		b = int8(b, u.CachedTokens)
		b = int8(b, u.CacheWriteTokens)
		b = int8(b, u.CompletionTokens)
		b = float8(b, u.CostUSD)
		b = float8(b, u.Savings.ResponseCache)
		b = float8(b, u.Savings.ProviderPromptCache)
		b = float8(b, u.Savings.IDEBoilerplate)
		b = float8(b, u.Savings.FileDedup)
		b = float8(b, u.Savings.Routing)
		b = float8(b, u.LatencyMS)
		b = float8(b, u.UpstreamMS)
		b = text(b, u.Cache)
		b = text(b, u.RouteReason)
		b = binary.BigEndian.AppendUint32(b, 1)
		if u.Stream {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = float8(b, u.ClassifierCostUSD)
		b = float8(b, u.CascadeExtraCostUSD)
	}
	return binary.BigEndian.AppendUint16(b, 0xffff) // trailer
}
