package engine

import (
	"bytes"
	"errors"
	"sync"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/frontend/responses"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// The Responses API passed through. A request for a model whose provider
// serves the Responses API itself (OpenAI; an OpenAI-compatible provider
// with responses = true) goes upstream as the client sent it, model
// replaced, and the upstream's answer — body or event stream — is relayed
// as it is. Everything else is as on the translated path, because the
// request is still translated to the canonical one first: policies and
// routing (auto) choose the model, the response cache keys on the
// canonical request (a native answer is stored as the chat completion
// that carries it, responses.ToCompletion), the budget is reserved and the
// ledger row written (endpoint "responses"), with usage from the Responses
// usage object (cached and reasoning tokens included). A fallback target
// that has no Responses API gets the canonical request (upstream.go).
//
// State: OpenAI stores a response it made (store, default true) and the
// gateway stores a copy, marked with the provider (store.StoredResponse.
// Upstream). The copy scopes the id to the project (OpenAI would accept any
// project's id, as the gateway calls with one key), serves GET and
// input_items, and continues the conversation on any other provider. A
// previous_response_id made by the same provider is forwarded, so OpenAI
// keeps its own state (reasoning items included); one made elsewhere (a
// translated response, or another provider) is replaced by its
// conversation's items, sent without their ids and without reasoning
// items, which only their maker could read.

// nativeBody is the body to pass through to provider: the client's, or,
// when the previous response was not made by provider, the client's with
// previous_response_id replaced by the conversation in input.
func (r *responsesState) nativeBody(provider string) ([]byte, error) {
	r.once.Do(func() { r.plainErr = checkPlainNames(r.body, 0) })
	if r.plainErr != nil {
		return nil, r.plainErr
	}
	if r.req.PreviousResponseID == "" || r.prevUpstream == provider {
		return r.body, nil
	}
	if r.expanded == nil {
		r.expanded = expandConversation(nil, r.body, r.prevItems)
	}
	return r.expanded, nil
}

// expandConversation appends body without previous_response_id and with
// input = prev's items (ids and reasoning items removed) then the
// request's own input.
func expandConversation(dst, body []byte, prev [][]byte) []byte {
	obj := body[jsonscan.SkipSpace(body, 0):]
	dst = append(dst, '{')
	n := 0
	var input []byte
	_ = jsonscan.ObjectEach(obj, func(k, v []byte) error {
		switch string(k) {
		case "previous_response_id":
			return nil
		case "input":
			input = v
			return nil
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(append(append(dst, '"'), k...), '"', ':') // k as written
		dst = append(dst, v...)
		return nil
	})
	if n > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"input":[`...)
	m := 0
	item := func(it []byte) {
		if m > 0 {
			dst = append(dst, ',')
		}
		m++
		dst = append(dst, it...)
	}
	for _, it := range prev {
		if string(jsonscan.Get(it, "type")) == `"reasoning"` {
			continue
		}
		item(jsonscan.AppendWithout(nil, it, "id"))
	}
	switch jsonscan.KindOf(input) {
	case jsonscan.String:
		item(append(append([]byte(`{"role":"user","content":`), input...), '}'))
	case jsonscan.Array:
		_ = jsonscan.ArrayEach(input, func(_ int, it []byte) error {
			item(it)
			return nil
		})
	}
	return append(dst, "]}"...)
}

// errEscapedName refuses a passthrough body with a member name written
// with escapes for plain characters, or twice in one object: the gateway
// (which routes, caches and bills by the members it reads) and the
// upstream (which reads the decoded names, the last of a repeat) must read
// the same request (docs/requests.md).
func errEscapedName(name string, twice bool) error {
	msg := "member name " + string(jsonscan.AppendQuote(nil, name)) + " is written with escapes; write it plainly"
	if twice {
		msg = "member " + string(jsonscan.AppendQuote(nil, name)) + " appears more than once in one object"
	}
	return &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: name, Msg: msg}
}

// checkPlainNames walks a validated body: every object's member names are
// distinct and none is an escaped spelling of plain ASCII.
func checkPlainNames(v []byte, depth int) error {
	v = v[jsonscan.SkipSpace(v, 0):]
	switch jsonscan.KindOf(v) {
	case jsonscan.Object:
		var names [][]byte
		return jsonscan.ObjectEach(v, func(k, val []byte) error {
			if bytes.IndexByte(k, '\\') >= 0 {
				s, _, err := jsonscan.Unquote(append(append([]byte{'"'}, k...), '"'), nil)
				if err != nil || plainASCII(s) {
					return errEscapedName(string(s), false)
				}
			}
			for _, n := range names {
				if bytes.Equal(n, k) {
					return errEscapedName(string(k), true)
				}
			}
			names = append(names, k)
			return checkPlainNames(val, depth+1)
		})
	case jsonscan.Array:
		return jsonscan.ArrayEach(v, func(_ int, el []byte) error { return checkPlainNames(el, depth+1) })
	}
	return nil
}

// plainASCII reports whether s is printable ASCII: nothing a client needs
// to escape in a member name but '"' and '\'.
func plainASCII(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// renderNative writes a passed-through Responses answer: the upstream's
// body, or its events relayed as they come. flight is the response cache's
// (nil when the request is not cached); m is the model asked for.
func (s *Server) renderNative(ctx *fasthttp.RequestCtx, x *exchange, m *catalog.Model, flight *cache.Flight) {
	if x.model != m {
		flight.SkipStore() // a fallback answered: share it, don't store it under m
	}
	h := &ctx.Response.Header
	h.Set("X-Gateway-Provider", x.model.Provider)
	h.Set("X-Gateway-Model", x.model.Upstream)
	if len(x.reason) > 0 {
		h.SetBytesV("X-Gateway-Route-Reason", x.reason)
	}
	resp := x.resp
	if resp.Stream != nil {
		x.relay = &nativeStream{inner: resp.Stream, s: s, x: x, flight: flight}
		x.startStream(ctx)
		return
	}
	x.usage = resp.Usage
	x.ttft = x.upstream
	x.cost = accounting.Cost(x.model, x.usage)
	s.creditSavings(x)
	x.setCostHeaders(h)
	s.nativeDone(x, flight, resp.Body)
	ctx.SetContentType("application/json")
	ctx.SetBody(resp.Body)
	x.status = 200
	x.finish()
}

// nativeDone takes a complete native response object: it goes to the
// response cache (as the chat completion that carries it) and, unless the
// client said store: false, to the store, marked as the provider's.
func (s *Server) nativeDone(x *exchange, flight *cache.Flight, response []byte) {
	if flight != nil {
		b, err := responses.ToCompletion(nil, response)
		var e *cache.Entry
		if err == nil {
			e, err = cache.ParseCompletion(b, x.model.Upstream)
		}
		flight.Done(e, err)
	}
	if x.rsp.req.Store {
		if id := jsonscan.Get(response, "id"); jsonscan.KindOf(id) == jsonscan.String {
			s.storeResponse(x.project, string(id[1:len(id)-1]), response, x.rsp.items, x.rsp.req.PreviousResponseID, len(x.rsp.prevItems), x.model.Provider)
		}
	}
}

var errNativeIncomplete = errors.New("the upstream Responses stream ended before its terminal event")

// nativeStream relays a passed-through Responses stream and, at its
// terminal event, hands the response object to nativeDone.
type nativeStream struct {
	inner  providers.Stream
	s      *Server
	x      *exchange
	flight *cache.Flight
	mu     sync.Mutex // Close may race with Next
	ended  bool
}

var _ providers.Stream = (*nativeStream)(nil)

// Next relays the next event.
func (n *nativeStream) Next() ([]byte, error) {
	b, err := n.inner.Next()
	if err == nil && bytes.HasPrefix(b, []byte("event: response.")) {
		name, rest, _ := bytes.Cut(b[len("event: "):], []byte("\n"))
		switch string(name) {
		case "response.completed", "response.incomplete", "response.failed":
			data := bytes.TrimPrefix(rest, []byte("data: "))
			n.finish(jsonscan.Get(data, "response"))
		}
	}
	return b, err
}

// finish ends the flight with response (nil: the stream broke).
func (n *nativeStream) finish(response []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ended {
		return
	}
	n.ended = true
	if response == nil {
		n.flight.Done(nil, errNativeIncomplete)
		return
	}
	n.s.nativeDone(n.x, n.flight, response)
}

// Usage is the upstream stream's usage.
func (n *nativeStream) Usage() providers.Usage { return n.inner.Usage() }

// Pending delegates to the upstream stream.
func (n *nativeStream) Pending() bool {
	p, ok := n.inner.(providers.Pender)
	return ok && p.Pending()
}

// Close ends the flight if the stream never completed, then closes it.
func (n *nativeStream) Close() error {
	n.finish(nil)
	return n.inner.Close()
}
