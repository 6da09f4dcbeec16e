package engine

import (
	"strconv"
	"sync"
	"time"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/engine/cache/semantic"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/frontend/messages"
	"github.com/aigateway/gateway/engine/ledger"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
	"github.com/valyala/fasthttp"
)

// exchange is one chat request's state from decode to the last byte sent.
// It outlives the handler when the answer streams, and is pooled.
type exchange struct {
	s        *Server
	start    time.Time
	req      *providers.Request
	call     providers.Call
	project  string
	model    *catalog.Model
	slot     *upstreamSlot
	resp     *providers.Response
	reqID    []byte
	idBuf    []byte
	pkey     []byte // the prompt_cache_key (promptkey.go)
	status   int
	errCode  string
	upstream time.Duration // time spent waiting on the upstream
	ttft     time.Duration
	usage    providers.Usage
	stream   bool
	gone     bool // the client went away mid-stream
	acquired bool
	format   format
	// relay is what the stream body sends: the provider's stream, or a
	// translation of it for Anthropic-format clients.
	relay   providers.Stream
	models  []*catalog.Model
	targets []limits.Target
	// uc is the upstream call that answers the request (upstream.go);
	// overflowOnly marks targets tried only after a context overflow.
	uc           upstreamCall
	overflowOnly uint64
	scratch      []byte
	cost         float64
	saved        accounting.Saved
	body         streamBody
	in           wasm.Input
	out          wasm.Output
	ckey         cache.Key
	hit          bool
	// tier is the routing tier the router chose ("" when not routed);
	// extraCost is spent on calls that did not produce the answer (a
	// cascade's rejected cheap attempt).
	tier      string
	extraCost float64
	// classifierCost is the phase-2 classifier's part of extraCost (the
	// rest is the cascade's).
	classifierCost float64
	// rowSeq makes the ledger row's id unique when the client chose the
	// request id (0 until fillRow draws it); hold keeps the provisional
	// row of a request accounted after its answer (savings.go).
	rowSeq uint64
	hold   ledger.Hold
	// total is the request's duration, for an accountant that accounts it later.
	total time.Duration
	// stripTokens and dedupTokens are the prompt tokens the policies
	// removed; gatewayBreakpoints says the gateway placed the Anthropic
	// cache breakpoints.
	stripTokens, dedupTokens int
	pruned                   int // estimated prompt tokens context pruning removed (pruning.go)
	gatewayBreakpoints       bool
	// removed is what counting stripTokens and dedupTokens needs; they are
	// counted after the answer is sent (savings.go).
	removed accounting.RemovedText
	// semStore: store the streamed answer in the semantic cache at the end.
	semStore bool
	semTTL   time.Duration
	reason   []byte // X-Gateway-Route-Reason
	tags     []byte // policy tags for the access log, "k=v k=v"

	// ten is the key, project and budget reservation (tenancy.go).
	ten xTenancy
	// rsp is a Responses API request's state (responses.go).
	rsp *responsesState
	// ses is the request's session (sessions.go); nil without one.
	ses *sessionState
}

// format is the wire format the client speaks.
type format uint8

const (
	formatOpenAI format = iota
	formatAnthropic
	// formatNative: the upstream already answered in the client's format
	// (Anthropic passthrough); relayed as it is.
	formatNative
	// formatResponses: an OpenAI Responses API client (responses.go).
	formatResponses
	// formatCompletions: a legacy Completions API client (completions.go).
	formatCompletions
)

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

func (s *Server) acquireExchange(ctx *fasthttp.RequestCtx) *exchange {
	x := exchangePool.Get().(*exchange)
	x.s, x.start = s, time.Now()
	x.req = providers.AcquireRequest()
	x.reqID = append(x.reqID[:0], ctx.Response.Header.Peek("X-Request-Id")...)
	inFlight.Add(1)
	return x
}

// finish records metrics and the access log, then releases everything.
func (x *exchange) finish() {
	if x.settle() {
		x.release()
	}
}

