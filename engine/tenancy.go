package engine

// Tenancy glue: the store, the usage ledger, the key directory, budgets
// and webhooks, and the hooks the request path calls (admit, admitModel,
// tenancyFinish). The logic lives in engine/store, engine/ledger,
// engine/tenant, engine/budget and engine/webhook; this file wires them to
// the server and maps their answers to the client's error envelope.

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/admin"
	"github.com/aigateway/gateway/engine/budget"
	"github.com/aigateway/gateway/engine/ledger"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/engine/redisconn"
	"github.com/aigateway/gateway/engine/routing"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/tenant"
	"github.com/aigateway/gateway/engine/webhook"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// tenancy is the server's durable side.
type tenancy struct {
	st     store.Store
	led    *ledger.Writer
	dir    *tenant.Directory
	bud    *budget.Tracker
	hooks  *webhook.Dispatcher
	tokens limits.TokenCounter
	rdb    redis.UniversalClient
	// limiter serves project RPM limits when the global rate limit is off;
	// failedLimiter throttles request.failed events.
	limiter       limits.Limiter
	failedLimiter *limits.Local
	log           *slog.Logger
	// openAccess: with no key at all, requests are served as project
	// "default" (loopback, or allow_unauthenticated).
	openAccess bool
	admins     []namedAdminKey
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

type namedAdminKey struct {
	hash [sha256.Size]byte
	name string
}

// xTenancy is one request's tenancy state (a field of exchange).
type xTenancy struct {
	key  *tenant.Key
	proj *tenant.Project
	// endpoint is the ledger's endpoint; empty: the request is not
	// recorded (count_tokens).
	endpoint string
	// requested is the model the client named; it may alias the request
	// body, so it is copied when the row is built.
	requested string
	cache     string // X-Gateway-Cache
	clientID  bool   // X-Request-Id came from the client
	admitted  bool   // admitModel ran
	resv      budget.Reservation
}

// discardSink accepts and drops every usage row (Config.DiscardLedger).
type discardSink struct{}

func (discardSink) InsertUsage(_ context.Context, rows []store.UsageRow) (int, error) {
	return len(rows), nil
}

// openTenancy opens the store, replays the ledger's spill, loads projects
// and keys, and starts the background loops.
func (s *Server) openTenancy() error {
	cfg := s.cfg
	t := &tenancy{openAccess: cfg.AllowUnauthenticated || isLoopback(cfg.Listen), log: s.log, failedLimiter: limits.NewLocal()}
	if cfg.AdminKey != "" {
		t.admins = append(t.admins, namedAdminKey{hash: sha256.Sum256([]byte(cfg.AdminKey)), name: "admin"})
	}
	for _, k := range cfg.AdminKeys {
		t.admins = append(t.admins, namedAdminKey{hash: hashOf(k.Key, k.SHA256), name: k.Name})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, store.Config{URL: cfg.Store.URL, DataDir: cfg.sqliteDir(), MaxConns: cfg.Store.MaxConns})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	t.st = st
	ok := false
	defer func() {
		if !ok {
			t.close(context.Background(), s)
		}
	}()
	if err := syncStaticProjects(ctx, st, cfg); err != nil {
		return err
	}
	if cfg.Cache.RedisURL != "" {
		if t.rdb, err = redisconn.Open(cfg.Cache.RedisURL, redisconn.Tuning{DialTimeout: 2 * time.Second,
			ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	logErr := func(what string) func(error) {
		return func(err error) { s.log.Warn(what, "error", err.Error()) }
	}
	var sink ledger.Sink = st
	if cfg.Store.discardLedger {
		sink = discardSink{}
	}
	tail := admin.NewTail(0) // the dashboard's live tail: rows as the ledger stores them
	if t.led, err = ledger.New(tail.Wrap(sink), ledger.Config{FlushInterval: cfg.Store.FlushInterval.D(), BatchRows: cfg.Store.BatchRows,
		MaxRows: cfg.Store.QueueRows, SpillDir: cfg.spillDir(), DisableJournal: !cfg.Store.Journal, OnError: logErr("usage ledger")}); err != nil {
		return err
	}
	_, implicit := cfg.staticProjects()
	if t.dir, err = tenant.New(ctx, st, staticKeys(cfg.Keys), implicit, tenant.Options{
		PollInterval: cfg.Store.PollInterval.D(), Redis: t.rdb, OnError: logErr("tenancy refresh")}); err != nil {
		return err
	}
	if t.hooks, err = webhook.New(st, webhook.Options{
		Allow: cfg.Webhooks.Allow, Timeout: cfg.Webhooks.Timeout.D(), MaxAttempts: cfg.Webhooks.MaxAttempts,
		BackoffBase: cfg.Webhooks.BackoffBase.D(), BackoffMax: cfg.Webhooks.BackoffMax.D(),
		PollInterval: cfg.Webhooks.PollInterval.D(), OnError: logErr("webhooks")}); err != nil {
		return err
	}
	t.bud = budget.New(st, budget.Options{Redis: t.rdb, Thresholds: cfg.Webhooks.BudgetThresholds,
		OnThreshold: t.budgetEvent, OnError: logErr("budget")})
	if t.rdb != nil {
		t.tokens = limits.NewRedisTokens(t.rdb)
	} else {
		t.tokens = limits.NewLocalTokens()
	}
	t.limiter = s.limiter
	if t.limiter == nil {
		if t.rdb != nil {
			l, err := limits.NewRedis(t.rdb, cfg.redisLimits())
			if err != nil {
				return err
			}
			t.limiter = l
		} else {
			t.limiter = limits.NewLocal()
		}
	}
	s.runner.Breakers().SetOnOpen(t.breakerOpen)
	bg, stop := context.WithCancel(context.Background())
	t.cancel = stop
	t.wg.Add(4)
	go func() { defer t.wg.Done(); t.dir.Run(bg) }()
	go func() { defer t.wg.Done(); t.hooks.Run(bg) }()
	go func() { defer t.wg.Done(); t.retention(bg, cfg.Store.RetentionDays, logErr("retention")) }()
	go func() {
		defer t.wg.Done()
		t.responsesRetention(bg, cfg.Store.ResponsesRetention.D(), logErr("responses retention")) // batches.go
	}()
	s.ten = t
	s.adm = &admin.API{Store: t.st, Dir: t.dir, Budgets: t.bud, Hooks: t.hooks, Ledger: t.led, Log: s.log,
		Resolve: func(name string) error { _, err := s.catalog.Resolve(name); return err },
		Actor:   s.adminName, Emit: t.emit, Facts: adminFacts{s}, Tail: tail}
	ok = true
	return nil
}

// audited records a successful admin action of the engine's own (policies,
// routing weights, cache purge, reload) in the audit log (engine/admin),
// with the state it replaces where there is one: the policy's or the
// weights' description as their GET serves it.
func (s *Server) audited(action string, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	if s.adm == nil {
		return h
	}
	var before func(ctx *fasthttp.RequestCtx) any
	switch {
	case strings.HasPrefix(action, "policy."):
		before = func(ctx *fasthttp.RequestCtx) any {
			name, _ := ctx.UserValue("name").(string)
			if info, ok := s.policies.Get(name); ok {
				return info
			}
			return nil
		}
	case strings.HasPrefix(action, "routing.weights."):
		before = func(*fasthttp.RequestCtx) any {
			b, source, err := routing.LoadWeights(s.cfg.DataDir, s.cfg.Routing.Weights)
			if err != nil {
				return nil
			}
			return routing.WeightsInfo(b, source)
		}
	}
	return s.adm.Audited(action, before, h)
}

// syncStaticProjects makes the store's static projects those of
// gateway.toml: [[projects]], and the projects [[keys]] name (unless a
// project created through the API already has that id: the key then
// belongs to it).
func syncStaticProjects(ctx context.Context, st store.Store, cfg *Config) error {
	declared, implicit := cfg.staticProjects()
	have, err := st.ListProjects(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	dynamic := map[string]bool{}
	for _, p := range have {
		if !p.Static {
			dynamic[p.ID] = true
		}
	}
	for _, id := range implicit {
		if !dynamic[id] {
			declared = append(declared, store.Project{ID: id, Name: id, Static: true})
		}
	}
	if err := st.SyncStatic(ctx, declared); err != nil {
		return fmt.Errorf("[[projects]]: %w", err)
	}
	return nil
}

// retention prunes old ledger rows and finished deliveries daily.
func (t *tenancy) retention(ctx context.Context, days int, report func(error)) {
	if days <= 0 {
		return
	}
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		before := time.Now().AddDate(0, 0, -days)
		if _, err := t.st.PruneUsage(ctx, before); err != nil && ctx.Err() == nil {
			report(err)
		}
		if _, err := t.st.PruneDeliveries(ctx, before); err != nil && ctx.Err() == nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// close stops the loops, flushes the ledger and closes the store.
func (t *tenancy) close(ctx context.Context, s *Server) {
	t.closeOnce.Do(func() {
		if t.cancel != nil {
			t.cancel()
			t.wg.Wait()
		}
		// The ledger gets at least a few seconds even when the drain used
		// the whole deadline: what it cannot write it spills.
		lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 10*time.Second {
			lctx = ctx
		}
		if t.bud != nil {
			t.bud.Close(lctx)
		}
		if t.led != nil {
			if err := t.led.Close(lctx); err != nil {
				s.log.Error("usage ledger: rows lost at shutdown", "error", err.Error())
			}
		}
		if rt, ok := t.tokens.(*limits.RedisTokens); ok {
			rt.Close()
		}
		if t.rdb != nil {
			_ = t.rdb.Close()
		}
		if t.st != nil {
			_ = t.st.Close()
		}
	})
}

func hashOf(key, sha string) [sha256.Size]byte {
	if key != "" {
		return sha256.Sum256([]byte(key))
	}
	var h [sha256.Size]byte
	b, _ := hex.DecodeString(sha) // validated
	copy(h[:], b)
	return h
}

func staticKeys(keys []KeyConfig) []tenant.StaticKey {
	out := make([]tenant.StaticKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, tenant.StaticKey{Hash: hashOf(k.Key, k.SHA256), ProjectID: k.Project, Name: k.Name})
	}
	return out
}

// adminActor names the admin key the request presents ("" when none
// matches). Every configured key is compared, in constant time.
func (s *Server) adminActor(ctx *fasthttp.RequestCtx) string {
	key := presentedKey(&ctx.Request.Header)
	if len(key) == 0 || s.ten == nil {
		return ""
	}
	h := sha256.Sum256(key)
	name := ""
	for i := range s.ten.admins {
		if subtle.ConstantTimeCompare(h[:], s.ten.admins[i].hash[:]) == 1 && name == "" {
			name = s.ten.admins[i].name
		}
	}
	return name
}

// Errors of the tenancy hooks.
var (
	errKeyRevoked = &apiError{Status: 401, Type: typeAuth, Code: "key_revoked", Msg: "This API key has been revoked. Ask the project's administrator for a new key."}
)

func (s *Server) tenancyFinish(x *exchange, total time.Duration) {
	t := s.ten
	if t == nil || x.ten.proj == nil {
		return // unauthenticated: in the access log and metrics only
	}
	x.ten.resv.Settle(x.cost)
	if x.usage.Set && x.ten.proj.TPM > 0 {
		t.tokens.Add(context.Background(), x.project, int64(x.usage.PromptTokens+x.usage.CompletionTokens), x.start)
	}
	if x.ten.endpoint == "" {
		return
	}
	var r store.UsageRow
	var idBuf *rowIDBuf
	if x.ten.clientID {
		idBuf = rowIDPool.Get().(*rowIDBuf)
		defer rowIDPool.Put(idBuf)
	}
	s.fillRow(&r, x, total, idBuf)
	t.led.Record(&r)
	if x.status >= 500 {
		t.requestFailed(&r)
	}
}

// rowIDBuf holds a row id made unique; pooled (a local array would escape).
type rowIDBuf struct{ b []byte }

var rowIDPool = sync.Pool{New: func() any { return &rowIDBuf{b: make([]byte, 0, 160)} }}

// fillRow builds x's ledger row. Its strings may view request memory
// (the id, the requested model, the route reason): Record copies them.
func (s *Server) fillRow(r *store.UsageRow, x *exchange, total time.Duration, idBuf *rowIDBuf) {
	id := x.reqID
	if idBuf != nil {
		// A client's X-Request-Id may repeat: the row id gets a
		// gateway-unique suffix so that no request is taken for a replay.
		id = append(append(idBuf.b[:0], x.reqID...), '~')
		if x.rowSeq == 0 { // once: a provisional row and its final share it
			x.rowSeq = s.idSeq.Add(1)
		}
		id = appendHex(id, x.rowSeq)
		idBuf.b = id
	}
	r.ID = unsafeconv.String(id)
	r.RequestedModel = x.ten.requested
	if r.RequestedModel == "" && x.req != nil {
		r.RequestedModel = x.req.Model
	}
	r.RouteReason = unsafeconv.String(x.reason)
	r.ErrorCode = x.errCode
	r.Time = x.start
	r.ProjectID = x.project
	if x.ten.key != nil {
		r.KeyID = x.ten.key.ID
	}
	r.Endpoint = x.ten.endpoint
	if m := x.model; m != nil {
		r.ServedModel, r.Provider = m.Name, m.Provider
	}
	r.Status = x.status
	if x.usage.Set {
		r.PromptTokens = int64(x.usage.PromptTokens)
		r.CachedTokens = int64(x.usage.CachedTokens)
		r.CacheWriteTokens = int64(x.usage.CacheWriteTokens)
		r.CompletionTokens = int64(x.usage.CompletionTokens)
	}
	r.CostUSD = x.cost
	r.ClassifierCostUSD, r.CascadeExtraCostUSD = x.classifierCost, x.extraCost-x.classifierCost
	r.Savings = store.Savings{ResponseCache: x.saved[accounting.Cache], ProviderPromptCache: x.saved[accounting.Prompt],
		IDEBoilerplate: x.saved[accounting.Strip], FileDedup: x.saved[accounting.Dedup], Routing: x.saved[accounting.Routing]}
	r.LatencyMS = float64(total.Microseconds()) / 1000
	r.UpstreamMS = float64(x.upstream.Microseconds()) / 1000
	r.Cache = x.ten.cache
	if x.hit && r.Cache == "" {
		r.Cache = "hit"
	}
	r.Stream = x.stream
}
