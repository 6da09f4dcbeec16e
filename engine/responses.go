package engine

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/frontend/responses"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// The OpenAI Responses API (https://platform.openai.com/docs/api-reference/responses)
// for every provider. POST /v1/responses is translated to the canonical
// chat request (engine/frontend/responses) and then served by serve, the
// chat pipeline itself: policies, routing (auto), the cache, budgets,
// retries and fallbacks, and the ledger row (endpoint "responses") are
// those of a chat completion. render turns the answer back into a
// response object or the Responses event stream. Stored responses
// (store: true, the default) live in the store, scoped to the project that
// created them; previous_response_id continues one.

// responsesState is a Responses request's part of an exchange.
type responsesState struct {
	req  *responses.Request
	meta responses.Meta
	// items is the conversation's input items: the previous response's
	// input and output, then the request's input.
	items [][]byte
	// body is the client's body (a copy the request's members view), for
	// a passthrough (responsesnative.go); prevItems and prevUpstream are
	// the previous response's conversation and the provider that holds
	// it ("" for the gateway); expanded is body with that conversation in
	// place of previous_response_id, made once when needed.
	body         []byte
	prevItems    [][]byte
	prevUpstream string
	expanded     []byte
	once         sync.Once
	plainErr     error
}

// storeTimeout bounds writing a response to the store.
const storeTimeout = 10 * time.Second

// handleResponses serves POST /v1/responses.
func (s *Server) handleResponses(ctx *fasthttp.RequestCtx) {
	x := s.acquireExchange(ctx)
	x.format = formatResponses
	if err := s.admit(ctx, x); err != nil { // key, project, rate limits (tenancy.go)
		x.fail(ctx, err)
		return
	}
	// The parsed request's members view its body, and a stream's last
	// event echoes them after the handler returned: parse a copy.
	body := append([]byte(nil), ctx.PostBody()...)
	r, err := responses.Parse(body)
	if err != nil {
		if unportable(err) {
			s.passthroughRaw(ctx, x, body, err) // responsesraw.go
			return
		}
		x.fail(ctx, err)
		return
	}
	items, prevItems, prevUpstream, err := s.chain(x, r.PreviousResponseID, r.Input)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	b, err := r.AppendChat(x.scratch[:0], items)
	if !x.decodeTranslated(ctx, b, err) {
		return
	}
	x.rsp = &responsesState{req: r, items: items, body: body, prevItems: prevItems, prevUpstream: prevUpstream,
		meta: responses.Meta{ID: responses.NewID("resp"), CreatedAt: x.start.Unix(), Model: r.Model, Req: r}}
	s.serve(ctx, x, r.Model)
}

// conversationOf is a stored response's conversation: its input items,
// then its output items.
func conversationOf(prev store.StoredResponse) [][]byte {
	var items [][]byte
	each := func(_ int, it []byte) error {
		items = append(items, it)
		return nil
	}
	_ = jsonscan.ArrayEach(prev.InputItems, each)
	_ = jsonscan.ArrayEach(jsonscan.Get(prev.Response, "output"), each)
	return items
}

// responseStream is render's relay for a Responses client.
func (s *Server) responseStream(x *exchange, src providers.Stream, m *catalog.Model) providers.Stream {
	x.rsp.meta.Model = m.Upstream
	st := responses.NewStream(src, &x.rsp.meta)
	if x.rsp.req.Store {
		project, id, items, prev, inherited := x.project, x.rsp.meta.ID, x.rsp.items, x.rsp.req.PreviousResponseID, len(x.rsp.prevItems)
		st.OnComplete = func(final []byte) { s.storeResponse(project, id, final, items, prev, inherited, "") }
	}
	return st
}

// responseBody is render's body for a Responses client.
func (s *Server) responseBody(x *exchange, completion []byte) ([]byte, error) {
	x.rsp.meta.Model = x.model.Upstream
	b, err := responses.FromCompletion(x.scratch[:0], completion, &x.rsp.meta)
	x.scratch = b
	if err != nil {
		return nil, &apiError{Status: 502, Type: typeUpstream, Code: "bad_upstream_response", Msg: "upstream answer could not be translated: " + err.Error()}
	}
	if x.rsp.req.Store {
		s.storeResponse(x.project, x.rsp.meta.ID, b, x.rsp.items, x.rsp.req.PreviousResponseID, len(x.rsp.prevItems), "")
	}
	return b, nil
}

