package gemini

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// ErrBadEmbeddings is returned when a batchEmbedContents answer is malformed
// or holds a different number of embeddings than were asked for.
var ErrBadEmbeddings = errors.New("malformed gemini embeddings response")

// EmbedInfo is what EmbedResponse needs to know about the request.
type EmbedInfo struct {
	// Inputs is the number of texts sent.
	Inputs int
	// Base64 is set for encoding_format "base64".
	Base64 bool
	// Tokens estimates the input tokens (bytes/4, rounded up, per text):
	// batchEmbedContents reports no usage.
	Tokens int
}

// EmbedRequest appends the batchEmbedContents body
// (https://ai.google.dev/api/embeddings#method:-models.batchembedcontents)
// for an OpenAI embeddings request body
// (https://platform.openai.com/docs/api-reference/embeddings/create):
// every input text becomes one request for models/{model}; dimensions
// becomes outputDimensionality. encoding_format float passes the values
// through; base64 is produced by the gateway (little-endian float32, as
// OpenAI encodes it). Token-array inputs are a 400: Gemini embeds text only.
// A malformed body is a *providers.RequestError, and so is one that
// providers.CheckEmbeddingsNames refuses.
func EmbedRequest(dst, body []byte, model string) ([]byte, EmbedInfo, error) {
	var info EmbedInfo
	if err := jsonscan.Validate(body); err != nil {
		return dst, info, &providers.RequestError{Msg: "request body is not valid JSON: " + err.Error()}
	}
	body = wire.TrimSpace(body)
	if jsonscan.KindOf(body) != jsonscan.Object {
		return dst, info, &providers.RequestError{Msg: "request body must be a JSON object"}
	}
	if err := providers.CheckEmbeddingsNames(body); err != nil {
		return dst, info, err
	}
	m, err := modelName(model)
	if err != nil {
		return dst, info, &providers.RequestError{Param: "model", Msg: err.Error()}
	}
	var input, dims []byte
	_ = jsonscan.ObjectEach(body, func(k, v []byte) error {
		switch string(k) {
		case "input":
			input = v
		case "dimensions":
			dims = v
		case "encoding_format":
			switch string(v) {
			case `"base64"`:
				info.Base64 = true
			case `"float"`, "null":
			default:
				err = &providers.RequestError{Param: "encoding_format", Msg: "must be float or base64"}
			}
		}
		return nil
	})
	if err != nil {
		return dst, info, err
	}
	if dims != nil && string(dims) != "null" {
		n, perr := jsonscan.ParseInt(dims)
		if jsonscan.KindOf(dims) != jsonscan.Number || perr != nil || n < 1 {
			return dst, info, &providers.RequestError{Param: "dimensions", Msg: "must be a positive integer"}
		}
	} else {
		dims = nil
	}
	start := len(dst)
	dst = append(dst, `{"requests":[`...)
	one := func(i int, text []byte) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"model":"models/`...)
		dst = append(dst, m...)
		dst = append(dst, `","content":{"parts":[{"text":`...)
		dst = append(dst, text...)
		dst = append(dst, `}]}`...)
		if dims != nil {
			dst = append(dst, `,"outputDimensionality":`...)
			dst = append(dst, dims...)
		}
		dst = append(dst, '}')
		info.Inputs++
		info.Tokens += (len(text) - 2 + 3) / 4
	}
	switch jsonscan.KindOf(input) {
	case jsonscan.String:
		one(0, input)
	case jsonscan.Array:
		err = jsonscan.ArrayEach(input, func(i int, e []byte) error {
			if jsonscan.KindOf(e) != jsonscan.String {
				return &providers.RequestError{Param: "input", Msg: "gemini embeds text only: input must be a string or an array of strings, not tokens"}
			}
			one(i, e)
			return nil
		})
	default:
		err = &providers.RequestError{Param: "input", Msg: "is required and must be a string or an array of strings"}
	}
	if err == nil && info.Inputs == 0 {
		err = &providers.RequestError{Param: "input", Msg: "must not be empty"}
	}
	if err != nil {
		return dst[:start], EmbedInfo{}, err
	}
	return append(dst, "]}"...), info, nil
}

