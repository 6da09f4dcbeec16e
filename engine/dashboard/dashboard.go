// Package dashboard serves the admin web UI at /admin: its pages and
// assets (embedded in the binary, nothing from a CDN, no build step) and
// its login sessions (docs/dashboard.md).
//
// An operator logs in with an admin key and gets a session cookie
// (HttpOnly, SameSite=Strict, Secure over TLS, Path=/admin) that the
// admin API accepts in place of the bearer key. Every state-changing
// request made with the cookie must carry the session's CSRF token in the
// X-CSRF-Token header, and, when the browser sends an Origin, come from
// the gateway's own origin. Sessions live in the store (only the token's
// SHA-256), so that every replica honours them and logout ends them
// everywhere.
package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net"
	"path"
	"sync"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// Names of the session cookie and of the CSRF header.
const (
	CookieName = "gw_admin_session"
	CSRFHeader = "X-CSRF-Token"
)

// DefaultTTL is a session's lifetime when Dashboard.TTL is zero.
const DefaultTTL = 12 * time.Hour

// CSP is the Content-Security-Policy of every dashboard answer: scripts,
// styles and requests only from the gateway itself, nothing inline, no
// framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

// Dashboard serves the pages and the sessions. Sessions and Authenticate
// are required.
type Dashboard struct {
	Sessions store.Sessions
	// Authenticate names the admin key key is ("" when none), comparing
	// in constant time.
	Authenticate func(key []byte) string
	// Known reports whether an admin key of that name is still configured:
	// removing a named key from gateway.toml ends its sessions. Nil: all
	// are.
	Known func(name string) bool
	// TTL is a session's lifetime; zero means DefaultTTL.
	TTL time.Duration
	// LoginBurst and LoginEvery limit admin-key guesses per client
	// address (loginlimit.go); zero means DefaultLoginBurst and
	// DefaultLoginEvery.
	LoginBurst int
	LoginEvery time.Duration
	// Audit records logins and failed ones in the audit log; nil records
	// nothing.
	Audit func(e store.AuditEntry)
	// ClientIP is the address a login counts against (behind a trusted
	// proxy, the client's, not the proxy's); nil: the peer's.
	ClientIP func(ctx *fasthttp.RequestCtx) net.IP

	limitOnce sync.Once
	limit     *loginLimiter
}

// Register adds GET /admin (the page), GET /admin/assets/{file}, POST
// /admin/login, POST /admin/logout and GET /admin/session to r.
func (d *Dashboard) Register(r *router.Router) {
	r.GET("/admin", d.handlePage)
	r.GET("/admin/assets/{file}", d.handleAsset)
	r.POST("/admin/login", d.handleLogin)
	r.POST("/admin/logout", d.handleLogout)
	r.GET("/admin/session", d.handleSession)
}

var (
	errNoSession   = &api.Error{Status: 401, Type: api.TypeAuth, Code: "invalid_session", Msg: "Not logged in, or the session expired: log in again."}
	errCSRF        = &api.Error{Status: 403, Type: api.TypeAuth, Code: "csrf_failed", Msg: "Missing or wrong " + CSRFHeader + " header for a request made with the session cookie."}
	errOrigin      = &api.Error{Status: 403, Type: api.TypeAuth, Code: "cross_origin", Msg: "Cross-origin request refused."}
	errBadLogin    = &api.Error{Status: 401, Type: api.TypeAuth, Code: "invalid_admin_key", Msg: "Incorrect admin key."}
	errLoginFormat = &api.Error{Status: 415, Type: api.TypeInvalidRequest, Code: "unsupported_media_type", Msg: `Send {"key":"…"} as application/json.`}
)

func storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

