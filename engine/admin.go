package engine

import (
	_ "embed"

	"github.com/aigateway/gateway/engine/api"
	"github.com/valyala/fasthttp"
)

// admin guards an admin route: 404 when no admin key is configured (the
// admin API does not exist then), 401 without the right key.
func (s *Server) admin(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !s.hasAdmin {
			writeError(ctx, &apiError{Status: 404, Type: typeInvalidRequest, Code: "not_found", Msg: "The admin API is disabled: set GATEWAY_ADMIN_KEY to enable it"})
			return
		}
		if !s.authorizeAdmin(ctx) {
			writeError(ctx, &apiError{Status: 401, Type: typeAuth, Code: "invalid_admin_key", Msg: "Incorrect or missing admin key."})
			return
		}
		h(ctx)
	}
}

// writeJSON answers with v encoded as JSON (admin paths only: not hot).
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) { api.WriteJSON(ctx, status, v) }

//go:embed ui/admin.html
var adminPage []byte

// handleAdminPage serves the admin web page. The page holds no data: it
// asks for the admin key and calls the admin API with it.
func (s *Server) handleAdminPage(ctx *fasthttp.RequestCtx) {
	if !s.hasAdmin {
		writeError(ctx, &apiError{Status: 404, Type: typeInvalidRequest, Code: "not_found", Msg: "The admin API is disabled: set GATEWAY_ADMIN_KEY to enable it"})
		return
	}
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	h.Set("X-Frame-Options", "DENY")
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(adminPage)
}
