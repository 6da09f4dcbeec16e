package engine

import (
	"strconv"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// handleModels serves GET /v1/models: the catalog of configured providers
// with provider, context window, prices and capabilities as extra fields,
// plus the models that listing providers (Ollama) report.
func (s *Server) handleModels(ctx *fasthttp.RequestCtx) {
	if _, err := s.authenticate(ctx); err != nil {
		writeError(ctx, toAPIError(err))
		return
	}
	created := strconv.FormatInt(s.started.Unix(), 10)
	b := []byte(`{"object":"list","data":[`)
	first := true
	entry := func(m *catalog.Model) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"id":`...)
		b = jsonscan.AppendQuote(b, m.Name)
		b = append(b, `,"object":"model","created":`...)
		b = append(b, created...)
		b = append(b, `,"owned_by":`...)
		b = jsonscan.AppendQuote(b, m.Provider)
		b = append(b, `,"provider":`...)
		b = jsonscan.AppendQuote(b, m.Provider)
		b = append(b, `,"upstream_model":`...)
		b = jsonscan.AppendQuote(b, m.Upstream)
		if m.ContextWindow > 0 {
			b = append(b, `,"context_window":`...)
			b = strconv.AppendInt(b, int64(m.ContextWindow), 10)
		}
		if m.MaxOutputTokens > 0 {
			b = append(b, `,"max_output_tokens":`...)
			b = strconv.AppendInt(b, int64(m.MaxOutputTokens), 10)
		}
		b = append(b, `,"pricing":{"input_per_million":`...)
		b = strconv.AppendFloat(b, m.InputPrice, 'f', -1, 64)
		b = append(b, `,"output_per_million":`...)
		b = strconv.AppendFloat(b, m.OutputPrice, 'f', -1, 64)
		b = append(b, `,"cached_input_per_million":`...)
		b = strconv.AppendFloat(b, m.CachedPrice, 'f', -1, 64)
		b = append(b, `},"capabilities":{"tools":`...)
		b = strconv.AppendBool(b, m.Tools)
		b = append(b, `,"vision":`...)
		b = strconv.AppendBool(b, m.Vision)
		b = append(b, `,"json":`...)
		b = strconv.AppendBool(b, m.JSON)
		b = append(b, `,"reasoning":`...)
		b = strconv.AppendBool(b, m.Reasoning)
		b = append(b, "}}"...)
	}
	seen := map[string]bool{}
	for _, m := range s.catalog.Models() {
		seen[m.Name] = true
		entry(m)
	}
	for name, slot := range s.upstreams {
		lister, ok := slot.p.(providers.ModelLister)
		if !ok {
			continue
		}
		names, err := lister.ListModels()
		if err != nil {
			s.log.Warn("listing models failed", "provider", name, "error", err.Error())
			continue
		}
		for _, n := range names {
			full := name + "/" + n
			if seen[full] {
				continue
			}
			seen[full] = true
			entry(&catalog.Model{Name: full, Provider: name, Upstream: n, Tools: true, Vision: true, JSON: true})
		}
	}
	b = append(b, "]}"...)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
