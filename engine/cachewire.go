package engine

import (
	"github.com/aigateway/gateway/engine/cache"
	"github.com/valyala/fasthttp"
)

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

// handleAdminCache serves GET /admin/cache: tier statistics.
func (s *Server) handleAdminCache(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, 200, s.cache.Stats())
}

// handleAdminCachePurge serves DELETE /admin/cache[?project=P][&model=provider/model].
func (s *Server) handleAdminCachePurge(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	p, err := s.cache.Purge(ctx, string(args.Peek("project")), string(args.Peek("model")))
	if err != nil {
		writeError(ctx, &apiError{Status: 500, Type: typeServer, Code: "purge_failed", Msg: "cache purge failed: " + err.Error()})
		return
	}
	writeJSON(ctx, 200, p)
}
