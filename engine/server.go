// Package engine is the gateway's request pipeline: the HTTP server, its
// configuration, authentication, model resolution, provider dispatch,
// streaming, metrics and logs.
package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/admin"
	"github.com/aigateway/gateway/engine/batch"
	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/engine/cache/semantic"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/dashboard"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/engine/routing"
	"github.com/aigateway/gateway/policies"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// Server is the gateway's HTTP server.
//
// # Notes
//
// Build one with New; it is safe for concurrent use. Shutdown drains it.
type Server struct {
	cfg       *Config
	catalog   *catalog.Catalog
	upstreams map[string]*upstreamSlot
	srv       *fasthttp.Server
	log       *slog.Logger
	hasAdmin  bool
	adm       *admin.API           // nil without a store
	dash      *dashboard.Dashboard // nil without an admin key
	// skills is gateway.toml's [[skills]], for GET /v1/skills; replaced
	// with the policies on POST /admin/reload.
	skills atomic.Pointer[[]policies.Skill]
	// weightsMu serialises changes of the router's weights: an upload, a
	// deletion, a replica's fan-out.
	weightsMu sync.Mutex
	// ten is the store, usage ledger, client keys, budgets and webhooks
	// (tenancy.go).
	ten      *tenancy
	draining atomic.Bool
	policies *wasm.Host
	limiter  limits.Limiter
	rate     limits.Rate
	runner   *limits.Runner
	cache    *cache.Cache
	sem      *semantic.Cache
	// semProjects lists the projects that opted in (empty: all).
	semProjects map[string]bool
	sync        *policySync
	sessions    *sessions  // nil unless [sessions] enabled (sessions.go)
	stubs       stubMemory // pruned outputs' stubs (pruning_summary.go)
	// tiers binds routing tiers to model names; classifier is phase 2.
	tiers      routing.Tiers
	classifier *classifier
	idPrefix   string
	idSeq      atomic.Uint64
	started    time.Time
	// configPath and getenv let POST /admin/reload read the configuration
	// again.
	configPath string
	getenv     func(string) string
	// access receives the access log, one JSON line per request.
	// It is set after New (SetAccessLog) while the batch runner may
	// already serve items, so it is swapped atomically.
	access atomic.Pointer[accessSink]
	// acct accounts the requests whose savings need a token count, after
	// their answers (savings.go).
	acct *accounting.Accountant
	// batches is the Files and Batch APIs and their runner (batches.go).
	batches *batch.Service
}

// upstreamSlot is a provider with its in-flight bound.
type upstreamSlot struct {
	p   providers.Provider
	sem chan struct{}
	cfg ProviderConfig
}

// New builds a Server from a validated configuration. logger receives the
// access log and operational messages.
func New(cfg *Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	cat, err := NewCatalog(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, catalog: cat, log: logger, upstreams: map[string]*upstreamSlot{}, started: time.Now()}
	// Request ids are the ledger's row ids: 64 random bits per process
	// keep them unique across restarts and replicas.
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	s.idPrefix = hex.EncodeToString(rnd[:])
	s.hasAdmin = cfg.AdminKey != "" || len(cfg.AdminKeys) > 0
	skills := cfg.Skills
	s.skills.Store(&skills)
	for _, name := range cfg.EnabledProviders() {
		pc := cfg.Providers[name]
		p, err := buildProvider(name, pc)
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", name, err)
		}
		s.upstreams[name] = &upstreamSlot{p: p, sem: make(chan struct{}, pc.MaxInFlight), cfg: pc}
	}
	if s.limiter, s.runner, err = newReliability(cfg); err != nil {
		return nil, fmt.Errorf("reliability: %w", err)
	}
	s.rate = limits.PerMinute(cfg.Reliab.RateLimitRPM)
	s.rate.Burst = cfg.Reliab.RateLimitBurst
	if s.cache, err = newCache(cfg); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if s.sessions, err = newSessions(cfg); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	if s.sem, err = s.newSemantic(); err != nil {
		return nil, fmt.Errorf("semantic cache: %w", err)
	}
	if s.tiers, err = routing.BindTiers(cfg.Routing.Tiers, cat); err != nil {
		return nil, err
	}
	s.classifier = newClassifier(s)
	if s.policies, err = newPolicyHost(cfg, cat); err != nil {
		return nil, err
	}
	s.policies.OnFailure(newFailureLogger(logger, policyFailureLogEvery).failed)
	s.logPolicyWarnings()
	if cfg.Cache.RedisURL != "" {
		if s.sync, err = s.startPolicySync(cfg.Cache.RedisURL); err != nil {
			return nil, fmt.Errorf("policy fan-out: %w", err)
		}
	}
	if err := s.openTenancy(); err != nil {
		return nil, err
	}
	s.acct = accounting.NewAccountant()
	s.batches = s.newBatches() // batches.go
	s.dash = s.newDashboard()
	s.srv = &fasthttp.Server{
		Handler:                       s.Handler(),
		Name:                          "ai-gateway",
		MaxRequestBodySize:            cfg.MaxBodyBytes,
		ReadTimeout:                   cfg.ReadTimeout.D(),
		MaxConnsPerIP:                 cfg.MaxConnsPerIP,
		ReadBufferSize:                cfg.MaxHeaderBytes,
		IdleTimeout:                   90 * time.Second,
		NoDefaultServerHeader:         true,
		NoDefaultDate:                 false,
		DisableHeaderNamesNormalizing: false,
		CloseOnShutdown:               true,
		ReduceMemoryUsage:             false,
		ErrorHandler:                  s.transportError,
		Logger:                        fasthttpLogger{newLibLogger(logger, "fasthttp", slog.LevelWarn)},
	}
	s.batches.Start() // after s.srv: its items run through s.srv.Handler
	// Start-up compiles and validates every policy: tens of MB of garbage
	// (decoded modules, compiler state) that the heap would otherwise keep
	// until it grew to twice its live size. Collect it and give the pages
	// back now, once: an idle gateway holds what it uses.
	debug.FreeOSMemory()
	return s, nil
}

