package anthropic

import (
	"strconv"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// ParseError maps an Anthropic error response
// ({"type":"error","error":{"type","message"}},
// https://docs.anthropic.com/en/api/errors) to an UpstreamError:
//   - 4xx statuses are kept (400, 404, 413, 429: the client can act on them),
//     except 401 and 403, which say that the gateway's key was refused and
//     become 502 with code upstream_auth_failed;
//   - 529 (overloaded_error) becomes 503 with code upstream_overloaded;
//   - 408 and 504 become 504; any other status becomes 502.
//
// The upstream's message is kept with anything resembling a known
// provider's key masked; the Provider also removes its own key, whatever its
// shape.
func ParseError(provider string, status int, body, retryAfter []byte) *providers.UpstreamError {
	e := &providers.UpstreamError{Status: status, Type: "upstream_error"}
	var typ string
	if ev := jsonscan.Get(body, "error"); jsonscan.KindOf(ev) == jsonscan.Object && jsonscan.Validate(body) == nil {
		e.Message = wire.Str(jsonscan.Get(ev, "message"))
		typ = wire.Str(jsonscan.Get(ev, "type"))
	}
	if e.Message == "" {
		e.Message = "upstream " + provider + " answered HTTP " + strconv.Itoa(status)
	} else {
		e.Message = "upstream " + provider + ": " + providers.MaskKeys(e.Message)
	}
	e.Code = typ
	switch {
	case status == 401 || status == 403:
		e.Status, e.Code = 502, "upstream_auth_failed"
	case status == 529:
		e.Status, e.Code = 503, "upstream_overloaded"
	case status == 408 || status == 504:
		e.Status, e.Code = 504, "upstream_timeout"
	case status >= 400 && status < 500:
		if typ != "" {
			e.Type = typ
		} else {
			e.Type = "invalid_request_error"
		}
		if status == 429 {
			e.Code = "rate_limit_exceeded"
		}
	default:
		e.Status = 502
	}
	if len(retryAfter) > 0 {
		if n, err := strconv.Atoi(string(retryAfter)); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// streamErrorCode maps the type of an in-stream error event to the code of
// the OpenAI error event that replaces it.
func streamErrorCode(typ []byte) string {
	switch string(typ) {
	case "overloaded_error":
		return "upstream_overloaded"
	case "rate_limit_error":
		return "rate_limit_exceeded"
	case "":
		return "upstream_error"
	}
	return "upstream_error"
}

// ErrorType is the Anthropic error type for an HTTP status, for answering an
// Anthropic-format client (https://docs.anthropic.com/en/api/errors).
func ErrorType(status int) string {
	switch status {
	case 400, 422:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 503, 529:
		return "overloaded_error"
	case 504:
		return "timeout_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// AppendError appends the Anthropic error envelope
// {"type":"error","error":{"type":…,"message":…}} for status, for the
// engine's /v1/messages answers.
func AppendError(dst []byte, status int, msg string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":"`...)
	dst = append(dst, ErrorType(status)...)
	dst = append(dst, `","message":`...)
	dst = jsonscan.AppendQuote(dst, msg)
	return append(dst, "}}"...)
}

// AppendErrorEvent appends an Anthropic in-stream error event
// ("event: error", https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events).
func AppendErrorEvent(dst []byte, status int, msg string) []byte {
	dst = append(dst, "event: error\ndata: "...)
	dst = AppendError(dst, status, msg)
	return append(dst, "\n\n"...)
}
