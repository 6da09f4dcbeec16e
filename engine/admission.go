package engine

// Admission: the request path's tenancy checks, in order — the key (admit),
// the project's rate limits, then, once the model is resolved, the
// project's allow-list and the budget reservation (admitModel).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/aigateway/gateway/engine/budget"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/tenant"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/valyala/fasthttp"
)

func keyExpired(k *tenant.Key) *apiError {
	return &apiError{Status: 401, Type: typeAuth, Code: "key_expired",
		Msg: "This API key expired at " + k.ExpiresAt.UTC().Format(time.RFC3339) + ". Ask the project's administrator for a new key."}
}

// authKey authenticates the request's client key and returns it (nil on
// an open gateway) with its project.
func (s *Server) authKey(ctx *fasthttp.RequestCtx, now time.Time) (*tenant.Key, *tenant.Project, error) {
	snap := s.ten.dir.Snapshot()
	if id, ok := batchIdentity(ctx); ok {
		return batchKey(snap, id, now) // a batch item runs as its batch's key (batches.go)
	}
	if snap.NumKeys() == 0 && s.ten.openAccess {
		return nil, snap.Project("default"), nil
	}
	key := presentedKey(&ctx.Request.Header)
	if len(key) == 0 {
		return nil, nil, ErrUnauthorized
	}
	h := sha256.Sum256(key)
	k := snap.Lookup(h)
	// The map lookup is by a hash of the secret, which tells an attacker
	// nothing; the compare keeps the old constant-time shape.
	if k == nil || subtle.ConstantTimeCompare(h[:], k.Hash[:]) != 1 {
		return nil, nil, ErrUnauthorized
	}
	if k.Revoked {
		return nil, nil, errKeyRevoked
	}
	if k.Expired(now) {
		return nil, nil, keyExpired(k)
	}
	p := snap.Project(k.ProjectID)
	if p == nil {
		return nil, nil, errKeyRevoked // its project was deleted
	}
	k.Touch(now)
	return k, p, nil
}

// endpointOf maps a client path to the ledger's endpoint ("" for paths
// that are not recorded).
func endpointOf(path []byte) string {
	switch string(path) {
	case "/v1/chat/completions", "/chat/completions":
		return store.EndpointChat
	case "/v1/completions", "/completions":
		return store.EndpointCompletions
	case "/v1/messages":
		return store.EndpointMessages
	case "/v1/responses":
		return store.EndpointResponses
	case "/v1/embeddings", "/embeddings":
		return store.EndpointEmbeddings
	}
	return ""
}

// admit is the request path's first hook: it authenticates the key,
// attaches its project to x and applies the project's request and token
// rate limits.
func (s *Server) admit(ctx *fasthttp.RequestCtx, x *exchange) error {
	x.ten.endpoint = endpointOf(ctx.Path())
	if id := ctx.Request.Header.Peek("X-Request-Id"); len(id) > 0 && bytes.Equal(id, x.reqID) {
		x.ten.clientID = true
	}
	k, p, err := s.authKey(ctx, x.start)
	if err != nil {
		return err
	}
	x.ten.key, x.ten.proj, x.project = k, p, p.ID
	if isBatchItem(ctx) {
		// A batch item is paced by [batch] concurrency, not by the
		// interactive rate limits it would exhaust (batches.go).
	} else if p.RPM > 0 {
		if err := s.projectRate(ctx, p); err != nil {
			return err
		}
	} else if err := s.rateLimit(ctx, p.ID); err != nil {
		return err
	}
	if !isBatchItem(ctx) {
		if err := s.keyRateLimit(ctx, p.ID, keyID(k)); err != nil {
			return err
		}
	}
	if p.TPM > 0 {
		used := s.ten.tokens.Used(ctx, p.ID, x.start)
		if used >= p.TPM {
			return &apiError{Status: 429, Type: typeRateLimit, Code: "tokens_rate_limit_exceeded", RetryAfter: secondsToNextMinute(x.start),
				Msg: "Token rate limit of " + strconv.FormatInt(p.TPM, 10) + " tokens per minute exceeded for project " + p.ID +
					" (" + strconv.FormatInt(used, 10) + " used in the last minute)"}
		}
	}
	return nil
}

// keyID is k's id, or "" for the open gateway's anonymous caller.
func keyID(k *tenant.Key) string {
	if k == nil {
		return ""
	}
	return k.ID
}

func secondsToNextMinute(now time.Time) int { return 60 - now.Second() }

// projectRate applies a project's own requests-per-minute limit.
func (s *Server) projectRate(ctx *fasthttp.RequestCtx, p *tenant.Project) error {
	rate := limits.PerMinute(int(p.RPM))
	d := s.ten.limiter.Allow(ctx, limits.Key{Project: p.ID, Client: "project-rpm"}, rate)
	h := &ctx.Response.Header
	var buf [20]byte
	h.SetBytesV("X-RateLimit-Limit", strconv.AppendInt(buf[:0], int64(d.Limit), 10))
	h.SetBytesV("X-RateLimit-Remaining", strconv.AppendInt(buf[:0], int64(d.Remaining), 10))
	h.SetBytesV("X-RateLimit-Reset", strconv.AppendInt(buf[:0], int64(d.ResetSeconds()), 10))
	if d.Allowed {
		return nil
	}
	return &apiError{Status: 429, Type: typeRateLimit, Code: "rate_limit_exceeded", RetryAfter: d.RetryAfterSeconds(),
		Msg: "Rate limit of " + strconv.FormatInt(p.RPM, 10) + " requests per minute exceeded for project " + p.ID}
}