// settle is finish without the release: metrics, the upstream slot, and
// the accounting (ledger row, access log). It reports false when x went to
// the accountant, which releases it.
func (x *exchange) settle() bool {
	total := time.Since(x.start)
	inFlight.Add(-1)
	if x.acquired {
		<-x.slot.sem
	}
	provider, model := "none", "none"
	if x.model != nil {
		provider, model = x.model.Provider, x.model.Name
	}
	mm := metricsFor(provider, model)
	mm.request(x.status)
	mm.e2e.Update(seconds(total))
	if x.upstream > 0 {
		mm.upstream.Update(seconds(x.upstream))
		overheadSeconds.Update(seconds(total - x.upstream))
	}
	if x.ttft > 0 {
		mm.ttft.Update(seconds(x.ttft))
	}
	if x.usage.Set {
		mm.inTok.Add(x.usage.PromptTokens)
		mm.cachedTok.Add(x.usage.CachedTokens)
		mm.outTok.Add(x.usage.CompletionTokens)
	}
	if x.countsRemoved() {
		// Journaled now, before the answer's last byte, in case the
		// process dies before the accountant records the final row.
		x.s.holdRow(x, total)
		if x.s.submitAccount(x, total) {
			return false // accounted after the answer is sent (savings.go)
		}
	}
	x.price(total)
	x.hold.Release()
	return true
}

// account prices the request, credits its savings, writes its ledger row,
// usage and access-log line, then releases the exchange.
func (x *exchange) account(total time.Duration) {
	x.price(total)
	x.hold.Release()
	x.release()
}

// price is account without the release.
func (x *exchange) price(total time.Duration) {
	if x.countsRemoved() {
		x.stripTokens, x.dedupTokens = x.removed.Count()
	}
	if x.hit {
		x.saved[accounting.Cache], x.cost = accounting.Cost(x.model, x.usage), 0
	} else if x.usage.Set {
		if x.cost == 0 {
			x.cost = accounting.Cost(x.model, x.usage)
		}
		x.s.creditSavings(x)
	}
	x.cost += x.extraCost
	x.s.tenancyFinish(x, total) // ledger row, budget settlement (tenancy.go)
	accounting.Count(x.model, x.cost, &x.saved)
	x.s.accessLog(x, total)
}

// release returns x and what it holds to their pools.
func (x *exchange) release() {
	if x.resp != nil {
		x.resp.Close()
	}
	providers.ReleaseRequest(x.req)
	reqID, idBuf, pkey, scratch, reason, tags := x.reqID[:0], x.idBuf[:0], x.pkey[:0], x.scratch[:0], x.reason[:0], x.tags[:0]
	models, targets, co := x.models[:0], x.targets[:0], x.body.coalesce[:0]
	clear(models[:cap(models)])
	in, out, removed := x.in, x.out, x.removed
	in.Reset()
	out.Reset()
	removed.Reset()
	*x = exchange{reqID: reqID, idBuf: idBuf, pkey: pkey, scratch: scratch, reason: reason, tags: tags, in: in, out: out, models: models, targets: targets, removed: removed}
	x.body.coalesce = co
	exchangePool.Put(x)
}

func (x *exchange) fail(ctx *fasthttp.RequestCtx, err error) {
	e := overloadStatus(toAPIError(err), x.format == formatAnthropic || x.format == formatNative)
	x.status, x.errCode = e.Status, e.Code
	if e.Status >= 500 {
		x.s.log.Warn("request failed", "id", string(x.reqID), "status", e.Status, "error", err.Error())
	}
	if x.format == formatAnthropic || x.format == formatNative {
		writeAnthropicError(ctx, e)
	} else {
		writeError(ctx, e)
	}
	x.finish()
}

// decodeTranslated keeps b, the chat request another client API's request
// was translated into (err is the translation's), as the exchange's
// scratch and decodes it as the exchange's request; false when it failed
// and the client has its error.
func (x *exchange) decodeTranslated(ctx *fasthttp.RequestCtx, b []byte, err error) bool {
	x.scratch = b
	if err == nil {
		err = x.req.Decode(b)
	}
	if err != nil {
		x.fail(ctx, err)
		return false
	}
	return true
}

