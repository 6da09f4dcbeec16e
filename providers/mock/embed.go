package mock

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

var _ providers.Embedder = (*Provider)(nil)

// Embedding dimensions: DefaultDimensions unless the request asks for
// dimensions (1 to MaxDimensions).
const (
	DefaultDimensions = 256
	MaxDimensions     = 3072
)

// Embed answers an OpenAI embeddings request
// (https://platform.openai.com/docs/api-reference/embeddings/create) with
// deterministic vectors, for every mock model (another name is a 404, as
// in chat): each input is hashed into
// a bag of its lowercased words and word pairs (the hashing trick, signed),
// then scaled to unit length, so that texts sharing words are close in
// cosine similarity and the same text always gets the same vector. input
// may be a string, an array of strings, an array of token ids or an array
// of such arrays (token ids are hashed as words); encoding_format "base64"
// gives little-endian float32s, as OpenAI encodes them; usage counts one
// prompt token per four bytes of text (one per token id).
func (p *Provider) Embed(ctx context.Context, body []byte, model string) (*providers.Response, error) {
	if p.cfg.Latency > 0 {
		t := time.NewTimer(p.cfg.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, &providers.UpstreamError{Status: 499, Type: "upstream_error", Message: "request cancelled", Err: ctx.Err()}
		case <-t.C:
		}
	}
	if !slices.Contains(Models, model) {
		// As its chat answers do (answer): mock/<anything> is not a model.
		return nil, &providers.UpstreamError{Status: 404, Type: "invalid_request_error", Code: "model_not_found",
			Param: "model", Message: "mock has no model " + model + "; it serves echo, lorem and tool"}
	}
	out, u, err := embed(nil, body, model)
	if err != nil {
		re, _ := err.(*providers.RequestError)
		param := ""
		if re != nil {
			param = re.Param
		}
		return nil, &providers.UpstreamError{Status: 400, Type: "invalid_request_error", Param: param, Message: err.Error(), Err: err}
	}
	r := providers.NewResponse(nil)
	r.Body, r.Usage = out, u
	return r, nil
}

func embedErr(param, msg string) error { return &providers.RequestError{Param: param, Msg: msg} }

// embed builds the OpenAI embeddings answer for body.
func embed(dst, body []byte, model string) ([]byte, providers.Usage, error) {
	var u providers.Usage
	if err := jsonscan.Validate(body); err != nil {
		return nil, u, embedErr("", "request body is not valid JSON: "+err.Error())
	}
	obj := body[jsonscan.SkipSpace(body, 0):]
	if jsonscan.KindOf(obj) != jsonscan.Object {
		return nil, u, embedErr("", "request body must be a JSON object")
	}
	dims, b64 := DefaultDimensions, false
	var input []byte
	err := jsonscan.ObjectEach(obj, func(k, v []byte) error {
		switch string(k) {
		case "input":
			input = v
		case "dimensions":
			n, err := jsonscan.ParseInt(v)
			if err != nil || n < 1 || n > MaxDimensions {
				return embedErr("dimensions", "expected an integer from 1 to "+strconv.Itoa(MaxDimensions))
			}
			dims = int(n)
		case "encoding_format":
			switch string(v) {
			case `"float"`, "null":
			case `"base64"`:
				b64 = true
			default:
				return embedErr("encoding_format", `expected "float" or "base64"`)
			}
		}
		return nil
	})
	if err != nil {
		return nil, u, err
	}
	var texts []string
	switch jsonscan.KindOf(input) {
	case jsonscan.String:
		s, _, err := jsonscan.Unquote(input, nil)
		if err != nil {
			return nil, u, embedErr("input", "is not a valid string")
		}
		texts = append(texts, string(s))
	case jsonscan.Array:
		tokens := false
		err := jsonscan.ArrayEach(input, func(i int, e []byte) error {
			switch jsonscan.KindOf(e) {
			case jsonscan.String:
				s, _, err := jsonscan.Unquote(e, nil)
				if err != nil {
					return embedErr("input["+strconv.Itoa(i)+"]", "is not a valid string")
				}
				texts = append(texts, string(s))
			case jsonscan.Number: // one input of token ids
				tokens = true
			case jsonscan.Array: // one input of token ids per element
				t, err := tokenText(e, "input["+strconv.Itoa(i)+"]")
				if err != nil {
					return err
				}
				texts = append(texts, t)
			default:
				return embedErr("input["+strconv.Itoa(i)+"]", "expected a string, a token id or an array of token ids")
			}
			return nil
		})
		if err != nil {
			return nil, u, err
		}
		if tokens {
			t, err := tokenText(input, "input")
			if err != nil {
				return nil, u, err
			}
			texts = []string{t}
		}
	default:
		return nil, u, embedErr("input", "is required: a string, an array of strings or token ids")
	}
	if len(texts) == 0 {
		return nil, u, embedErr("input", "must not be empty")
	}
	dst = append(dst, `{"object":"list","data":[`...)
	vec := make([]float32, dims)
	var raw []byte
	for i, t := range texts {
		u.PromptTokens += (len(t) + 3) / 4
		hashVector(vec, t)
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"object":"embedding","index":`...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, `,"embedding":`...)
		if b64 {
			raw = raw[:0]
			for _, f := range vec {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, raw)
			dst = append(dst, '"')
		} else {
			dst = append(dst, '[')
			for j, f := range vec {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = strconv.AppendFloat(dst, float64(f), 'g', -1, 32)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	u.Set = true
	dst = append(dst, `],"model":`...)
	dst = jsonscan.AppendQuote(dst, model)
	dst = append(dst, `,"usage":{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	return append(dst, "}}"...), u, nil
}

// tokenText reads an array of token ids as words ("t123 t456"), so that
// they hash like text and count one token each (four bytes a token).
func tokenText(arr []byte, param string) (string, error) {
	var b strings.Builder
	err := jsonscan.ArrayEach(arr, func(j int, e []byte) error {
		n, err := jsonscan.ParseInt(e)
		if err != nil || n < 0 {
			return embedErr(param+"["+strconv.Itoa(j)+"]", "expected a non-negative integer token id")
		}
		if j > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("t")
		b.WriteString(strconv.FormatInt(n, 10))
		return nil
	})
	if err != nil {
		return "", err
	}
	if b.Len() == 0 {
		return "", embedErr(param, "must not be empty")
	}
	return b.String(), nil
}

// hashVector fills vec with text's signed feature hashes of words and word
// pairs, scaled to unit length (the first axis for a text without words).
func hashVector(vec []float32, text string) {
	clear(vec)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	add := func(h uint64, w float32) {
		sign := float32(1)
		if h>>63 == 1 {
			sign = -1
		}
		vec[h%uint64(len(vec))] += sign * w
	}
	for i, w := range words {
		add(fnv64a(fnvOffset, w), 1)
		if i > 0 { // the pair "previous word", " ", word
			add(fnv64a(fnv64a(fnv64a(fnvOffset, words[i-1]), " "), w), 0.5)
		}
	}
	var norm float64
	for _, f := range vec {
		norm += float64(f) * float64(f)
	}
	if norm == 0 {
		vec[0] = 1
		return
	}
	inv := float32(1 / math.Sqrt(norm))
	for i := range vec {
		vec[i] *= inv
	}
}

// FNV-1a (64-bit), over strings without copying them.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv64a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}
