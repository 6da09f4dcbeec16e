package engine

import (
	"strconv"
	"sync"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
)

// accessLog writes the request's access log line (docs/requests.md), when
// an access log is configured.
func (s *Server) accessLog(x *exchange, total time.Duration) {
	sink := s.access.Load()
	if sink == nil {
		return
	}
	// One JSON line, written by hand into a pooled buffer: slog would
	// allocate several times per request on the hot path.
	lb := logBufPool.Get().(*logBuf)
	b := append(lb.b[:0], `{"time":"`...)
	b = x.start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","id":`...)
	b = jsonscan.AppendQuoteBytes(b, x.reqID)
	b = append(b, `,"project":`...)
	b = jsonscan.AppendQuote(b, x.project)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(x.status), 10)
	b = append(b, `,"latency_ms":`...)
	b = appendMillis(b, total)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, x.stream)
	if x.model != nil {
		b = append(b, `,"model":`...)
		b = jsonscan.AppendQuote(b, x.model.Name)
		b = append(b, `,"provider":`...)
		b = jsonscan.AppendQuote(b, x.model.Provider)
	}
	if x.upstream > 0 {
		b = append(b, `,"upstream_ms":`...)
		b = appendMillis(b, x.upstream)
	}
	if x.ttft > 0 {
		b = append(b, `,"ttft_ms":`...)
		b = appendMillis(b, x.ttft)
	}
	if x.usage.Set {
		b = append(b, `,"prompt_tokens":`...)
		b = strconv.AppendInt(b, int64(x.usage.PromptTokens), 10)
		b = append(b, `,"cached_tokens":`...)
		b = strconv.AppendInt(b, int64(x.usage.CachedTokens), 10)
		b = append(b, `,"completion_tokens":`...)
		b = strconv.AppendInt(b, int64(x.usage.CompletionTokens), 10)
		b = append(b, `,"cost_usd":`...)
		b = strconv.AppendFloat(b, x.cost, 'g', -1, 64)
	}
	if x.hit {
		b = append(b, `,"cache":"hit"`...)
	}
	if x.errCode != "" {
		b = append(b, `,"error":`...)
		b = jsonscan.AppendQuote(b, x.errCode)
	}
	if x.gone {
		b = append(b, `,"client_disconnected":true`...)
	}
	if len(x.reason) > 0 {
		b = append(b, `,"route_reason":`...)
		b = jsonscan.AppendQuoteBytes(b, x.reason)
	}
	if len(x.tags) > 0 {
		b = append(b, `,"policy_tags":`...)
		b = jsonscan.AppendQuoteBytes(b, x.tags)
	}
	if s.cfg.LogPrompts && x.req != nil && len(x.req.Body) > 0 {
		b = append(b, `,"prompt":`...)
		b = jsonscan.AppendQuoteBytes(b, x.req.Body)
	}
	b = append(b, "}\n"...)
	_, _ = sink.w.Write(b)
	lb.b = b
	logBufPool.Put(lb)
}

type logBuf struct{ b []byte }

var logBufPool = sync.Pool{New: func() any { return &logBuf{b: make([]byte, 0, 512)} }}

// appendMillis appends d in milliseconds with microsecond precision.
func appendMillis(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	b = strconv.AppendInt(b, us/1000, 10)
	if r := us % 1000; r != 0 {
		b = append(b, '.')
		for _, div := range [...]int64{100, 10, 1} {
			b = append(b, byte('0'+r/div%10))
		}
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return b
}
