package engine

import (
	"context"
	"time"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/engine/routing"
	"github.com/aigateway/gateway/providers"
)

// classifier is the second routing phase: a small model decides the tier of
// requests the router found ambiguous. Its answers are cached per
// conversation tail.
type classifier struct {
	s       *Server
	model   *catalog.Model
	timeout time.Duration

	cache routing.ClassifierCache
}

// newClassifier returns the phase-2 classifier, or nil unless
// routing.classifier_model names one (any configured provider's model):
// phase 2 is an extra upstream call per ambiguous request, so it is never
// made unless the operator asks for it. Without it the router's own tier
// stands.
func newClassifier(s *Server) *classifier {
	name := s.cfg.Routing.ClassifierModel
	if name == "" {
		return nil
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		return nil
	}
	return &classifier{s: s, model: m, timeout: s.cfg.Routing.ClassifierTimeout.D()}
}

// classify returns the tier for r, or ok false when the classifier failed
// (any failure: the caller keeps the router's fallback).
func (c *classifier) classify(ctx context.Context, x *exchange, r *providers.Request) (tier, reason string, ok bool) {
	b, key := routing.ClassifierRequest(r)
	if tier, reason, hit := c.cache.Get(key); hit {
		return tier, reason + " (cached)", true
	}
	req := providers.AcquireRequest()
	defer providers.ReleaseRequest(req)
	if err := req.Decode(b); err != nil {
		return "", "", false
	}
	call := providers.Call{Req: req, ID: "chatcmpl-classifier", Created: time.Now().Unix()}
	uc := upstreamCall{kind: callClassifier, models: []*catalog.Model{c.model}, call: &call}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.s.callUpstream(cctx, x, &uc, []limits.Target{{Provider: c.model.Provider, Model: c.model.Upstream}}); err != nil {
		classifierErrors.Inc()
		return "", "", false
	}
	resp := uc.resp
	// The classifier works for this request: its project pays.
	cost := accounting.Cost(uc.model, resp.Usage)
	x.extraCost += cost
	x.classifierCost += cost
	defer resp.Close()
	tier, reason, ok = routing.ParseAnswer(resp.Body)
	if !ok {
		classifierErrors.Inc()
		return "", "", false
	}
	c.cache.Put(key, tier, reason)
	return tier, reason, true
}
