package engine

import (
	"errors"

	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/frontend/responses"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// A Responses request that only OpenAI can run (hosted tools such as web
// search, item and output part types the canonical request has no place
// for: responses.UnportableError) is passed through untranslated when its
// model's provider serves the Responses API, and refused with the parser's
// 400 otherwise. Without a canonical request there is no request policy,
// no auto routing (the model must be named), and no response cache; the
// allow-list, the budget, fallbacks among native providers, the ledger row
// and the stored copy are as on every passthrough. Hosted tools' own fees
// (web search calls, …) are not in the ledger's cost: only tokens are.
// What would reach resources of the gateway's one OpenAI account rather
// than the project's is refused even here: conversation, prompt and
// background, item_reference items, and file, vector store and container
// ids (rawAccountRefs).

// rawTarget resolves a raw (unportable) Responses body's model — model is
// the body's own, name the one resolved (the project's default for an
// empty one) — to m, whose provider serves the Responses API natively,
// and refuses what would reach the gateway's account (rawAccountRefs).
// perr, the parser's refusal, is the answer for auto or a provider without
// the Responses API. m is set from the resolution on, errors included.
func (s *Server) rawTarget(x *exchange, obj []byte, perr error) (model, name string, m *catalog.Model, err error) {
	if v := jsonscan.Get(obj, "model"); jsonscan.KindOf(v) == jsonscan.String {
		model = wire.Str(v)
	}
	name = x.requestedModel(model)
	if name == "" || name == "auto" {
		return model, name, nil, perr
	}
	if m, err = s.catalog.Resolve(name); err != nil {
		return model, name, nil, err
	}
	slot := s.upstreams[m.Provider]
	if slot == nil {
		return model, name, m, catalog.NotConfigured(name, m.Provider)
	}
	if rp, ok := slot.p.(providers.ResponsesNative); !ok || !rp.NativeResponses() {
		return model, name, m, perr
	}
	return model, name, m, rawAccountRefs(obj)
}

// chain puts input after the conversation of the stored response id (a
// previous_response_id) of x's project, and returns that conversation's
// items and the upstream that holds it too; an empty id chains nothing.
func (s *Server) chain(x *exchange, id string, input [][]byte) (items, prevItems [][]byte, upstream string, err error) {
	if id == "" {
		return input, nil, "", nil
	}
	sc, cancel := storeContext()
	prev, err := s.ten.st.Response(sc, x.project, id)
	cancel()
	if err != nil {
		return nil, nil, "", responseLookupError(err, id, "previous_response_id", "previous_response_not_found")
	}
	prevItems = conversationOf(prev)
	return append(prevItems[:len(prevItems):len(prevItems)], input...), prevItems, prev.Upstream, nil
}

// passthroughRaw serves a Responses request that the parser refused as
// unportable; perr is that refusal, the answer when no native provider
// serves the model.
func (s *Server) passthroughRaw(ctx *fasthttp.RequestCtx, x *exchange, body []byte, perr error) {
	obj := body[jsonscan.SkipSpace(body, 0):]
	model, name, m, err := s.rawTarget(x, obj, perr)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	r := &responses.Request{Model: model, Store: string(jsonscan.Get(obj, "store")) != "false",
		Stream: string(jsonscan.Get(obj, "stream")) == "true"}
	if v := jsonscan.Get(obj, "previous_response_id"); jsonscan.KindOf(v) == jsonscan.String {
		r.PreviousResponseID = wire.Str(v)
	}
	var input [][]byte
	switch in := jsonscan.Get(obj, "input"); jsonscan.KindOf(in) {
	case jsonscan.String:
		input = append(input, append(append([]byte(`{"role":"user","content":`), in...), '}'))
	case jsonscan.Array:
		_ = jsonscan.ArrayEach(in, func(_ int, it []byte) error {
			input = append(input, it)
			return nil
		})
	}
	items, prevItems, prevUpstream, err := s.chain(x, r.PreviousResponseID, input)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	maxOut := 0
	if v := jsonscan.Get(obj, "max_output_tokens"); jsonscan.KindOf(v) == jsonscan.Number {
		n, _ := jsonscan.ParseInt(v)
		maxOut = int(n)
	}
	if err := s.admitModel(ctx, x, model, m, body, maxOut); err != nil {
		x.fail(ctx, err)
		return
	}
	x.rsp = &responsesState{req: r, items: items, body: body, prevItems: prevItems, prevUpstream: prevUpstream}
	x.model, x.stream = m, r.Stream
	s.targets(x, name, m)
	x.uc = upstreamCall{kind: callResponses, models: x.models, overflowOnly: x.overflowOnly, rsp: x.rsp, stream: r.Stream}
	if err := s.callUpstream(ctx, x, &x.uc, x.targets); err != nil {
		x.fail(ctx, err)
		return
	}
	x.takeAnswer(&x.uc)
	s.renderNative(ctx, x, m, nil)
}

// errAccountRef refuses a reference to the gateway's upstream account.
func errAccountRef(param string) error {
	return &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: param,
		Msg: param + " is not supported by the gateway: it would refer to the gateway's upstream account, shared by every project"}
}

// rawAccountRefs refuses, in a body passed through untranslated, what
// refers to the upstream account's own objects rather than the request's.
func rawAccountRefs(obj []byte) error {
	for _, k := range [...]string{"conversation", "prompt"} {
		if v := jsonscan.Get(obj, k); v != nil && jsonscan.KindOf(v) != jsonscan.Null {
			return errAccountRef(k)
		}
	}
	if string(jsonscan.Get(obj, "background")) == "true" {
		return errAccountRef("background")
	}
	var walk func(v []byte, depth int) error
	walk = func(v []byte, depth int) error {
		switch jsonscan.KindOf(v) {
		case jsonscan.Object:
			return jsonscan.ObjectEach(v, func(k, val []byte) error {
				switch string(k) {
				case "file_id", "file_ids", "vector_store_ids":
					return errAccountRef(string(k))
				case "container":
					if jsonscan.KindOf(val) == jsonscan.String {
						return errAccountRef("container")
					}
				case "type":
					if string(val) == `"item_reference"` {
						return errAccountRef("item_reference")
					}
				}
				return walk(val, depth+1)
			})
		case jsonscan.Array:
			return jsonscan.ArrayEach(v, func(_ int, el []byte) error { return walk(el, depth+1) })
		}
		return nil
	}
	for _, k := range [...]string{"input", "tools"} {
		if err := walk(jsonscan.Get(obj, k), 0); err != nil {
			return err
		}
	}
	return nil
}

// unportable reports whether a parse error is one a native provider runs.
func unportable(err error) bool {
	var u *responses.UnportableError
	return errors.As(err, &u)
}