// SetAccessLog sends the access log (one JSON line per request) to w; nil
// turns it off. Set it before serving.
func (s *Server) SetAccessLog(w io.Writer) {
	if w == nil {
		s.access.Store(nil)
		return
	}
	s.access.Store(&accessSink{w})
}

// accessSink holds the access log's writer.
type accessSink struct{ w io.Writer }

// Handler returns the gateway's routes.
func (s *Server) Handler() fasthttp.RequestHandler {
	r := router.New()
	r.RedirectTrailingSlash = false
	r.HandleOPTIONS = true // the router sets Allow; preflight adds CORS (cors.go)
	r.GlobalOPTIONS = s.preflight
	r.POST("/v1/chat/completions", s.handleChat)
	r.POST("/chat/completions", s.handleChat)
	r.POST("/v1/completions", s.handleCompletions) // completions.go
	r.POST("/completions", s.handleCompletions)
	r.POST("/v1/messages", s.handleMessages)
	r.POST("/v1/messages/count_tokens", s.handleCountTokens)
	r.POST("/v1/responses", s.handleResponses)                         // responses.go
	r.POST("/v1/responses/input_tokens", s.handleResponsesInputTokens) // responsestokens.go
	r.GET("/v1/responses/{id}", s.handleGetResponse)
	r.DELETE("/v1/responses/{id}", s.handleDeleteResponse)
	r.GET("/v1/responses/{id}/input_items", s.handleResponseInputItems)
	r.POST("/v1/responses/{id}/cancel", s.handleCancelResponse) // responsesreplay.go
	if s.batches != nil {
		s.batches.Register(r) // engine/batch: /v1/files, /v1/batches and the seed's /v1/batch
	}
	r.POST("/v1/embeddings", s.handleEmbeddings)
	r.POST("/embeddings", s.handleEmbeddings)
	r.GET("/v1/models", s.handleModels)
	r.GET("/models", s.handleModels)
	r.GET("/v1/models/{model:*}", s.handleModel) // the id may hold a slash: mock/echo
	r.GET("/models/{model:*}", s.handleModel)
	r.GET("/healthz", s.handleHealth)
	r.GET("/readyz", s.handleReady)
	r.GET("/metrics", s.handleMetrics)
	if s.dash != nil {
		s.dash.Register(r) // engine/dashboard: the admin UI and its sessions
	} else {
		r.GET("/admin", func(ctx *fasthttp.RequestCtx) { writeError(ctx, errAdminDisabled) })
	}
	r.GET("/admin/classic", s.handleAdminPage)
	if s.adm != nil {
		s.adm.Register(r, s.admin) // engine/admin: projects, keys, webhooks, usage, requests, audit
	}
	r.POST("/admin/reload", s.admin(s.audited("reload", s.handleReload)))
	r.GET("/admin/cache", s.admin(s.handleAdminCache))
	r.GET("/admin/policies", s.admin(s.handlePolicyList))
	r.GET("/admin/policies/{name}", s.admin(s.handlePolicyGet))
	r.PUT("/admin/policies/{name}", s.admin(s.audited("policy.put", s.handlePolicyPut)))
	r.DELETE("/admin/policies/{name}", s.admin(s.audited("policy.delete", s.handlePolicyDelete)))
	r.POST("/admin/policies/{name}/rollback", s.admin(s.audited("policy.rollback", s.handlePolicyRollback)))
	r.GET("/admin/routing/weights", s.admin(s.handleWeightsGet))
	r.PUT("/admin/routing/weights", s.admin(s.audited("routing.weights.put", s.handleWeightsPut)))
	r.DELETE("/admin/routing/weights", s.admin(s.audited("routing.weights.delete", s.handleWeightsDelete)))
	r.GET("/v1/skills", s.handleSkills)
	r.GET("/skills", s.handleSkills)
	r.DELETE("/admin/cache", s.admin(s.audited("cache.purge", s.handleAdminCachePurge)))
	r.NotFound = func(ctx *fasthttp.RequestCtx) {
		writeErrorFor(ctx, &apiError{Status: 404, Type: typeInvalidRequest, Code: "not_found", Msg: "Unknown path " + string(ctx.Path())})
	}
	r.MethodNotAllowed = func(ctx *fasthttp.RequestCtx) {
		writeErrorFor(ctx, &apiError{Status: 405, Type: typeInvalidRequest, Code: "method_not_allowed", Msg: "Method " + string(ctx.Method()) + " is not allowed on " + string(ctx.Path())})
	}
	r.PanicHandler = func(ctx *fasthttp.RequestCtx, v any) {
		s.log.Error("panic in handler", "path", string(ctx.Path()), "panic", fmt.Sprint(v))
		writeErrorFor(ctx, &apiError{Status: 500, Type: typeServer, Code: "internal_error", Msg: "internal gateway error"})
	}
	h := r.Handler
	return func(ctx *fasthttp.RequestCtx) {
		s.setRequestID(ctx)
		if s.refuseOrigin(ctx) { // cors.go
			writeError(ctx, errForeignOrigin)
			return
		}
		s.setCORS(ctx)
		if !s.normalizeBody(ctx) { // reqbody.go: Content-Encoding, a BOM
			return
		}
		if ctx.IsHead() && headAsGet(r, ctx) {
			// HEAD is GET without the body (RFC 9110 §9.3.2): the GET route
			// answers, through the router for its panic handler, and
			// fasthttp drops the body as the method is HEAD again by then.
			ctx.Request.Header.SetMethod(fasthttp.MethodGet)
			h(ctx)
			ctx.Request.Header.SetMethod(fasthttp.MethodHead)
			return
		}
		h(ctx)
		if sc := ctx.Response.StatusCode(); sc == 301 || sc == 307 || sc == 308 {
			relativeRedirect(ctx)
		}
	}
}

