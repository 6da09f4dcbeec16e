package ollama

import (
	"errors"
	"strconv"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// Sentinel errors, wrapped by the errors this package returns.
var (
	// ErrMalformedLine is reported (in-stream) when an NDJSON line is not a
	// JSON object.
	ErrMalformedLine = errors.New("malformed stream line")
	// ErrBadResponse is returned when a non-streaming answer is not the
	// chat response object documented for /api/chat.
	ErrBadResponse = errors.New("malformed response")
)

// reqErr is a client error in the request: the engine answers 400 and
// names Param.
func reqErr(param, msg string) error { return &providers.RequestError{Param: param, Msg: msg} }

// ParseError maps an Ollama error answer to an UpstreamError.
//
// Ollama answers errors as {"error":"message"} with an HTTP status
// (https://github.com/ollama/ollama/blob/main/docs/api.md, and api.StatusError
// in the Go client): 404 for an unknown model ("model \"x\" not found, try
// pulling it first"), 400 for a bad request, 500 for runner failures. 4xx
// statuses are kept (404 gets the OpenAI code model_not_found), 5xx become
// 502, 408/504 become 504, and 401/403 (an authenticating proxy in front of
// Ollama refused our credentials) become 502: the client's request was fine.
// retryAfter is the Retry-After header value, if any.
func ParseError(provider string, status int, body, retryAfter []byte) *providers.UpstreamError {
	e := &providers.UpstreamError{Status: status, Type: "upstream_error"}
	msg := errorMessage(body)
	if msg == "" {
		e.Message = "upstream " + provider + " answered HTTP " + strconv.Itoa(status)
	} else {
		e.Message = "upstream " + provider + ": " + msg
	}
	switch {
	case status == 404:
		e.Type, e.Code = "invalid_request_error", "model_not_found"
	case status == 429:
		e.Type, e.Code = "rate_limit_error", "rate_limit_exceeded"
	case status == 408 || status == 504:
		e.Status, e.Code = 504, "upstream_timeout"
	case status == 401 || status == 403:
		e.Status, e.Code = 502, "upstream_auth_failed"
	case status >= 400 && status < 500:
		e.Type = "invalid_request_error"
	default: // 5xx, and any non-error status that is not 200
		e.Status = 502
	}
	if len(retryAfter) > 0 {
		if n, err := strconv.Atoi(string(retryAfter)); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

// errorMessage extracts Ollama's {"error":"…"} message (or a proxy's
// {"error":{"message":"…"}}); it returns "" for anything else.
func errorMessage(body []byte) string {
	if jsonscan.Validate(body) != nil {
		return ""
	}
	obj := body[jsonscan.SkipSpace(body, 0):]
	if jsonscan.KindOf(obj) != jsonscan.Object {
		return ""
	}
	v := jsonscan.Get(obj, "error")
	if jsonscan.KindOf(v) == jsonscan.Object {
		v = jsonscan.Get(v, "message")
	}
	if jsonscan.KindOf(v) != jsonscan.String {
		return ""
	}
	s, _, err := jsonscan.Unquote(v, nil)
	if err != nil {
		return ""
	}
	const maxMsg = 1000
	if len(s) > maxMsg {
		s = s[:maxMsg]
	}
	return string(s)
}