// storeResponse saves a response before the client sees it complete, so
// that it can be chained on at once. A failure is logged: the answer was
// paid for and is still returned. items is the whole conversation, whose
// first inherited items are the conversation of prev, the previous
// response ("" for none): the store keeps only the rest when it can.
// upstream is the provider that stores it too ("" for none: a translated
// response).
func (s *Server) storeResponse(project, id string, response []byte, items [][]byte, prev string, inherited int, upstream string) {
	in := []byte{'['}
	for i, it := range items {
		if i > 0 {
			in = append(in, ',')
		}
		in = append(in, it...)
	}
	in = append(in, ']')
	if !s.cfg.Store.ResponseDeltas {
		prev, inherited = "", 0 // stored whole: readable by gateways before migration 9
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	err := s.ten.st.PutResponse(ctx, store.StoredResponse{ID: id, ProjectID: project, Response: append([]byte(nil), response...), InputItems: in,
		Prev: prev, Inherited: inherited, Upstream: upstream})
	if err != nil {
		s.log.Warn("storing a response failed", "response", id, "error", err.Error())
	}
}

// responseLookupError maps a store lookup failure to the client's error.
func responseLookupError(err error, id, param, code string) error {
	if errors.Is(err, store.ErrNotFound) {
		return &apiError{Status: 404, Type: typeInvalidRequest, Code: code, Param: param,
			Msg: "No response found with id '" + id + "'."}
	}
	return err
}

// responseTarget authenticates a request on /v1/responses/{id} and
// returns the project and id; it writes the error itself.
func (s *Server) responseTarget(ctx *fasthttp.RequestCtx) (project, id string, ok bool) {
	_, p, err := s.authKey(ctx, time.Now())
	if err != nil {
		writeError(ctx, toAPIError(err))
		return "", "", false
	}
	id, _ = ctx.UserValue("id").(string)
	return p.ID, id, true
}

// storedResponse loads response id of project; when there is none (404
// response_not_found) or the store fails, it writes the error itself.
func (s *Server) storedResponse(ctx *fasthttp.RequestCtx, project, id string) (store.StoredResponse, bool) {
	sc, cancel := storeContext()
	defer cancel()
	r, err := s.ten.st.Response(sc, project, id)
	if err != nil {
		writeError(ctx, toAPIError(responseLookupError(err, id, "", "response_not_found")))
		return r, false
	}
	return r, true
}

// handleGetResponse serves GET /v1/responses/{id}; with ?stream=true the
// response is replayed as its event stream (responsesreplay.go).
func (s *Server) handleGetResponse(ctx *fasthttp.RequestCtx) {
	project, id, ok := s.responseTarget(ctx)
	if !ok {
		return
	}
	r, ok := s.storedResponse(ctx, project, id)
	if !ok {
		return
	}
	if string(ctx.QueryArgs().Peek("stream")) == "true" {
		writeReplay(ctx, r.Response) // responsesreplay.go
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(r.Response)
}

// handleDeleteResponse serves DELETE /v1/responses/{id}. A response that
// was passed through to a provider that stores it too (OpenAI) is deleted
// there first (DELETE /v1/responses/{id},
// https://platform.openai.com/docs/api-reference/responses/delete), then
// here; when the provider fails, the gateway keeps its copy and answers
// 502, so that the client can try again and no copy outlives a delete that
// succeeded.
func (s *Server) handleDeleteResponse(ctx *fasthttp.RequestCtx) {
	project, id, ok := s.responseTarget(ctx)
	if !ok {
		return
	}
	r, ok := s.storedResponse(ctx, project, id)
	if !ok {
		return
	}
	if r.Upstream != "" {
		if err := s.deleteUpstreamResponse(r.Upstream, id); err != nil {
			writeError(ctx, err)
			return
		}
	}
	sc, cancel := storeContext()
	defer cancel()
	if err := s.ten.st.DeleteResponse(sc, project, id); err != nil {
		writeError(ctx, toAPIError(responseLookupError(err, id, "", "response_not_found")))
		return
	}
	b := append([]byte(`{"id":`), jsonscan.AppendQuote(nil, id)...)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, `,"object":"response","deleted":true}`...))
}

