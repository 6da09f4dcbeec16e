package engine

import (
	"net/url"
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
	for i, m := range s.listModels() {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, m.Name, m, created)
	}
	b = append(b, "]}"...)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// handleModel serves GET /v1/models/{model} (OpenAI's "retrieve model",
// which the SDKs' models.retrieve calls): the entry GET /v1/models lists
// for that name, or for the catalog model an alias or a bare name
// resolves to, under the name the client asked for. A name the list does
// not hold (a provider/model passed through unchecked) is a 404
// model_not_found, as OpenAI answers for a model it does not serve.
func (s *Server) handleModel(ctx *fasthttp.RequestCtx) {
	if _, err := s.authenticate(ctx); err != nil {
		writeError(ctx, toAPIError(err))
		return
	}
	// The router matches the raw path: the SDKs send mock%2Fecho.
	id, _ := ctx.UserValue("model").(string)
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	if m := s.findModel(id); m != nil {
		ctx.SetContentType("application/json")
		ctx.SetBody(appendModel(nil, id, m, strconv.FormatInt(s.started.Unix(), 10)))
		return
	}
	writeError(ctx, toAPIError(&catalog.ResolveError{Msg: "The model `" + id + "` does not exist; see GET /v1/models"}))
}

// findModel returns the listed model named id, directly or through the
// catalog's resolution (aliases, bare names), or nil.
func (s *Server) findModel(id string) *catalog.Model {
	if id == "" {
		return nil
	}
	name := id
	if m, err := s.catalog.Resolve(id); err == nil {
		name = m.Name
	}
	for _, m := range s.listModels() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// listModels returns the catalog's models of the configured providers,
// then the models that listing providers report and the catalog lacks.
func (s *Server) listModels() []*catalog.Model {
	out := s.catalog.Models()
	seen := make(map[string]bool, len(out))
	for _, m := range out {
		seen[m.Name] = true
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
			out = append(out, &catalog.Model{Name: full, Provider: name, Upstream: n, Tools: true, Vision: true, JSON: true})
		}
	}
	return out
}

// appendModel appends m as an OpenAI model object named id, with the
// gateway's extra fields.
func appendModel(b []byte, id string, m *catalog.Model, created string) []byte {
	b = append(b, `{"id":`...)
	b = jsonscan.AppendQuote(b, id)
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
	return append(b, "}}"...)
}
