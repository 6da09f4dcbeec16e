package gemini

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// ParseError maps a Gemini error response
// ({"error":{"code","message","status","details"}},
// https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes) to an
// UpstreamError:
//   - a refused or invalid API key (401, 403, or 400 with reason
//     API_KEY_INVALID: Gemini reports bad keys as INVALID_ARGUMENT) becomes
//     502 with code upstream_auth_failed: it is the gateway's key;
//   - other 4xx statuses are kept (400, 404, 413, 429);
//   - 503 (UNAVAILABLE, "the model is overloaded") stays 503 with code
//     upstream_overloaded; 408 and 504 become 504; other 5xx become 502.
//
// The message is kept with anything resembling a known provider's key
// masked; the Provider also removes its own key, whatever its shape. A body that
// is a JSON array (the streaming endpoint's framing) is read from its first
// element.
func ParseError(provider string, status int, body, retryAfter []byte) *providers.UpstreamError {
	e := &providers.UpstreamError{Status: status, Type: "upstream_error"}
	body = wire.TrimSpace(body)
	if jsonscan.Validate(body) == nil && jsonscan.KindOf(body) == jsonscan.Array {
		var first []byte
		_ = jsonscan.ArrayEach(body, func(i int, v []byte) error {
			if i == 0 {
				first = v
			}
			return nil
		})
		body = first
	}
	var gstatus string
	keyInvalid := false
	if ev := jsonscan.Get(body, "error"); jsonscan.KindOf(ev) == jsonscan.Object && jsonscan.Validate(body) == nil {
		e.Message = wire.Str(jsonscan.Get(ev, "message"))
		gstatus = wire.Str(jsonscan.Get(ev, "status"))
		if d := jsonscan.Get(ev, "details"); d != nil && bytes.Contains(d, []byte(`"API_KEY_INVALID"`)) {
			keyInvalid = true
		}
	}
	keyInvalid = keyInvalid || strings.Contains(e.Message, "API key not valid") || strings.Contains(e.Message, "API key expired")
	if e.Message == "" {
		e.Message = "upstream " + provider + " answered HTTP " + strconv.Itoa(status)
	} else {
		e.Message = "upstream " + provider + ": " + providers.MaskKeys(e.Message)
	}
	e.Code = strings.ToLower(gstatus)
	switch {
	case status == 401 || status == 403 || (status == 400 && keyInvalid):
		e.Status, e.Code = 502, "upstream_auth_failed"
	case status == 503:
		e.Code = "upstream_overloaded"
	case status == 408 || status == 504:
		e.Status, e.Code = 504, "upstream_timeout"
	case status >= 400 && status < 500:
		e.Type = "invalid_request_error"
		switch status {
		case 429:
			e.Type, e.Code = "rate_limit_error", "rate_limit_exceeded"
		case 404:
			e.Code = "model_not_found"
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