// deleteUpstreamResponse deletes response id at provider, which stored it.
// A provider no longer configured (or no longer with a Responses API)
// cannot be asked: the gateway's copy goes, and the log says what stays.
func (s *Server) deleteUpstreamResponse(provider, id string) *apiError {
	slot := s.upstreams[provider]
	var rn providers.ResponsesNative
	if slot != nil {
		rn, _ = slot.p.(providers.ResponsesNative)
	}
	if rn == nil || !rn.NativeResponses() {
		s.log.Warn("deleting a response stored by a provider that is no longer configured with a Responses API: its copy there is kept",
			"response", id, "provider", provider)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), upstreamDeleteTimeout)
	defer cancel()
	if err := rn.DeleteResponse(ctx, id); err != nil {
		msg := err.Error()
		if ue, ok := errors.AsType[*providers.UpstreamError](err); ok {
			msg = ue.Message
		}
		return &apiError{Status: 502, Type: typeUpstream, Code: "upstream_delete_failed",
			Msg: "upstream " + provider + " could not delete response " + id + " (" + msg + "); the gateway kept it, try again"}
	}
	return nil
}

// upstreamDeleteTimeout bounds the provider's DELETE of a stored response.
const upstreamDeleteTimeout = 30 * time.Second

// handleResponseInputItems serves GET /v1/responses/{id}/input_items: the
// conversation's input items, a list page with order (desc by default, as
// on OpenAI), limit (1–100, default 20), after and before (item ids).
func (s *Server) handleResponseInputItems(ctx *fasthttp.RequestCtx) {
	project, id, ok := s.responseTarget(ctx)
	if !ok {
		return
	}
	args := ctx.QueryArgs()
	limit := 20
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 100 {
			writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "limit", Msg: "limit must be an integer from 1 to 100"})
			return
		}
		limit = n
	}
	order := string(args.Peek("order"))
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "order", Msg: "order must be asc or desc"})
		return
	}
	r, ok := s.storedResponse(ctx, project, id)
	if !ok {
		return
	}
	var items [][]byte
	_ = jsonscan.ArrayEach(r.InputItems, func(_ int, it []byte) error {
		items = append(items, it)
		return nil
	})
	if order == "desc" {
		for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
			items[i], items[j] = items[j], items[i]
		}
	}
	// after and before are item ids, both exclusive; an id that names no
	// item of this list is a 400 (the reference does not say what OpenAI
	// answers; a page that silently ignored the cursor would repeat or skip
	// items). With before alone, the page is the limit items nearest it,
	// as a cursor list pages backwards.
	lo, hi := 0, len(items)
	for _, c := range [...]string{"after", "before"} {
		v := args.Peek(c)
		if len(v) == 0 {
			continue
		}
		at := indexOfItem(items, v)
		if at < 0 {
			writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: c,
				Msg: "No input item with id " + strconv.Quote(string(v)) + " in the input items of response '" + id + "' (" + c + " must be an item id of this list)."})
			return
		}
		if c == "after" {
			lo = at + 1
		} else {
			hi = at
		}
	}
	if lo > hi {
		lo = hi
	}
	items = items[lo:hi]
	more := len(items) > limit
	if more {
		if len(args.Peek("before")) > 0 && len(args.Peek("after")) == 0 {
			items = items[len(items)-limit:]
		} else {
			items = items[:limit]
		}
	}
	b := []byte(`{"object":"list","data":[`)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, `],"first_id":`...)
	if len(items) > 0 {
		b = append(b, jsonscan.Get(items[0], "id")...)
		b = append(b, `,"last_id":`...)
		b = append(b, jsonscan.Get(items[len(items)-1], "id")...)
	} else {
		b = append(b, `null,"last_id":null`...)
	}
	b = append(b, `,"has_more":`...)
	b = strconv.AppendBool(b, more)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '}'))
}

// indexOfItem is the index of the item whose id is the string id in
// items, or -1.
func indexOfItem(items [][]byte, id []byte) int {
	want := jsonscan.AppendQuoteBytes(nil, id)
	for i, it := range items {
		if string(jsonscan.Get(it, "id")) == string(want) {
			return i
		}
	}
	return -1
}

// storeContext bounds a store call made for a request. The request's
// *fasthttp.RequestCtx is not one: database/sql keeps a context it is given
// in a goroutine that may outlive the handler, and fasthttp reuses the
// RequestCtx once the handler returns.
func storeContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), storeTimeout)
}