// handleChat serves POST /v1/chat/completions.
func (s *Server) handleChat(ctx *fasthttp.RequestCtx) {
	x := s.acquireExchange(ctx)
	if s.draining.Load() {
		ctx.SetConnectionClose()
	}
	if err := s.admit(ctx, x); err != nil { // key, project, rate limits (tenancy.go)
		x.fail(ctx, err)
		return
	}
	if err := x.req.Decode(ctx.PostBody()); err != nil {
		x.fail(ctx, err)
		return
	}
	if err := s.mergeSession(ctx, x); err != nil {
		x.fail(ctx, err)
		return
	}
	s.serve(ctx, x, x.req.Model)
}

// dropClientBody lets go of the client's body once x.req holds its own copy,
// when the body is large and the answer streams: fasthttp keeps a request's
// body buffer (rounded up to a power of two: 32 KiB for a 17 KiB prompt)
// until the answer is written, for a stream its whole life. The connection's
// next request allocates a new buffer; a small body keeps its buffer, so
// that ordinary requests allocate nothing. serve calls it for every client
// API; a handler that still points into the body (the Messages API's model
// name) keeps that buffer alive, correct but without the saving.
func dropClientBody(ctx *fasthttp.RequestCtx) {
	if cap(ctx.Request.Body()) > 4<<10 {
		ctx.Request.SwapBody(nil)
	}
}

