package engine

import (
	"bytes"
	"net/url"

	"github.com/valyala/fasthttp"
)

// CORS for the client API, so that a browser client (a web chat UI, the
// SDKs' dangerouslyAllowBrowser mode) can call the gateway from its own
// origin. The admin API and the dashboard never grant it (docs/dashboard.md).
//
// Which origins: while client keys are required, any origin, answered with
// "*" and never with credentials; the key in the request is what
// authenticates, as on OpenAI's own API, and a browser refuses to send
// cookies under "*". On an open gateway (no key, loopback only) any web page
// the user visits could otherwise spend the gateway's provider keys and read
// the answers, so only loopback origins (http://localhost:3000) are granted,
// and a request such a page sends without a preflight (a form, a text/plain
// fetch) is refused with 403 before it reaches a provider (refuseOrigin).

// corsExposed are the response headers a browser script may read.
const corsExposed = "X-Request-Id, X-Gateway-Provider, X-Gateway-Model, X-Gateway-Cache, X-Gateway-Cache-Similarity, " +
	"X-Gateway-Route-Reason, X-Gateway-Cost-USD, X-Gateway-Saved-USD, X-Gateway-Pruned-Tokens, X-Gateway-Session, " +
	"X-Gateway-Token-Count, X-Gateway-Policy, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"

// corsMaxAge is how long (seconds) a browser may cache a preflight.
const corsMaxAge = "600"

// clientPath reports whether path belongs to the client API.
func clientPath(path []byte) bool {
	if bytes.HasPrefix(path, []byte("/v1/")) || bytes.HasPrefix(path, []byte("/models/")) {
		return true
	}
	switch string(path) {
	case "/chat/completions", "/embeddings", "/models", "/skills":
		return true
	}
	return false
}

// corsOrigin returns the Access-Control-Allow-Origin value for the
// request, or nil when it gets none.
func (s *Server) corsOrigin(ctx *fasthttp.RequestCtx) []byte {
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 || !clientPath(ctx.Path()) {
		return nil
	}
	if s.keysRequired() {
		return []byte("*")
	}
	if loopbackOrigin(origin) {
		return origin
	}
	return nil
}

// keysRequired reports whether client requests need a key.
func (s *Server) keysRequired() bool {
	return s.ten == nil || s.ten.dir.Snapshot().NumKeys() > 0 || !s.ten.openAccess
}

// refuseOrigin reports whether a request to the client API of an open
// gateway comes from a web page of a foreign origin: neither loopback nor
// the gateway's own (Origin's host is the Host header). Browsers send
// Origin with every cross-origin POST, preflighted or not; other clients
// send none.
func (s *Server) refuseOrigin(ctx *fasthttp.RequestCtx) bool {
	origin := ctx.Request.Header.Peek("Origin")
	if len(origin) == 0 || !clientPath(ctx.Path()) || ctx.IsOptions() || s.keysRequired() || loopbackOrigin(origin) {
		return false
	}
	u, err := url.Parse(string(origin))
	return err != nil || u.Host != string(ctx.Host())
}

// errForeignOrigin answers a request refuseOrigin refuses.
var errForeignOrigin = &apiError{Status: 403, Type: typeInvalidRequest, Code: "origin_not_allowed",
	Msg: "This gateway has no client keys and serves web pages of loopback origins only; set GATEWAY_API_KEY to serve other origins"}

// loopbackOrigin reports whether origin is http(s)://localhost,
// 127.0.0.1 or [::1], with any port.
func loopbackOrigin(origin []byte) bool {
	u, err := url.Parse(string(origin))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// setCORS adds the CORS headers of an actual (not preflight) request.
func (s *Server) setCORS(ctx *fasthttp.RequestCtx) {
	allow := s.corsOrigin(ctx)
	if allow == nil {
		return
	}
	h := &ctx.Response.Header
	h.SetBytesV("Access-Control-Allow-Origin", allow)
	h.Set("Access-Control-Expose-Headers", corsExposed)
	if allow[0] != '*' {
		h.Set("Vary", "Origin")
	}
}

// preflight answers OPTIONS on a route (the router has set Allow): a CORS
// preflight from a granted origin gets 204 with the methods and the
// headers it asked for; any other OPTIONS gets 204 with Allow alone.
func (s *Server) preflight(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	allow := s.corsOrigin(ctx)
	if allow == nil || len(ctx.Request.Header.Peek("Access-Control-Request-Method")) == 0 {
		return
	}
	h := &ctx.Response.Header
	h.SetBytesV("Access-Control-Allow-Origin", allow)
	h.SetBytesV("Access-Control-Allow-Methods", h.Peek("Allow"))
	if req := ctx.Request.Header.Peek("Access-Control-Request-Headers"); len(req) > 0 {
		h.SetBytesV("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", corsMaxAge)
	if allow[0] != '*' {
		h.Set("Vary", "Origin")
	}
}