func hashToken(tok []byte) string {
	h := sha256.Sum256(tok)
	return hex.EncodeToString(h[:])
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func safeMethod(m []byte) bool {
	return bytes.Equal(m, []byte("GET")) || bytes.Equal(m, []byte("HEAD")) || bytes.Equal(m, []byte("OPTIONS"))
}

// session returns the request's session: ok false without a cookie, an
// error with a cookie that opens no session.
func (d *Dashboard) session(ctx *fasthttp.RequestCtx) (store.Session, bool, *api.Error) {
	tok := ctx.Request.Header.Cookie(CookieName)
	if len(tok) == 0 {
		return store.Session{}, false, nil
	}
	c, cancel := storeCtx()
	defer cancel()
	ses, err := d.Sessions.Session(c, hashToken(tok))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Session{}, true, errNoSession
		}
		return store.Session{}, true, api.Internal()
	}
	if d.Known != nil && !d.Known(ses.Actor) {
		return store.Session{}, true, errNoSession
	}
	return ses, true, nil
}

// Check authenticates a request by its session cookie for the admin
// API's guard: the admin key's name, "" and nil when the request carries
// no cookie, or the refusal (no such session, a missing or wrong CSRF
// token, a foreign Origin on a state-changing request).
func (d *Dashboard) Check(ctx *fasthttp.RequestCtx) (string, *api.Error) {
	ses, ok, e := d.session(ctx)
	if !ok || e != nil {
		return "", e
	}
	if !safeMethod(ctx.Method()) {
		if e := checkOrigin(ctx); e != nil {
			return "", e
		}
		got := ctx.Request.Header.Peek(CSRFHeader)
		if subtle.ConstantTimeCompare(got, []byte(ses.CSRF)) != 1 {
			return "", errCSRF
		}
	}
	return ses.Actor, nil
}

// checkOrigin refuses a request whose Origin (when the browser sends one)
// is not the gateway's own: defence in depth behind SameSite and the CSRF
// token.
func checkOrigin(ctx *fasthttp.RequestCtx) *api.Error {
	o := ctx.Request.Header.Peek("Origin")
	if len(o) == 0 {
		return nil
	}
	host := ctx.Request.Header.Host()
	for _, scheme := range []string{"http://", "https://"} {
		if bytes.Equal(o, append([]byte(scheme), host...)) {
			return nil
		}
	}
	return errOrigin
}

func secureRequest(ctx *fasthttp.RequestCtx) bool {
	return ctx.IsTLS() || bytes.EqualFold(ctx.Request.Header.Peek("X-Forwarded-Proto"), []byte("https"))
}

func (d *Dashboard) setCookie(ctx *fasthttp.RequestCtx, value string, expires time.Time, maxAge int) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(CookieName)
	c.SetValue(value)
	c.SetPath("/admin")
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	c.SetSecure(secureRequest(ctx))
	if maxAge < 0 {
		c.SetExpire(fasthttp.CookieExpireDelete)
	} else {
		c.SetExpire(expires)
		c.SetMaxAge(maxAge)
	}
	ctx.Response.Header.SetCookie(c)
}

type sessionInfo struct {
	Object    string    `json:"object"`
	Actor     string    `json:"actor"`
	CSRF      string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// handleLogin serves POST /admin/login {"key":"…"}: a session cookie and
// the CSRF token for the admin key. Only JSON is accepted, so that a
// cross-site form cannot log a browser in (a cross-site fetch with that
// type needs a CORS preflight the gateway never grants).
func (d *Dashboard) handleLogin(ctx *fasthttp.RequestCtx) {
	noStore(ctx)
	if ct := ctx.Request.Header.ContentType(); !bytes.HasPrefix(ct, []byte("application/json")) {
		api.WriteError(ctx, errLoginFormat)
		return
	}
	if e := checkOrigin(ctx); e != nil {
		api.WriteError(ctx, e)
		return
	}
	var in struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &in); err != nil || in.Key == "" {
		api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: "key", Msg: `Send {"key":"…"}: the admin key.`})
		return
	}
	d.limitOnce.Do(func() { d.limit = newLoginLimiter(d.LoginBurst, d.LoginEvery, DefaultLoginAddrs) })
	ip := ctx.RemoteIP()
	if d.ClientIP != nil {
		ip = d.ClientIP(ctx)
	}
	addr := addrKey(ip)
	if ok, retry := d.limit.take(addr, time.Now()); !ok {
		// Not audited: the limit already bounds the failures that are,
		// and a refused attempt tested no key.
		api.WriteError(ctx, &api.Error{Status: 429, Type: api.TypeRateLimit, Code: "login_rate_limited",
			Msg: "Too many failed logins from this address: try again later.", RetryAfter: int(math.Ceil(retry.Seconds()))})
		return
	}
	actor := d.Authenticate([]byte(in.Key))
	if actor == "" {
		d.audit(store.AuditEntry{Actor: "anonymous", Action: "login.failed", Target: addr})
		api.WriteError(ctx, errBadLogin)
		return
	}
	d.limit.refund(addr)
	ttl := d.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	tok := randomToken()
	now := time.Now().UTC()
	ses := store.Session{TokenHash: hashToken([]byte(tok)), Actor: actor, CSRF: randomToken(), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	c, cancel := storeCtx()
	defer cancel()
	if err := d.Sessions.CreateSession(c, ses); err != nil {
		api.WriteError(ctx, api.Internal())
		return
	}
	d.setCookie(ctx, tok, ses.ExpiresAt, int(ttl/time.Second))
	d.audit(store.AuditEntry{Actor: actor, Action: "login", Target: addr})
	api.WriteJSON(ctx, 200, sessionInfo{"session", actor, ses.CSRF, ses.ExpiresAt})
}