// requestedModel returns the model to resolve for a request naming name:
// the project's default model for an empty name or "default", else name.
func (x *exchange) requestedModel(name string) string {
	if name == "" || name == "default" {
		if p := x.ten.proj; p != nil && p.DefaultModel != "" {
			return p.DefaultModel
		}
		return ""
	}
	return name
}

// defaultModel is the model for a request that still names none after
// routing: the project's default, else the gateway's.
func (s *Server) defaultModel(x *exchange) string {
	if p := x.ten.proj; p != nil && p.DefaultModel != "" && p.DefaultModel != "auto" {
		return p.DefaultModel
	}
	return s.cfg.DefaultModel
}

// cacheNamespace partitions the response caches by the project's
// namespace (its id unless set).
func (x *exchange) cacheNamespace() string {
	if p := x.ten.proj; p != nil && p.CacheNamespace != "" {
		return p.CacheNamespace
	}
	return x.project
}

// Policy skip lists of the project overrides (static: no allocation).
var (
	skipSkills = []string{"skills"}
	skipStrip  = []string{"stripper"}
	skipBoth   = []string{"skills", "stripper"}
)

// policySkips names the policies x's project turned off.
func (x *exchange) policySkips() []string {
	p := x.ten.proj
	if p == nil {
		return nil
	}
	skills := p.Skills != nil && !*p.Skills
	strip := p.StripBoilerplate != nil && !*p.StripBoilerplate
	switch {
	case skills && strip:
		return skipBoth
	case skills:
		return skipSkills
	case strip:
		return skipStrip
	}
	return nil
}

// admitModel is the hook once the model is known: the project's
// allow-list, then its budget (a reservation of the request's worst-case
// cost, settled in tenancyFinish).
func (s *Server) admitModel(ctx context.Context, x *exchange, requested string, m *catalog.Model, body []byte, maxTokens int) error {
	p := x.ten.proj
	if p == nil || x.ten.admitted {
		return nil // a translated /v1/messages request was admitted already
	}
	x.ten.admitted = true
	x.ten.requested = requested
	if err := s.modelRefused(p, requested, m, x.tier); err != nil {
		return err
	}
	if p.BudgetUSD <= 0 {
		return nil
	}
	est := estimateCost(m, len(body), maxTokens, x.ten.endpoint == store.EndpointEmbeddings)
	r, err := s.ten.bud.Reserve(ctx, budget.Limit{Project: p.ID, BudgetUSD: p.BudgetUSD, Period: p.BudgetPeriod}, est)
	if err != nil {
		var ee *budget.ExceededError
		if errors.As(err, &ee) {
			return &apiError{Status: 402, Type: "insufficient_quota", Code: "budget_exceeded", Msg: ee.Error()}
		}
		return err
	}
	x.ten.resv = r
	return nil
}

// modelRefused is the 403 for a model outside p's allow-list, nil when
// p may use it.
func (s *Server) modelRefused(p *tenant.Project, requested string, m *catalog.Model, tier string) error {
	if s.modelAllowed(p, requested, m, tier) {
		return nil
	}
	return &apiError{Status: 403, Type: "permission_error", Code: "model_not_allowed", Param: "model",
		Msg: "Project " + p.ID + " may not use model `" + displayModel(requested, m) + "`; allowed: " + strings.Join(p.Models, ", ")}
}

func displayModel(requested string, m *catalog.Model) string {
	if requested != "" && requested != "auto" {
		return requested
	}
	return m.Name
}

// modelAllowed applies the allow-list: an entry matches the requested
// name, the resolved model (an alias resolves), the routing tier, or
// "provider/*".
func (s *Server) modelAllowed(p *tenant.Project, requested string, m *catalog.Model, tier string) bool {
	if len(p.Models) == 0 {
		return true
	}
	for _, e := range p.Models {
		switch {
		case e == requested || e == m.Name || (tier != "" && e == tier):
			return true
		case strings.HasSuffix(e, "/*") && e[:len(e)-2] == m.Provider:
			return true
		}
		if am, err := s.catalog.Resolve(e); err == nil && am.Name == m.Name {
			return true
		}
	}
	return false
}

// defaultOutputTokens is the worst case of a model that declares no
// output cap.
const defaultOutputTokens = 4096

// estimateCost is a request's worst-case cost: the prompt as a quarter of
// the body's bytes (JSON syntax included, so it overestimates text; real
// tokenisers average 3.5-4.5 characters per token in English and code) at
// the input price, plus the output cap (max_tokens, else the model's
// MaxOutputTokens) at the output price.
func estimateCost(m *catalog.Model, bodyBytes, maxTokens int, embeddings bool) float64 {
	prompt := float64(bodyBytes/4 + 1)
	out := 0
	if !embeddings {
		// No model writes past its limit: a larger max_tokens is capped
		// on the way up (upstream.go) or refused there.
		out = maxTokens
		if out <= 0 || (m.MaxOutputTokens > 0 && out > m.MaxOutputTokens) {
			out = m.MaxOutputTokens
		}
		if out <= 0 {
			out = defaultOutputTokens
		}
	}
	return (prompt*m.InputPrice + float64(out)*m.OutputPrice) / 1e6
}

// maxTokensOf reads max_tokens from a raw (Anthropic-format) body.
func maxTokensOf(body []byte) int {
	v := jsonscan.Get(body[jsonscan.SkipSpace(body, 0):], "max_tokens")
	n, err := strconv.Atoi(unsafeconv.String(v))
	if err != nil {
		return 0
	}
	return n
}

// tenancyFinish is the request path's last hook, from exchange.finish:
// settle the budget, count the tokens, queue the ledger row and raise
// request.failed.
