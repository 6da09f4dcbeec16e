package engine

import (
	"context"

	"fmt"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/limits"

	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/engine/cache/semantic"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// newSemantic builds the opt-in semantic cache; nil when it is off.
func (s *Server) newSemantic() (*semantic.Cache, error) {
	sc := s.cfg.Cache.Semantic
	if !sc.Enabled || s.cache == nil {
		return nil, nil
	}
	cfg := semantic.Config{Threshold: sc.Threshold, MaxTurnChars: sc.MaxTurnChars, RedisURL: s.cfg.Cache.RedisURL,
		MaxWordDiff: sc.MaxWordDiff, MaxEntriesPerScope: sc.MaxEntriesPerScope, MaxEntries: sc.MaxEntries,
		MaxBytes: int64(sc.MaxMB) << 20, StoreToolCalls: sc.StoreToolCalls, RefreshInterval: sc.RefreshInterval.D(),
		EmbedTimeout: sc.EmbedTimeout.D(), EmbedQueue: sc.EmbedQueue}
	if sc.EmbeddingModel != "" {
		m, err := s.catalog.Resolve(sc.EmbeddingModel)
		if err != nil {
			return nil, fmt.Errorf("cache.semantic.embedding_model: %w", err)
		}
		if _, ok := s.upstreams[m.Provider].p.(providers.Embedder); !ok {
			return nil, fmt.Errorf("cache.semantic.embedding_model: provider %s serves no embeddings", m.Provider)
		}
		cfg.Embedder = semantic.NewProvider(protectedEmbedder{s, m}, m.Provider, m.Upstream)
	}
	s.semProjects = map[string]bool{}
	for _, p := range sc.Projects {
		s.semProjects[p] = true
	}
	return semantic.New(cfg)
}

// semanticFor reports whether project opted in to the semantic cache.
func (s *Server) semanticFor(project string) bool {
	return s.sem != nil && (len(s.semProjects) == 0 || s.semProjects[project])
}

// newCache builds the response cache from the configuration; nil when it is
// disabled (a nil *cache.Cache answers "bypass").
func newCache(cfg *Config) (*cache.Cache, error) {
	cc := cfg.Cache
	if !cc.Enabled {
		return nil, nil
	}
	rules := func(m map[string]CacheRule) map[string]cache.Rule {
		out := map[string]cache.Rule{}
		for k, r := range m {
			out[k] = cache.Rule{Mode: cache.Mode(r.Mode), TTL: r.TTL.D()}
		}
		return out
	}
	return cache.New(cache.Config{
		MemoryMB:        cc.MemoryMB,
		HotEntries:      cc.HotEntries,
		HotMaxBytes:     cc.HotMaxBytes,
		RedisURL:        cc.RedisURL,
		RedisTimeout:    cc.RedisTimeout.D(),
		RedisBackoff:    cc.RedisBackoff.D(),
		RedisMaxBackoff: cc.RedisMaxBack.D(),
		RedisQueue:      cc.RedisQueue,
		CompressBytes:   cc.CompressBytes,
		FlightTimeout:   cc.FlightTimeout.D(),
		Policy: cache.Policy{
			Mode: cache.Mode(cc.Mode), TTL: cc.TTL.D(), MaxEntryBytes: cc.MaxEntryBytes, SkipToolCalls: cc.SkipToolCalls,
			Models: rules(cc.Models), Projects: rules(cc.Projects),
		},
	})
}

// handleAdminCache serves GET /admin/cache: tier statistics, and the
// semantic cache's when it is on.
func (s *Server) handleAdminCache(ctx *fasthttp.RequestCtx) {
	out := map[string]any{"exact": s.cache.Stats()}
	if s.sem != nil {
		out["semantic"] = s.sem.Stats()
	}
	writeJSON(ctx, 200, out)
}

// handleAdminCachePurge serves DELETE /admin/cache[?project=P][&model=provider/model].
func (s *Server) handleAdminCachePurge(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	project, model := string(args.Peek("project")), string(args.Peek("model"))
	p, err := s.cache.Purge(ctx, project, model)
	if err != nil {
		writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "purge_failed", Msg: "cache purge failed: " + err.Error()})
		return
	}
	out := map[string]any{"exact": p}
	if s.sem != nil {
		sp, err := s.sem.Purge(ctx, project, model)
		if err != nil {
			writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "purge_failed", Msg: "semantic cache purge failed: " + err.Error()})
			return
		}
		out["semantic"] = sp
	}
	writeJSON(ctx, 200, out)
}

// protectedEmbedder sends the semantic cache's embedding calls through the
// one upstream call path (slot, retries, breaker, metrics).
type protectedEmbedder struct {
	s *Server
	m *catalog.Model
}

// Embed calls the embedding model.
func (e protectedEmbedder) Embed(ctx context.Context, body []byte, _ string) (*providers.Response, error) {
	uc := upstreamCall{kind: callEmbed, models: []*catalog.Model{e.m}, body: body}
	if err := e.s.callUpstream(ctx, nil, &uc, []limits.Target{{Provider: e.m.Provider, Model: e.m.Upstream}}); err != nil {
		return nil, err
	}
	return uc.resp, nil
}
