package engine

import (
	"context"
	_ "embed"
	"net"
	"time"

	"github.com/aigateway/gateway/engine/store"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/dashboard"
	"github.com/valyala/fasthttp"
)

// adminActorKey is the user value that names the admin of a request
// authenticated by a dashboard session.
const adminActorKey = "gateway.admin_actor"

// admin guards an admin route: 404 when no admin key is configured (the
// admin API does not exist then), 401 without the right key or a
// dashboard session (whose changes also need its CSRF token).
func (s *Server) admin(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !s.hasAdmin {
			writeError(ctx, errAdminDisabled)
			return
		}
		if !s.authorizeAdmin(ctx) {
			actor, e := "", (*api.Error)(nil)
			if s.dash != nil && len(presentedKey(&ctx.Request.Header)) == 0 {
				actor, e = s.dash.Check(ctx)
			}
			if e != nil {
				writeError(ctx, e)
				return
			}
			if actor == "" {
				writeError(ctx, &apiError{Status: 401, Type: typeAuth, Code: "invalid_admin_key", Msg: "Incorrect or missing admin key."})
				return
			}
			ctx.SetUserValue(adminActorKey, actor)
		}
		h(ctx)
	}
}

var errAdminDisabled = &apiError{Status: 404, Type: typeInvalidRequest, Code: "not_found", Msg: "The admin API is disabled: set GATEWAY_ADMIN_KEY to enable it"}

// adminName names the admin behind a request: its key's name, or the
// name of the key its dashboard session was opened with.
func (s *Server) adminName(ctx *fasthttp.RequestCtx) string {
	if a, ok := ctx.UserValue(adminActorKey).(string); ok && a != "" {
		return a
	}
	return s.adminActor(ctx)
}

// newDashboard builds the dashboard over the store's sessions and the
// admin keys (nil without an admin key: there is no admin UI then).
func (s *Server) newDashboard() *dashboard.Dashboard {
	if !s.hasAdmin {
		return nil
	}
	return &dashboard.Dashboard{
		Sessions: s.ten.st,
		Authenticate: func(key []byte) string {
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.Set("Authorization", "Bearer "+string(key))
			return s.adminActor(&ctx)
		},
		Audit: func(e store.AuditEntry) {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.ten.st.Audit(c, e); err != nil {
				s.log.Warn("audit entry not recorded", "action", e.Action, "target", e.Target, "error", err.Error())
			}
		},
		ClientIP: func(ctx *fasthttp.RequestCtx) net.IP { return clientAddr(s.cfg.trusted, ctx) },
		Known: func(name string) bool {
			for i := range s.ten.admins {
				if s.ten.admins[i].name == name {
					return true
				}
			}
			return false
		},
	}
}

// writeJSON answers with v encoded as JSON (admin paths only: not hot).
func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) { api.WriteJSON(ctx, status, v) }

//go:embed ui/admin.html
var adminPage []byte

// handleAdminPage serves the classic admin page at /admin/classic (the
// bearer key typed into a box; policy upload and cache purge until the
// dashboard has those pages). The page holds no data.
func (s *Server) handleAdminPage(ctx *fasthttp.RequestCtx) {
	if !s.hasAdmin {
		writeError(ctx, errAdminDisabled)
		return
	}
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	h.Set("X-Frame-Options", "DENY")
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(adminPage)
}
