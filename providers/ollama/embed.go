package ollama

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

var _ providers.Embedder = (*Provider)(nil)

// Embed serves an OpenAI embeddings request through Ollama's native
// POST /api/embed (https://github.com/ollama/ollama/blob/main/docs/api.md#generate-embeddings):
// request {"model","input": string | [string], "dimensions"?, "truncate"?,
// "keep_alive"?}, answer {"model","embeddings":[[float…]],"prompt_eval_count"}.
// encoding_format "base64" is produced here (little-endian float32, as
// OpenAI encodes it); token-array inputs are a 400, Ollama takes text only.
func (p *Provider) Embed(ctx context.Context, body []byte, model string) (*providers.Response, error) {
	req, b64, err := embedRequest(nil, body, model)
	if err != nil {
		return nil, &providers.UpstreamError{Status: 400, Type: "invalid_request_error", Param: paramOf(err), Message: err.Error(), Err: err}
	}
	hreq := fasthttp.AcquireRequest()
	hresp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(hreq)
	defer fasthttp.ReleaseResponse(hresp)
	hreq.Header.SetMethod(fasthttp.MethodPost)
	hreq.SetRequestURIBytes(p.client.URL(nil, "/api/embed"))
	hreq.Header.SetContentType("application/json")
	p.setHeaders(hreq)
	hreq.SetBodyRaw(req)
	if err := p.client.Do(ctx, hreq, hresp, p.cfg.Timeout); err != nil {
		return nil, p.transportError(err)
	}
	if hresp.StatusCode() != fasthttp.StatusOK {
		return nil, p.upstreamError(hresp.StatusCode(), hresp.Body(), hresp.Header.Peek("Retry-After"))
	}
	out, usage, err := embedResponse(nil, hresp.Body(), model, b64)
	if err != nil {
		return nil, &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "bad_upstream_response",
			Message: "upstream " + p.cfg.Name + " sent an embeddings answer the gateway cannot read: " + err.Error(), Err: err}
	}
	r := providers.NewResponse(nil)
	r.Body, r.Usage = out, usage
	return r, nil
}

func paramOf(err error) string {
	if re, ok := err.(*providers.RequestError); ok {
		return re.Param
	}
	return ""
}

func embedErr(param, msg string) error { return &providers.RequestError{Param: param, Msg: msg} }

// embedRequest translates the OpenAI embeddings body into /api/embed's.
func embedRequest(dst, body []byte, model string) ([]byte, bool, error) {
	if err := jsonscan.Validate(body); err != nil {
		return nil, false, embedErr("", "request body is not valid JSON: "+err.Error())
	}
	obj := body[jsonscan.SkipSpace(body, 0):]
	if jsonscan.KindOf(obj) != jsonscan.Object {
		return nil, false, embedErr("", "request body must be a JSON object")
	}
	if err := providers.CheckEmbeddingsNames(obj); err != nil {
		return nil, false, err
	}
	dst = append(dst, `{"model":`...)
	dst = jsonscan.AppendQuote(dst, model)
	b64 := false
	hasInput := false
	err := jsonscan.ObjectEach(obj, func(k, v []byte) error {
		switch string(k) {
		case "input":
			hasInput = true
			switch jsonscan.KindOf(v) {
			case jsonscan.String:
			case jsonscan.Array:
				err := jsonscan.ArrayEach(v, func(i int, e []byte) error {
					if jsonscan.KindOf(e) != jsonscan.String {
						return embedErr("input["+strconv.Itoa(i)+"]", "Ollama embeds text only: token arrays are not supported")
					}
					return nil
				})
				if err != nil {
					return err
				}
			default:
				return embedErr("input", "expected a string or an array of strings")
			}
			dst = append(dst, `,"input":`...)
			dst = append(dst, v...)
		case "dimensions":
			if jsonscan.KindOf(v) != jsonscan.Number {
				return embedErr("dimensions", "expected an integer")
			}
			dst = append(dst, `,"dimensions":`...)
			dst = append(dst, v...)
		case "encoding_format":
			switch string(v) {
			case `"float"`, "null":
			case `"base64"`:
				b64 = true
			default:
				return embedErr("encoding_format", "expected \"float\" or \"base64\"")
			}
		case "truncate", "keep_alive", "options":
			dst = append(dst, ',', '"')
			dst = append(dst, k...)
			dst = append(dst, '"', ':')
			dst = append(dst, v...)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if !hasInput {
		return nil, false, embedErr("input", "is required")
	}
	return append(dst, '}'), b64, nil
}

// embedResponse translates /api/embed's answer into OpenAI's list of
// embedding objects.
func embedResponse(dst, body []byte, model string, b64 bool) ([]byte, providers.Usage, error) {
	var u providers.Usage
	if err := jsonscan.Validate(body); err != nil {
		return nil, u, err
	}
	embs := jsonscan.Get(body, "embeddings")
	if jsonscan.KindOf(embs) != jsonscan.Array {
		return nil, u, embedErr("embeddings", "missing from the answer")
	}
	if n := jsonscan.Get(body, "prompt_eval_count"); jsonscan.KindOf(n) == jsonscan.Number {
		v, _ := jsonscan.ParseInt(n)
		u.PromptTokens, u.Set = int(v), true
	}
	dst = append(dst, `{"object":"list","data":[`...)
	var raw []byte
	err := jsonscan.ArrayEach(embs, func(i int, vec []byte) error {
		if jsonscan.KindOf(vec) != jsonscan.Array {
			return embedErr("embeddings", "expected arrays of numbers")
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"object":"embedding","index":`...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, `,"embedding":`...)
		if !b64 {
			dst = append(dst, vec...)
			return append2(&dst, "}")
		}
		raw = raw[:0]
		err := jsonscan.ArrayEach(vec, func(_ int, f []byte) error {
			x, err := jsonscan.ParseFloat(f)
			if err != nil {
				return embedErr("embeddings", "expected numbers")
			}
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(x)))
			return nil
		})
		if err != nil {
			return err
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, raw)
		dst = append(dst, '"', '}')
		return nil
	})
	if err != nil {
		return nil, u, err
	}
	dst = append(dst, `],"model":`...)
	dst = jsonscan.AppendQuote(dst, model)
	dst = append(dst, `,"usage":{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	return append(dst, "}}"...), u, nil
}

func append2(dst *[]byte, s string) error {
	*dst = append(*dst, s...)
	return nil
}