// EmbedResponse appends the OpenAI embeddings response
// ({"object":"list","data":[{"object":"embedding","index","embedding"}],
// "model","usage"}) for a batchEmbedContents answer. Float values are
// copied as Gemini wrote them.
func EmbedResponse(dst, body []byte, model string, info EmbedInfo) ([]byte, providers.Usage, error) {
	u := providers.Usage{PromptTokens: info.Tokens, Set: true}
	if jsonscan.Validate(body) != nil {
		return dst, u, ErrBadEmbeddings
	}
	embs := jsonscan.Get(wire.TrimSpace(body), "embeddings")
	if jsonscan.KindOf(embs) != jsonscan.Array {
		return dst, u, ErrBadEmbeddings
	}
	start := len(dst)
	dst = append(dst, `{"object":"list","data":[`...)
	n := 0
	var floats []byte
	err := jsonscan.ArrayEach(embs, func(i int, e []byte) error {
		vals := jsonscan.Get(e, "values")
		if jsonscan.KindOf(vals) != jsonscan.Array {
			return ErrBadEmbeddings
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"object":"embedding","index":`...)
		dst = wire.AppendInt(dst, i)
		dst = append(dst, `,"embedding":`...)
		if !info.Base64 {
			dst = append(dst, '[')
			err := jsonscan.ArrayEach(vals, func(j int, v []byte) error {
				if jsonscan.KindOf(v) != jsonscan.Number {
					return ErrBadEmbeddings
				}
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, v...)
				return nil
			})
			if err != nil {
				return err
			}
			dst = append(dst, "]}"...)
			return nil
		}
		floats = floats[:0]
		err := jsonscan.ArrayEach(vals, func(_ int, v []byte) error {
			f, err := jsonscan.ParseFloat(v)
			if jsonscan.KindOf(v) != jsonscan.Number || err != nil {
				return ErrBadEmbeddings
			}
			floats = binary.LittleEndian.AppendUint32(floats, math.Float32bits(float32(f)))
			return nil
		})
		if err != nil {
			return err
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, floats)
		dst = append(dst, `"}`...)
		return nil
	})
	if err != nil || n != info.Inputs {
		return dst[:start], u, ErrBadEmbeddings
	}
	dst = append(dst, `],"model":`...)
	dst = jsonscan.AppendQuote(dst, model)
	dst = append(dst, `,"usage":{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	return append(dst, "}}"...), u, nil
}

// Embed sends an OpenAI embeddings request body to
// {BaseURL}/v1beta/models/{model}:batchEmbedContents and returns the OpenAI
// embeddings response in Response.Body. A RequestError from EmbedRequest
// comes back as a 400 UpstreamError that wraps it.
func (p *Provider) Embed(ctx context.Context, body []byte, model string) (*providers.Response, error) {
	bb := bufPool.Get().(*buffers)
	b, info, err := EmbedRequest(bb.body[:0], body, model)
	bb.body = b
	if err != nil {
		bufPool.Put(bb)
		var re *providers.RequestError
		if errors.As(err, &re) {
			return nil, &providers.UpstreamError{Status: 400, Type: "invalid_request_error", Param: re.Param, Message: re.Msg, Err: err}
		}
		return nil, err
	}
	m, _ := modelName(model)
	bb.url = p.url(bb.url[:0], m, "batchEmbedContents")
	req := p.newRequest(bb.url, b, false)
	resp := fasthttp.AcquireResponse()
	release := func() {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		bufPool.Put(bb)
	}
	if err := p.client.Do(ctx, req, resp, p.cfg.Timeout); err != nil {
		release()
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		err := p.upstreamError(resp.StatusCode(), resp.Body(), resp.Header.Peek("Retry-After"))
		release()
		return nil, err
	}
	out, u, err := EmbedResponse(bb.resp.out[:0], resp.Body(), m, info)
	bb.resp.out = out
	if err != nil {
		release()
		return nil, &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_bad_response",
			Message: "upstream " + p.cfg.Name + " answered with malformed embeddings", Err: err}
	}
	r := providers.NewResponse(release)
	r.Body, r.Usage = out, u
	return r, nil
}