// headAsGet reports whether a HEAD request has no route of its own but a
// GET route.
func headAsGet(r *router.Router, ctx *fasthttp.RequestCtx) bool {
	path := string(ctx.Request.URI().PathOriginal())
	if h, _ := r.Lookup(fasthttp.MethodHead, path, ctx); h != nil {
		return false
	}
	h, _ := r.Lookup(fasthttp.MethodGet, path, ctx)
	return h != nil
}

// transportError answers requests fasthttp could not parse: oversized bodies
// get a 413 before the body is read whole.
func (s *Server) transportError(ctx *fasthttp.RequestCtx, err error) {
	// Not routed through Handler: the request id and CORS are set here, so
	// that a client can quote the id and a browser can read the envelope.
	s.setRequestID(ctx)
	s.setCORS(ctx)
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		bodyTooLarge.Inc()
		ctx.SetConnectionClose()
		lingerOnClose(ctx) // conns.go: the client is still sending the body
		writeErrorFor(ctx, &apiError{Status: 413, Type: typeInvalidRequest, Code: "request_too_large",
			Msg: fmt.Sprintf("Request body exceeds the limit of %d bytes (max_body_bytes)", s.cfg.MaxBodyBytes)})
		return
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		headerTooLarge.Inc()
		ctx.SetConnectionClose()
		writeError(ctx, &apiError{Status: 431, Type: typeInvalidRequest, Code: "header_too_large",
			Msg: fmt.Sprintf("Request line and headers exceed the limit of %d bytes (max_header_bytes)", s.cfg.MaxHeaderBytes)})
		return
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		writeError(ctx, &apiError{Status: 408, Type: typeInvalidRequest, Code: "request_timeout", Msg: "Request not received in time"})
		return
	}
	writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "bad_request", Msg: "Malformed HTTP request"})
}

// writeErrorFor writes e in the envelope of the API that ctx's path
// belongs to: Anthropic's under /v1/messages, whose SDKs read only that
// one, else OpenAI's. For the answers given outside a handler (unknown
// path or method, a body over max_body_bytes, a panic).
func writeErrorFor(ctx *fasthttp.RequestCtx, e *apiError) {
	if p := ctx.Path(); bytes.Equal(p, messagesPath) || bytes.HasPrefix(p, messagesSubtree) {
		writeAnthropicError(ctx, e)
		return
	}
	writeError(ctx, e)
}

