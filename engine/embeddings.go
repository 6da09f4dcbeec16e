package engine

import (
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// handleEmbeddings serves POST /v1/embeddings for providers with embeddings
// (OpenAI-format, Gemini, Ollama, and the mock's deterministic vectors).
func (s *Server) handleEmbeddings(ctx *fasthttp.RequestCtx) {
	x := s.acquireExchange(ctx)
	if err := s.admit(ctx, x); err != nil { // key, project, rate limits (tenancy.go)
		x.fail(ctx, err)
		return
	}
	body := ctx.PostBody()
	name, err := embeddingsModel(body)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	if name == "" {
		x.fail(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "model", Msg: "model: is required"})
		return
	}
	m, err := s.catalog.Resolve(name)
	if err != nil {
		x.fail(ctx, err)
		return
	}
	x.model = m
	if err := s.admitModel(ctx, x, name, m, body, 0); err != nil { // tenancy.go
		x.fail(ctx, err)
		return
	}
	if _, ok := s.upstreams[m.Provider].p.(providers.Embedder); !ok {
		x.fail(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "not_supported", Param: "model",
			Msg: "Provider " + m.Provider + " does not serve embeddings; use an OpenAI-format, Gemini, Ollama or mock model"})
		return
	}
	s.targets(x, name, m)
	x.uc = upstreamCall{kind: callEmbed, models: x.models, overflowOnly: x.overflowOnly, body: body}
	if err := s.callUpstream(ctx, x, &x.uc, x.targets); err != nil {
		x.fail(ctx, err)
		return
	}
	x.takeAnswer(&x.uc)
	m, resp := x.model, x.resp
	x.resp, x.usage = resp, resp.Usage
	ctx.Response.Header.Set("X-Gateway-Provider", m.Provider)
	ctx.Response.Header.Set("X-Gateway-Model", m.Upstream)
	ctx.SetContentType("application/json")
	ctx.SetBody(resp.Body)
	x.status = 200
	x.finish()
}

// embeddingsModel validates an embeddings request body and reads its model.
// The body reaches OpenAI-format upstreams as sent but for the model, so a
// member the gateway reads must be there once, spelled plainly.
func embeddingsModel(body []byte) (string, error) {
	obj, err := bodyObject(body)
	if err != nil {
		return "", err
	}
	if err := providers.CheckEmbeddingsNames(obj); err != nil {
		return "", err
	}
	if err := checkEmbeddingsInput(jsonscan.Get(obj, "input")); err != nil {
		return "", err
	}
	return modelOf(obj)
}

// maxEmbeddingsInputs is OpenAI's bound on an input array.
const maxEmbeddingsInputs = 2048

// checkEmbeddingsInput holds input to the shapes OpenAI's reference allows
// (https://platform.openai.com/docs/api-reference/embeddings/create#embeddings-create-input):
// a string, an array of strings, an array of token ids (integers) or an
// array of such arrays; "cannot be an empty string", and an array has at
// most 2048 entries. OpenAI answers these with a 400; checked here, every
// provider does, instead of embedding nothing (the mock, Gemini, Ollama)
// or mixing shapes a provider would mistranslate. Whether a provider takes
// token ids at all is its own check (Gemini and Ollama take text only).
func checkEmbeddingsInput(v []byte) error {
	switch jsonscan.KindOf(v) {
	case jsonscan.Invalid:
		return badInput(-1, -1, "is required")
	case jsonscan.String:
		if len(v) == 2 {
			return badInput(-1, -1, "must not be an empty string")
		}
		return nil
	case jsonscan.Array:
	default:
		return badInput(-1, -1, inputShapes)
	}
	n, first := 0, jsonscan.Invalid
	err := jsonscan.ArrayEach(v, func(i int, e []byte) error {
		n++
		if n > maxEmbeddingsInputs {
			return badInput(-1, -1, "at most "+strconv.Itoa(maxEmbeddingsInputs)+" inputs in one request")
		}
		k := jsonscan.KindOf(e)
		if i == 0 {
			first = k
		} else if k != first {
			return badInput(i, -1, "every entry of input must be of one kind: strings, token ids or token id arrays")
		}
		switch k {
		case jsonscan.String:
			if len(e) == 2 {
				return badInput(i, -1, "must not be an empty string")
			}
		case jsonscan.Number:
			if !isTokenID(e) {
				return badInput(i, -1, "a token id is a non-negative integer")
			}
		case jsonscan.Array:
			m := 0
			err := jsonscan.ArrayEach(e, func(j int, id []byte) error {
				m++
				if jsonscan.KindOf(id) != jsonscan.Number || !isTokenID(id) {
					return badInput(i, j, "a token id is a non-negative integer")
				}
				return nil
			})
			if err != nil {
				return err
			}
			if m == 0 {
				return badInput(i, -1, "must not be an empty array of token ids")
			}
		default:
			return badInput(i, -1, inputShapes)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return badInput(-1, -1, "must not be an empty array")
	}
	return nil
}

const inputShapes = "expected a string, an array of strings, an array of token ids or an array of token id arrays"

// badInput is the 400 for input, input[i] or input[i][j] (a negative
// index is left out); built only on failure, so that a good input costs
// no allocation.
func badInput(i, j int, msg string) error {
	param := "input"
	if i >= 0 {
		param += "[" + strconv.Itoa(i) + "]"
	}
	if j >= 0 {
		param += "[" + strconv.Itoa(j) + "]"
	}
	return &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: param, Msg: param + ": " + msg}
}

func isTokenID(v []byte) bool {
	n, err := jsonscan.ParseInt(v)
	return err == nil && n >= 0
}
