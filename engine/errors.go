package engine

import (
	"errors"
	"strconv"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/anthropic"
	"github.com/valyala/fasthttp"
)

// Sentinel errors of the engine.
var (
	ErrUnauthorized = errors.New("invalid or missing API key")
)

// Error types of the OpenAI error envelope (engine/api).
const (
	typeInvalidRequest = api.TypeInvalidRequest
	typeAuth           = api.TypeAuth
	typeRateLimit      = api.TypeRateLimit
	typeUpstream       = api.TypeUpstream
	typeServer         = api.TypeServer
)

// apiError is an error with everything the client's envelope needs.
type apiError = api.Error

// toAPIError maps any error from the pipeline to the envelope the client
// sees. Unknown errors are 500s with a generic message: internal details
// stay in the log.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var re *providers.RequestError
	if errors.As(err, &re) {
		code := re.Code
		if code == "" {
			code = "invalid_request"
		}
		return &apiError{Status: 400, Type: typeInvalidRequest, Code: code, Param: re.Param, Msg: re.Error()}
	}
	var ue *providers.UpstreamError
	if errors.As(err, &ue) {
		e := &apiError{Status: ue.Status, Type: ue.Type, Code: ue.Code, Param: ue.Param, Msg: ue.Message}
		if e.Status == 0 {
			e.Status = 502
		}
		if e.Type == "" {
			e.Type = typeUpstream
		}
		if ue.RetryAfter > 0 {
			e.RetryAfter = int(ue.RetryAfter.Seconds())
		} else if e.Status == 429 || e.Status == 503 {
			e.RetryAfter = 1
		}
		return e
	}
	var rse *catalog.ResolveError
	if errors.As(err, &rse) {
		return &apiError{Status: 404, Type: typeInvalidRequest, Code: "model_not_found", Param: "model", Msg: rse.Msg}
	}
	switch {
	case errors.Is(err, ErrUnauthorized):
		return &apiError{Status: 401, Type: typeAuth, Code: "invalid_api_key", Msg: "Incorrect or missing API key. Send it as Authorization: Bearer KEY, x-api-key or api-key."}
	}
	return api.Internal()
}

// writeError writes the OpenAI error envelope.
func writeError(ctx *fasthttp.RequestCtx, e *apiError) { api.WriteError(ctx, e) }

// overloadStatus is e with the status that the client's API uses for an
// overloaded upstream: 529 overloaded_error on Anthropic's
// (https://docs.anthropic.com/en/api/errors), which the Anthropic SDKs
// raise as their OverloadedError and Claude Code retries as "overloaded";
// 503 on OpenAI's, whose SDKs know no 529 (SPEC.md: 502/503/504 upstream).
// An Anthropic 529 becomes a 503 upstream_overloaded (ParseError), a
// stream whose first event is overloaded_error a 529 (firstEventError):
// both reach each client as its API says. e is not changed (it may be a
// shared sentinel).
func overloadStatus(e *apiError, anthropicClient bool) *apiError {
	status := e.Status
	switch {
	case anthropicClient && status == 503 && e.Code == "upstream_overloaded":
		status = 529
	case !anthropicClient && status == 529:
		status = 503
	default:
		return e
	}
	c := *e
	c.Status = status
	return &c
}

// writeAnthropicError writes the Anthropic error envelope for clients of
// /v1/messages.
func writeAnthropicError(ctx *fasthttp.RequestCtx, e *apiError) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(e.Status)
	ctx.SetContentType("application/json")
	if e.RetryAfter > 0 {
		ctx.Response.Header.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	ctx.Response.SetBodyRaw(anthropic.AppendError(nil, e.Status, e.Msg))
	api.Count(e)
}

func asRequestError(err error, target **providers.RequestError) bool { return errors.As(err, target) }