var messagesPath, messagesSubtree = []byte("/v1/messages"), []byte("/v1/messages/")

// setRequestID echoes the client's X-Request-Id or makes one. Under
// /v1/messages, and on any request with an anthropic-version header (the
// Anthropic SDKs send it on every call, GET /v1/models included), the same
// id is also sent as Anthropic's request-id, the header the Anthropic SDKs
// read into a response's and an error's request id.
func (s *Server) setRequestID(ctx *fasthttp.RequestCtx) {
	var buf [32]byte
	id := ctx.Request.Header.Peek("X-Request-Id")
	if len(id) == 0 || len(id) > 128 || !printable(id) {
		id = append(buf[:0], s.idPrefix...)
		id = append(id, '-')
		id = appendHex(id, s.idSeq.Add(1))
	}
	ctx.Response.Header.SetBytesV("X-Request-Id", id)
	if p := ctx.Path(); bytes.Equal(p, messagesPath) || bytes.HasPrefix(p, messagesSubtree) || anthropicVersioned(ctx) {
		ctx.Response.Header.SetBytesV("Request-Id", id)
	}
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

func appendHex(dst []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = digits[v&0xf]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(dst, tmp[i:]...)
}

// authenticate checks the client key (gateway.toml's or a project key,
// see authKey in tenancy.go) and returns its project.
func (s *Server) authenticate(ctx *fasthttp.RequestCtx) (string, error) {
	_, p, err := s.authKey(ctx, time.Now())
	if err != nil {
		return "", err
	}
	return p.ID, nil
}

// authorizeAdmin checks the admin key (admin_key or a named admin key).
func (s *Server) authorizeAdmin(ctx *fasthttp.RequestCtx) bool {
	return s.hasAdmin && s.adminActor(ctx) != ""
}

func presentedKey(h *fasthttp.RequestHeader) []byte {
	if a := h.Peek("Authorization"); len(a) > 7 && strings.EqualFold(string(a[:7]), "bearer ") {
		return trimSpace(a[7:])
	}
	if k := h.Peek("x-api-key"); len(k) > 0 {
		return trimSpace(k)
	}
	return trimSpace(h.Peek("api-key"))
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func (s *Server) handleHealth(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"ok"}`)
}

func (s *Server) handleReady(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	if s.draining.Load() {
		ctx.SetStatusCode(503)
		ctx.SetBodyString(`{"status":"draining"}`)
		return
	}
	ctx.SetBodyString(`{"status":"ready","providers":` + jsonStrings(s.catalog.EnabledProviders()) + `}`)
}

func (s *Server) handleMetrics(ctx *fasthttp.RequestCtx) {
	if s.hasAdmin && !s.authorizeAdmin(ctx) {
		writeError(ctx, toAPIError(ErrUnauthorized))
		return
	}
	ctx.SetContentType("text/plain; version=0.0.4")
	metrics.WritePrometheus(ctx, true)
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	// Two switches, named for what they guard: client keys on /v1 (static
	// or project keys, or no open access), and the admin API (off without
	// an admin key).
	s.log.Info("gateway listening", "addr", ln.Addr().String(), "providers", s.catalog.EnabledProviders(),
		"client_auth", s.ten.dir.Snapshot().NumKeys() > 0 || !s.ten.openAccess, "admin_api", s.hasAdmin)
	return s.srv.Serve(newGuardedListener(ln, s.cfg, s.log))
}

// ListenAndServe listens on the configured address and serves.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Shutdown stops accepting connections and waits for in-flight requests,
// streams included, until ctx ends; then it closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	err := s.srv.ShutdownWithContext(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("drain timeout reached; closing remaining connections", "in_flight", inFlight.Load())
	}
	if s.batches != nil {
		// Items in flight run through the pipeline: finish them before
		// the policies, caches and ledger close.
		if berr := s.batches.Close(ctx); berr != nil {
			s.log.Warn("batch runner: items still in flight at shutdown", "error", berr.Error())
		}
	}
	s.sessions.close()
	if s.sync != nil {
		s.sync.close()
	}
	if s.policies != nil {
		_ = s.policies.Close(context.Background())
	}
	if s.sem != nil {
		_ = s.sem.Close()
	}
	if s.cache != nil {
		_ = s.cache.Close()
	}
	// Then the requests still waiting for their token count, and last the
	// ledger, which writes the rows of the requests drained above.
	if s.acct != nil {
		s.acct.Close()
	}
	if s.ten != nil {
		s.ten.close(ctx, s)
	}
	return err
}

// Addr is the configured listen address.
func (s *Server) Addr() string { return s.cfg.Listen }

func jsonStrings(ss []string) string {
	var b []byte
	b = append(b, '[')
	for i, v := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, v...)
		b = append(b, '"')
	}
	return string(append(b, ']'))
}
