package semantic

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// Provider is an Embedder backed by any gateway provider that serves
// embeddings (OpenAI-format, Gemini, Ollama): it sends an OpenAI
// embeddings request for the configured model and reads the OpenAI
// embeddings response.
//
// # Notes
//
// A Provider is immutable and safe for concurrent use if the provider is.
// providers.Embedder takes no context: when ctx ends first, Embed returns
// ctx.Err() at once and the call finishes (and is released) in the
// background, bounded by the provider's own timeout.
type Provider struct {
	p           providers.Embedder
	name, model string
}

var _ Embedder = (*Provider)(nil)

// NewProvider returns an Embedder that calls p (named name in the gateway's
// configuration, e.g. "openai") with the upstream model
// ("text-embedding-3-small").
func NewProvider(p providers.Embedder, name, model string) *Provider {
	return &Provider{p: p, name: name, model: model}
}

// ID names the vector space: the provider and the model.
func (e *Provider) ID() string { return "provider:" + e.name + "/" + e.model }

// Embed returns one vector per text, in the order of texts.
func (e *Provider) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if len(texts) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	body := appendEmbeddingsRequest(nil, e.model, texts)
	type result struct {
		vecs [][]float32
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := e.p.Embed(ctx, body, e.model)
		if err != nil {
			done <- result{err: err}
			return
		}
		vecs, err := parseEmbeddings(resp.Body, len(texts))
		resp.Close()
		done <- result{vecs, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("embed with %s/%s: %w", e.name, e.model, r.err)
		}
		return r.vecs, nil
	}
}

// appendEmbeddingsRequest appends {"model":M,"input":[T…]}. encoding_format
// is left to its default (float): not every upstream honours it.
func appendEmbeddingsRequest(dst []byte, model string, texts []string) []byte {
	dst = append(dst, `{"model":`...)
	dst = jsonscan.AppendQuote(dst, model)
	dst = append(dst, `,"input":[`...)
	for i, t := range texts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonscan.AppendQuote(dst, t)
	}
	return append(dst, "]}"...)
}

// parseEmbeddings reads an OpenAI embeddings response: data[i].embedding
// as an array of numbers (or a base64 string of little-endian float32s),
// placed by data[i].index. Every one of the n inputs must have a vector,
// all of the same length.
func parseEmbeddings(body []byte, n int) ([][]float32, error) {
	if err := jsonscan.Validate(body); err != nil {
		return nil, fmt.Errorf("embeddings response: %w", err)
	}
	data := jsonscan.Get(body[jsonscan.SkipSpace(body, 0):], "data")
	if jsonscan.KindOf(data) != jsonscan.Array {
		return nil, fmt.Errorf("embeddings response: no data array")
	}
	out := make([][]float32, n)
	err := jsonscan.ArrayEach(data, func(pos int, item []byte) error {
		idx := pos
		if v := jsonscan.Get(item, "index"); v != nil {
			i, err := jsonscan.ParseInt(v)
			if err != nil {
				return fmt.Errorf("data[%d].index: %w", pos, err)
			}
			idx = int(i)
		}
		if idx < 0 || idx >= n || out[idx] != nil {
			return fmt.Errorf("data[%d].index %d is out of range or repeated", pos, idx)
		}
		emb := jsonscan.Get(item, "embedding")
		var vec []float32
		switch jsonscan.KindOf(emb) {
		case jsonscan.Array:
			err := jsonscan.ArrayEach(emb, func(_ int, num []byte) error {
				f, err := jsonscan.ParseFloat(num)
				if err != nil {
					return err
				}
				if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > math.MaxFloat32 {
					return fmt.Errorf("value %v out of range", f)
				}
				vec = append(vec, float32(f))
				return nil
			})
			if err != nil {
				return fmt.Errorf("data[%d].embedding: %w", pos, err)
			}
		case jsonscan.String:
			s, _, err := jsonscan.Unquote(emb, nil)
			if err != nil {
				return fmt.Errorf("data[%d].embedding: %w", pos, err)
			}
			raw, err := base64.StdEncoding.DecodeString(string(s))
			if err != nil || len(raw)%4 != 0 {
				return fmt.Errorf("data[%d].embedding: not base64 float32s", pos)
			}
			vec = make([]float32, len(raw)/4)
			for i := range vec {
				vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
				if f := float64(vec[i]); math.IsNaN(f) || math.IsInf(f, 0) {
					return fmt.Errorf("data[%d].embedding: NaN or Inf", pos)
				}
			}
		default:
			return fmt.Errorf("data[%d].embedding: not an array", pos)
		}
		if len(vec) == 0 {
			return fmt.Errorf("data[%d].embedding is empty", pos)
		}
		out[idx] = vec
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embeddings response: %w", err)
	}
	for i, v := range out {
		if v == nil {
			return nil, fmt.Errorf("embeddings response: no vector for input %d", i)
		}
		if len(v) != len(out[0]) {
			return nil, fmt.Errorf("embeddings response: vectors of %d and %d dimensions", len(out[0]), len(v))
		}
	}
	return out, nil
}
