package engine

import (
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// handleModels serves GET /v1/models: the catalog of configured providers
// with provider, context window, prices and capabilities as extra fields,
// plus the models that listing providers (Ollama) report. A request with
// an anthropic-version header gets Anthropic's list instead
// (anthropicModels).
func (s *Server) handleModels(ctx *fasthttp.RequestCtx) {
	anth := anthropicVersioned(ctx)
	if _, err := s.authenticate(ctx); err != nil {
		writeModelsError(ctx, anth, toAPIError(err))
		return
	}
	if anth {
		s.anthropicModels(ctx)
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
// model_not_found, as OpenAI answers for a model it does not serve. With
// an anthropic-version header the model and the error are Anthropic's
// (https://docs.anthropic.com/en/api/models: {type, id, display_name,
// created_at}; 404 not_found_error).
func (s *Server) handleModel(ctx *fasthttp.RequestCtx) {
	anth := anthropicVersioned(ctx)
	if _, err := s.authenticate(ctx); err != nil {
		writeModelsError(ctx, anth, toAPIError(err))
		return
	}
	// The router matches the raw path: the SDKs send mock%2Fecho.
	id, _ := ctx.UserValue("model").(string)
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	if m := s.findModel(id); m != nil {
		ctx.SetContentType("application/json")
		if anth {
			ctx.SetBody(appendAnthropicModel(nil, id, m, s.started))
		} else {
			ctx.SetBody(appendModel(nil, id, m, strconv.FormatInt(s.started.Unix(), 10)))
		}
		return
	}
	writeModelsError(ctx, anth, toAPIError(&catalog.ResolveError{Msg: "The model `" + id + "` does not exist; see GET /v1/models"}))
}

// anthropicVersioned reports whether the request carries an
// anthropic-version header: every Anthropic SDK sends one on every call,
// and no OpenAI client does, so it tells the two APIs' clients apart on
// the routes they share (GET /v1/models).
func anthropicVersioned(ctx *fasthttp.RequestCtx) bool {
	return len(ctx.Request.Header.Peek("anthropic-version")) > 0
}

// writeModelsError writes e in Anthropic's envelope for an Anthropic
// client (anth), else OpenAI's.
func writeModelsError(ctx *fasthttp.RequestCtx, anth bool, e *apiError) {
	if anth {
		writeAnthropicError(ctx, e)
		return
	}
	writeError(ctx, e)
}

// Anthropic's list page sizes (https://docs.anthropic.com/en/api/models-list).
const (
	anthropicModelsLimit    = 20
	anthropicModelsMaxLimit = 1000
)

// anthropicModels answers GET /v1/models for an Anthropic client, in the
// shape of Anthropic's List Models
// (https://docs.anthropic.com/en/api/models-list): {"data":[model…],
// "has_more","first_id","last_id"} over the same models, in the same
// order, as the OpenAI list. Pages follow Anthropic's cursors: limit (1 to
// 1,000, default 20), after_id (the page after that model) or before_id
// (the page just before it); has_more says whether more models lie in
// the page's direction, first_id and last_id are null on an empty page.
// A cursor that names no listed model, or both cursors at once, is a 400
// naming the member: the gateway's list has no stable order to resume
// from once a model has gone.
func (s *Server) anthropicModels(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	limit := anthropicModelsLimit
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > anthropicModelsMaxLimit {
			writeAnthropicError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "limit",
				Msg: "limit: Input should be an integer from 1 to 1000"})
			return
		}
		limit = n
	}
	after, before := args.Peek("after_id"), args.Peek("before_id")
	if len(after) > 0 && len(before) > 0 {
		writeAnthropicError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "before_id",
			Msg: "before_id and after_id cannot both be given"})
		return
	}
	list := s.listModels()
	lo, hi := 0, min(limit, len(list)) // the page: list[lo:hi]
	if cursor, member := after, "after_id"; len(after) > 0 || len(before) > 0 {
		if len(before) > 0 {
			cursor, member = before, "before_id"
		}
		i := indexOfModel(list, string(cursor))
		if i < 0 {
			writeAnthropicError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: member,
				Msg: member + ": no model `" + string(cursor) + "` in the list; see GET /v1/models"})
			return
		}
		if member == "after_id" {
			lo, hi = i+1, min(i+1+limit, len(list))
		} else {
			lo, hi = max(i-limit, 0), i
		}
	}
	more := hi < len(list)
	if len(before) > 0 {
		more = lo > 0
	}
	b := append(make([]byte, 0, 256*(hi-lo)+64), `{"data":[`...)
	for i, m := range list[lo:hi] {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendAnthropicModel(b, m.Name, m, s.started)
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, more)
	if lo < hi {
		b = append(b, `,"first_id":`...)
		b = jsonscan.AppendQuote(b, list[lo].Name)
		b = append(b, `,"last_id":`...)
		b = jsonscan.AppendQuote(b, list[hi-1].Name)
	} else {
		b = append(b, `,"first_id":null,"last_id":null`...)
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '}'))
}

// indexOfModel returns the index in list of the model named id, or -1.
func indexOfModel(list []*catalog.Model, id string) int {
	for i, m := range list {
		if m.Name == id {
			return i
		}
	}
	return -1
}

// appendAnthropicModel appends m as an Anthropic ModelInfo named id
// (https://docs.anthropic.com/en/api/models): type, id, display_name (the
// id: the catalog has no other name), created_at (RFC 3339: the gateway's
// start, as the OpenAI list's created, for the catalog knows no release
// dates) and, when the catalog knows them, max_input_tokens (the context
// window) and max_tokens (the output limit).
func appendAnthropicModel(b []byte, id string, m *catalog.Model, created time.Time) []byte {
	b = append(b, `{"type":"model","id":`...)
	b = jsonscan.AppendQuote(b, id)
	b = append(b, `,"display_name":`...)
	b = jsonscan.AppendQuote(b, id)
	b = append(b, `,"created_at":"`...)
	b = created.UTC().AppendFormat(b, time.RFC3339)
	b = append(b, '"')
	if m.ContextWindow > 0 {
		b = append(b, `,"max_input_tokens":`...)
		b = strconv.AppendInt(b, int64(m.ContextWindow), 10)
	}
	if m.MaxOutputTokens > 0 {
		b = append(b, `,"max_tokens":`...)
		b = strconv.AppendInt(b, int64(m.MaxOutputTokens), 10)
	}
	return append(b, '}')
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
// then the models that listing providers report and the catalog lacks,
// provider by provider in name order: the same order on every call, which
// the Anthropic list's cursors rely on.
func (s *Server) listModels() []*catalog.Model {
	out := s.catalog.Models()
	seen := make(map[string]bool, len(out))
	for _, m := range out {
		seen[m.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(s.upstreams)) {
		slot := s.upstreams[name]
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
