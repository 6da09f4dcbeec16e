package anthropic

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/sse"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/upstream"
	"github.com/valyala/fasthttp"
)

// AppendWithModel appends body with the value of its top-level "model"
// member replaced by model (inserted first when absent), every other byte
// unchanged: Anthropic's prompt cache keys on the exact prefix, so a
// passthrough must never reorder or re-serialise. An empty model leaves the
// body as it is.
func AppendWithModel(dst, body []byte, model string) ([]byte, error) {
	if err := jsonscan.Validate(body); err != nil {
		return dst, &providers.RequestError{Msg: "request body is not valid JSON: " + err.Error()}
	}
	obj := body[jsonscan.SkipSpace(body, 0):]
	if jsonscan.KindOf(obj) != jsonscan.Object {
		return dst, &providers.RequestError{Msg: "request body must be a JSON object"}
	}
	if model == "" {
		return append(dst, body...), nil
	}
	var val []byte
	_ = jsonscan.ObjectEach(obj, func(k, v []byte) error {
		if string(k) == "model" {
			val = v
			return errFound
		}
		return nil
	})
	if val == nil {
		open := wire.OffsetOf(body, obj) + 1
		dst = append(dst, body[:open]...)
		dst = append(dst, `"model":`...)
		dst = jsonscan.AppendQuote(dst, model)
		if rest := wire.TrimSpace(body[open:]); len(rest) > 0 && rest[0] != '}' {
			dst = append(dst, ',')
		}
		return append(dst, body[open:]...), nil
	}
	start := wire.OffsetOf(body, val)
	dst = append(dst, body[:start]...)
	dst = jsonscan.AppendQuote(dst, model)
	return append(dst, body[start+len(val):]...), nil
}

var errFound = errors.New("found")

// Messages forwards an Anthropic Messages request body to
// {BaseURL}/v1/messages unchanged except for the model (AppendWithModel)
// and, with Config.CacheControl, cache_control breakpoints inserted when the
// body has none of its own, with the gateway's key, the client's
// anthropic-version (default Version) and anthropic-beta. query is the
// client's raw query string, forwarded as it is (Anthropic's SDKs send
// "beta=true" on their beta endpoints, which Claude Code uses); nil or
// empty sends none. stream must match the body's "stream" member.
//
// The answer is Anthropic's own: Response.Body is the upstream message JSON
// as received, or Response.Stream relays the upstream events as they come
// (re-framed as "event: …\ndata: …\n\n", the JSON untouched; a transport
// failure or an upstream that ends before message_stop yields an Anthropic
// error event). Usage is read from the message, or from message_start and
// message_delta. Non-2xx answers are returned as *providers.UpstreamError
// (ParseError); AppendError renders them for an Anthropic client.
func (p *Provider) Messages(ctx context.Context, body []byte, model string, h providers.HeaderGetter, query []byte, stream bool) (*providers.Response, error) {
	return p.passthrough(ctx, p.messages, body, model, h, query, stream, p.cfg.CacheControl)
}

// CountTokens forwards a count_tokens request body
// (https://docs.anthropic.com/en/api/messages-count-tokens) like Messages;
// Response.Body is Anthropic's {"input_tokens":N}.
func (p *Provider) CountTokens(ctx context.Context, body []byte, model string, h providers.HeaderGetter, query []byte) (*providers.Response, error) {
	return p.passthrough(ctx, p.countTokens, body, model, h, query, false, false)
}

type passBuf struct{ body, url []byte }

var passPool = sync.Pool{New: func() any { return new(passBuf) }}

func (p *Provider) passthrough(ctx context.Context, url, body []byte, model string, h providers.HeaderGetter, query []byte, stream, cache bool) (*providers.Response, error) {
	pb := passPool.Get().(*passBuf)
	b, err := AppendWithModel(pb.body[:0], body, model)
	if err == nil && cache {
		// Only when the client set no breakpoint of its own.
		b, _ = addBreakpointsWith(b, model, p.minTokens, true, p.ledger)
	}
	pb.body = b
	if err != nil {
		passPool.Put(pb)
		return nil, &providers.UpstreamError{Status: 400, Type: "invalid_request_error", Message: err.Error(), Err: err}
	}
	if len(query) > 0 {
		pb.url = append(append(append(pb.url[:0], url...), '?'), query...)
		url = pb.url
	}
	req := p.newRequest(url, b, h, stream, true) // the URI is copied
	resp := fasthttp.AcquireResponse()
	release := func() {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		passPool.Put(pb)
	}
	if !stream {
		if err := p.client.Do(ctx, req, resp, p.cfg.Timeout); err != nil {
			release()
			return nil, p.transportError(err)
		}
		if resp.StatusCode() != fasthttp.StatusOK {
			err := p.upstreamError(resp.StatusCode(), resp.Body(), resp.Header.Peek("Retry-After"))
			release()
			return nil, err
		}
		out := providers.NewResponse(release)
		out.Body = resp.Body()
		var u usageCounts
		parseUsage(jsonscan.Get(out.Body, "usage"), &u)
		out.Usage = u.openAI()
		return out, nil
	}
	if err := p.client.DoStream(ctx, req, resp); err != nil {
		release()
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		err := p.upstreamError(resp.StatusCode(), upstream.ErrorBody(resp), resp.Header.Peek("Retry-After"))
		release()
		return nil, err
	}
	r := relayPool.Get().(*Relay)
	r.Reset(resp.BodyStream(), p.cfg.Name)
	r.cancel = func() { upstream.Cancel(resp) }
	r.redact = p.redact
	out := providers.NewResponse(func() {
		upstream.Finish(resp, r.tail.Clean())
		relayPool.Put(r)
		release()
	})
	out.Stream = r
	return out, nil
}

