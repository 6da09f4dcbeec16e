// Package api writes the answers every endpoint shares: the OpenAI error
// envelope (with its gateway_errors_total counter) and JSON bodies. The
// request pipeline (engine), the admin API (engine/admin) and the front-ends
// answer through it, so that an error looks and counts the same wherever it
// comes from.
package api

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// Error types of the OpenAI error envelope.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuth           = "authentication_error"
	TypeRateLimit      = "rate_limit_error"
	TypeUpstream       = "upstream_error"
	TypeServer         = "server_error"
)

// Error is an error with everything the client's envelope needs.
type Error struct {
	Status     int
	Type       string
	Code       string
	Param      string
	Msg        string
	RetryAfter int // seconds; 0 = no header
}

func (e *Error) Error() string { return e.Msg }

// Internal is the answer to an error the client must not see the details
// of: they stay in the log.
func Internal() *Error {
	return &Error{Status: 500, Type: TypeServer, Code: "internal_error", Msg: "internal gateway error"}
}

// As returns err as an *Error when it is one, else Internal().
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal()
}

// WriteError writes the OpenAI error envelope and counts it.
func WriteError(ctx *fasthttp.RequestCtx, e *Error) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(e.Status)
	ctx.SetContentType("application/json")
	if e.RetryAfter > 0 {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	ctx.Response.SetBodyRaw(providers.AppendError(nil, e.Type, e.Code, e.Param, e.Msg))
	Count(e)
}

// WriteJSON writes v as a JSON answer with status.
func WriteJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(ctx, &Error{Status: 500, Type: TypeServer, Code: "internal_error", Msg: "encoding the answer failed"})
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// errSeries caches gateway_errors_total counters by code.
var errSeries sync.Map // code → *metrics.Counter

// Count adds e to gateway_errors_total{code,status}; the code is the
// envelope's code, or its type when it has none. Writers of other envelopes
// (the Anthropic one of /v1/messages) call it too.
func Count(e *Error) {
	code := e.Code
	if code == "" {
		code = e.Type
	}
	if v, ok := errSeries.Load(code); ok {
		v.(*metrics.Counter).Inc()
		return
	}
	c := metrics.GetOrCreateCounter(`gateway_errors_total{code="` + Label(code) + `",status="` + strconv.Itoa(e.Status) + `"}`)
	errSeries.Store(code, c)
	c.Inc()
}

// Label escapes s for use as a Prometheus label value.
func Label(s string) string {
	needs := false
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' || s[i] == '\n' {
			needs = true
			break
		}
	}
	if !needs {
		return s
	}
	b := make([]byte, 0, len(s)+4)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"', '\\':
			b = append(b, '\\', s[i])
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}