func (d *Dashboard) audit(e store.AuditEntry) {
	if d.Audit != nil {
		d.Audit(e)
	}
}

// handleLogout serves POST /admin/logout: the session ends in the store
// and the cookie is cleared. It needs the CSRF token like any change.
func (d *Dashboard) handleLogout(ctx *fasthttp.RequestCtx) {
	noStore(ctx)
	if _, e := d.Check(ctx); e != nil || len(ctx.Request.Header.Cookie(CookieName)) == 0 {
		if e == nil {
			e = errNoSession
		}
		api.WriteError(ctx, e)
		return
	}
	c, cancel := storeCtx()
	defer cancel()
	if err := d.Sessions.DeleteSession(c, hashToken(ctx.Request.Header.Cookie(CookieName))); err != nil {
		api.WriteError(ctx, api.Internal())
		return
	}
	d.setCookie(ctx, "", time.Time{}, -1)
	api.WriteJSON(ctx, 200, map[string]any{"object": "session", "deleted": true})
}

// handleSession serves GET /admin/session: who is logged in, and the CSRF
// token the page sends with its changes (readable only by a same-origin
// script).
func (d *Dashboard) handleSession(ctx *fasthttp.RequestCtx) {
	noStore(ctx)
	ses, ok, e := d.session(ctx)
	if !ok {
		e = errNoSession
	}
	if e != nil {
		api.WriteError(ctx, e)
		return
	}
	api.WriteJSON(ctx, 200, sessionInfo{"session", ses.Actor, ses.CSRF, ses.ExpiresAt})
}

func noStore(ctx *fasthttp.RequestCtx) { ctx.Response.Header.Set("Cache-Control", "no-store") }

// secureHeaders sets the headers of every page and asset.
func secureHeaders(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// handlePage serves the dashboard's one HTML page; it holds no data (the
// scripts fetch it), so it is served without a session.
func (d *Dashboard) handlePage(ctx *fasthttp.RequestCtx) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		api.WriteError(ctx, api.Internal())
		return
	}
	secureHeaders(ctx)
	noStore(ctx)
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBody(b)
}

var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
}

// handleAsset serves GET /admin/assets/{file}: the embedded scripts and
// styles (one directory, no subpaths).
func (d *Dashboard) handleAsset(ctx *fasthttp.RequestCtx) {
	name, _ := ctx.UserValue("file").(string)
	typ, ok := assetTypes[path.Ext(name)]
	var b []byte
	var err error
	if ok && path.Base(name) == name {
		b, err = assets.ReadFile("assets/" + name)
	}
	if !ok || err != nil {
		api.WriteError(ctx, &api.Error{Status: 404, Type: api.TypeInvalidRequest, Code: "not_found", Msg: "No such dashboard asset"})
		return
	}
	secureHeaders(ctx)
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetContentType(typ)
	ctx.SetBody(b)
}