// serve resolves the model, calls the provider and renders the answer in the
// client's format. x.req is decoded; x owns the request from here on.
func (s *Server) serve(ctx *fasthttp.RequestCtx, x *exchange, name string) {
	if x.req.Stream {
		dropClientBody(ctx)
	}
	// The model the client named, if any: the gateway chose any other
	// (routing, a default, a cascade), and caps the client's max_tokens at
	// that model's output limit (upstreamCall.chosen).
	named := name
	if named == "auto" || named == "default" {
		named = ""
	}
	name = x.requestedModel(name) // the project's default_model (tenancy.go)
	if s.policies != nil {
		var done bool
		if name, done = s.runPolicies(ctx, x, name); done {
			return
		}
	}
	if name == "" || name == "auto" {
		name = s.defaultModel(x)
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.model = m
	if err := checkCapabilities(x.req, m); err != nil {
		x.fail(ctx, err)
		return
	}
	if err := s.pruneContext(ctx, x, m); err != nil {
		x.fail(ctx, err)
		return
	}
	// The project's model allow-list and budget (tenancy.go).
	if err := s.admitModel(ctx, x, x.req.Model, m, x.req.Body, x.req.MaxTokens); err != nil {
		x.fail(ctx, err)
		return
	}
	if s.policies != nil && s.wantsCascade(ctx, x) {
		up := s.cascade(ctx, x, m)
		if up == "" {
			return
		}
		name = up
		if m, err = s.catalog.Resolve(up); err != nil {
			x.fail(ctx, err)
			return
		}
		x.model = m
	}
	if s.upstreams[m.Provider] == nil {
		x.fail(ctx, catalog.NotConfigured(name, m.Provider))
		return
	}
	x.stream = x.req.Stream
	x.idBuf = append(append(x.idBuf[:0], "chatcmpl-"...), x.reqID...)
	x.call = providers.Call{
		Req:     x.req,
		ID:      unsafeconv.String(x.idBuf),
		Created: x.start.Unix(),
		Header:  &ctx.Request.Header,
	}
	if s.cfg.Optimize.PromptCacheKey {
		x.call.PromptCacheKey = x.promptCacheKey(&ctx.Request.Header)
	}
	s.targets(x, name, m)
	s.noteBreakpoints(x)
	// The cache key covers the request as the policies left it.
	// Decide first: hashing a large request (SHA-256 of every message, 0.2
	// ms for 100 KiB) is wasted on one that will not be stored, nor read:
	// a bypass neither looks the key up nor stores under it.
	var d cache.Decision
	if s.cache != nil {
		d = s.cache.Policy().Decide(x.req, x.project, m.Provider, m.Upstream, m.Deterministic)
	}
	hdr := &ctx.Request.Header
	dir := cache.ParseDirective(hdr.Peek("X-Gateway-Cache"), hdr.Peek("Cache-Control"))
	if d.Cache && dir != cache.Bypass {
		x.ckey = cache.KeyFor(x.req, x.cacheNamespace(), m.Provider, m.Upstream)
	}
	cr := s.cache.Begin(x.ckey, d, dir)
	x.ten.cache = cr.Header()
	ctx.Response.Header.Set("X-Gateway-Cache", x.ten.cache)
	switch {
	case cr.Entry != nil:
		x.cacheHit(ctx, cr.Entry)
		return
	case cr.Err != nil:
		x.fail(ctx, cr.Err)
		return
	}
	useSem := d.Cache && dir != cache.Bypass && s.semanticFor(x.project)
	if useSem && dir.Read() {
		if e, sim, ok := s.sem.Lookup(ctx, x.req, x.cacheNamespace(), m.Provider, m.Upstream); ok {
			x.ten.cache = "hit-semantic"
			ctx.Response.Header.Set("X-Gateway-Cache", "hit-semantic")
			ctx.Response.Header.SetBytesV("X-Gateway-Cache-Similarity", semantic.AppendSimilarity(nil, sim))
			cr.Flight.SkipStore()
			cr.Flight.Done(e, nil)
			x.cacheHit(ctx, e)
			return
		}
	}
	x.uc = upstreamCall{kind: callChat, models: x.models, call: &x.call, overflowOnly: x.overflowOnly, anthropicClient: x.format == formatAnthropic,
		chosen: named == "" || name != named}
	if x.rsp != nil {
		x.uc.kind, x.uc.rsp, x.uc.stream = callResponses, x.rsp, x.req.Stream // responsesnative.go
	}
	if err = s.callUpstream(ctx, x, &x.uc, x.targets); err != nil {
		cr.Flight.Done(nil, err)
		x.fail(ctx, err)
		return
	}
	x.takeAnswer(&x.uc)
	if x.uc.native {
		x.call.Header = nil
		s.renderNative(ctx, x, m, cr.Flight)
		return
	}
	if x.model != m {
		cr.Flight.SkipStore() // a fallback answered: share it, don't store it under m
	}
	switch {
	case cr.Flight == nil:
	case x.resp.Stream != nil:
		x.resp.Stream = cr.Flight.Record(x.resp.Stream, x.model.Upstream)
		// The assembled answer is stored when the stream ends; the
		// semantic cache takes it from there (streamBody.Close).
		x.semStore = useSem && x.model == m
		x.semTTL = d.TTL
	default:
		e, perr := cache.ParseCompletion(x.resp.Body, x.model.Upstream)
		cr.Flight.Done(e, perr)
		if useSem && perr == nil && x.model == m {
			_ = s.sem.StoreTTL(ctx, x.req, x.cacheNamespace(), m.Provider, m.Upstream, e, d.TTL)
		}
	}
	x.call.Header = nil // the request header is gone once the handler returns
	s.render(ctx, x)
}

// render writes a successful provider answer in the client's format.
func (s *Server) render(ctx *fasthttp.RequestCtx, x *exchange) {
	resp, m := x.resp, x.model
	h := &ctx.Response.Header
	h.Set("X-Gateway-Provider", m.Provider)
	h.Set("X-Gateway-Model", m.Upstream)
	if len(x.reason) > 0 {
		h.SetBytesV("X-Gateway-Route-Reason", x.reason)
	}
	if resp.Stream != nil {
		if x.ses != nil {
			resp.Stream = &sessionStream{inner: resp.Stream, ses: x.ses, model: m.Upstream}
		}
		x.relay = resp.Stream
		if x.format == formatAnthropic {
			x.relay = messages.NewStream(resp.Stream, m.Upstream)
		} else if x.format == formatResponses {
			x.relay = s.responseStream(x, resp.Stream, m)
		} else if x.format == formatCompletions {
			x.relay = newCompletionsStream(x, resp.Stream)
		}
		x.startStream(ctx)
		return
	}
	x.usage = resp.Usage
	x.ttft = x.upstream
	if x.hit {
		x.saved[accounting.Cache] = accounting.Cost(m, x.usage)
		x.cost = 0
	} else {
		x.cost = accounting.Cost(m, x.usage)
		s.creditSavings(x)
	}
	x.setCostHeaders(h)
	body := resp.Body
	if x.format == formatAnthropic {
		b, err := messages.FromCompletion(x.scratch[:0], resp.Body)
		x.scratch = b
		if err != nil {
			x.fail(ctx, &apiError{Status: 502, Type: typeUpstream, Code: "bad_upstream_response", Msg: "upstream answer could not be translated: " + err.Error()})
			return
		}
		body = b
	} else if x.format == formatResponses {
		b, err := s.responseBody(x, resp.Body)
		if err != nil {
			x.fail(ctx, err)
			return
		}
		body = b
	} else if x.format == formatCompletions {
		b, err := completionsBody(x, resp.Body)
		if err != nil {
			x.fail(ctx, err)
			return
		}
		body = b
	}
	x.ses.save(resp.Body)
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
	x.status = 200
	x.finish()
}

// takeAnswer makes c's answer the exchange's; a stream's slot is given
// back when the exchange finishes.
func (x *exchange) takeAnswer(c *upstreamCall) {
	x.resp, x.model = c.resp, c.model
	if c.slot != nil {
		x.slot, x.acquired = c.slot, true
	}
}

// checkCapabilities refuses requests that need what the model lacks.
func checkCapabilities(r *providers.Request, m *catalog.Model) error {
	missing := ""
	switch {
	case len(r.Tools) > 0 && !m.Tools:
		missing = "tools"
	case r.HasImages() && !m.Vision:
		missing = "vision (image inputs)"
	case r.WantsJSON() && !m.JSON:
		missing = "JSON mode (response_format)"
	}
	if missing == "" {
		return nil
	}
	return &apiError{Status: 400, Type: typeInvalidRequest, Code: "model_capability_missing", Param: "model",
		Msg: "The model `" + m.Name + "` does not support " + missing + "; choose a model that does, or use model \"auto\""}
}

// setCostHeaders reports the request's cost and savings on non-streaming
// answers (a stream's headers leave before its usage is known).
func (x *exchange) setCostHeaders(h *fasthttp.ResponseHeader) {
	var buf [32]byte
	h.SetBytesV("X-Gateway-Cost-USD", strconv.AppendFloat(buf[:0], x.cost+x.extraCost, 'f', 8, 64))
	saved := 0.0
	for _, v := range x.saved {
		saved += v
	}
	h.SetBytesV("X-Gateway-Saved-USD", strconv.AppendFloat(buf[:0], saved, 'f', 8, 64))
}

// cacheHit serves a cached answer like an upstream one: a body, or a replayed
// stream. Its usage is the cost avoided, not tokens spent.
func (x *exchange) cacheHit(ctx *fasthttp.RequestCtx, e *cache.Entry) {
	x.hit = true
	if x.req.Stream || x.format != formatOpenAI {
		x.resp = e.Response(x.call.ID, x.req.Stream, x.req.IncludeUsage)
		x.s.render(ctx, x)
		return
	}
	// The common case, a non-streaming OpenAI-format hit, renders the entry
	// straight into the response body: no allocation.
	m := x.model
	h := &ctx.Response.Header
	h.Set("X-Gateway-Provider", m.Provider)
	h.Set("X-Gateway-Model", m.Upstream)
	if len(x.reason) > 0 {
		h.SetBytesV("X-Gateway-Route-Reason", x.reason)
	}
	x.usage = e.Usage
	x.saved[accounting.Cache], x.cost = accounting.Cost(m, x.usage), 0
	x.setCostHeaders(h)
	ctx.SetContentType("application/json")
	b := ctx.Response.SwapBody(nil)
	ctx.Response.SwapBody(e.AppendCompletion(b[:0], x.call.ID))
	x.ses.save(ctx.Response.Body())
	x.status = 200
	x.finish()
}

// startStream answers 200 with x.relay's events as the body: the SSE
// headers, and the body writer that relays them on the connection's
// goroutine once the handler returns.
func (x *exchange) startStream(ctx *fasthttp.RequestCtx) {
	x.status = 200
	h := &ctx.Response.Header
	ctx.SetContentType("text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	x.body.reset(x)
	ctx.SetBodyStream(&x.body, -1)
}