var relayPool = sync.Pool{New: func() any { return new(Relay) }}

// Relay passes an Anthropic event stream through, recording usage. An
// error event has the provider's key removed before it is relayed.
//
// # Notes
//
// Next allocates nothing in steady state. Close may run concurrently with a
// blocked Next and cancels the upstream.
type Relay struct {
	sr       sse.Reader
	out      []byte
	scratch  []byte
	usage    usageCounts
	done     bool
	stopped  bool
	provider string
	cancel   func()
	redact   *providers.Redactor
	// tail records that the body was read to its end after message_stop:
	// the upstream connection then goes back to the pool.
	tail upstream.Tail
}

var _ providers.Stream = (*Relay)(nil)

// Reset prepares r to relay body.
func (r *Relay) Reset(body io.Reader, provider string) {
	r.sr.Reset(body, 0)
	r.out, r.scratch, r.usage, r.done, r.stopped, r.provider, r.cancel = r.out[:0], r.scratch[:0], usageCounts{}, false, false, provider, nil
	r.redact = nil
	r.tail.Reset(body)
}

// Next returns the next upstream event.
// Pending reports whether the next upstream event is already buffered.
func (r *Relay) Pending() bool { return r.sr.Pending() }

func (r *Relay) Next() ([]byte, error) {
	if r.done {
		return nil, io.EOF
	}
	ev, err := r.sr.Next()
	if err != nil {
		r.done = true
		if r.stopped && errors.Is(err, io.EOF) {
			r.tail.Drain() // the body has ended: this only records it
			return nil, io.EOF
		}
		status := 502
		if upstream.IsTimeout(err) {
			status = 504
		}
		r.out = AppendErrorEvent(r.out[:0], status, r.redact.String(failMessage(r.provider, err)))
		return r.out, nil
	}
	if string(ev.Name) == "error" {
		return r.errorEvent(ev), nil
	}
	r.out = r.out[:0]
	if ev.Name != nil {
		r.out = append(r.out, "event: "...)
		r.out = append(r.out, ev.Name...)
		r.out = append(r.out, '\n')
	}
	data := ev.Data
	for {
		r.out = append(r.out, "data: "...)
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			r.out = append(r.out, data...)
			break
		}
		r.out = append(r.out, data[:i+1]...)
		data = data[i+1:]
	}
	r.out = append(r.out, "\n\n"...)
	switch string(ev.Name) {
	case "message_start":
		r.scratch = r.scratch[:0]
		parseUsage(jsonscan.Get(jsonscan.Get(ev.Data, "message"), "usage"), &r.usage)
	case "message_delta":
		parseUsage(jsonscan.Get(ev.Data, "usage"), &r.usage)
	case "message_stop":
		r.stopped = true
	}
	return r.out, nil
}

// errorEvent relays an upstream error event with the key removed. Should
// the removal have broken its JSON (a secret that spanned an escape), the
// event is replaced by a generic one.
func (r *Relay) errorEvent(ev sse.Event) []byte {
	r.done = true
	data := r.redact.Bytes(ev.Data)
	if jsonscan.Validate(data) != nil {
		r.out = AppendErrorEvent(r.out[:0], 502, "upstream "+r.provider+" sent an error event the gateway cannot relay")
		return r.out
	}
	r.out = append(r.out[:0], "event: error\ndata: "...)
	r.out = append(r.out, bytes.ReplaceAll(data, []byte("\n"), []byte("\ndata: "))...)
	r.out = append(r.out, "\n\n"...)
	return r.out
}

// Usage returns the usage seen so far, in OpenAI terms.
func (r *Relay) Usage() providers.Usage { return r.usage.openAI() }

// Close cancels the upstream request, unless the stream ended cleanly (its
// connection then goes back to the pool when the response is released).
func (r *Relay) Close() error {
	if r.tail.Clean() {
		return nil
	}
	if c := r.cancel; c != nil {
		c()
	}
	return nil
}
