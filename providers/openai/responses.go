package openai

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strconv"
	"sync"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/sse"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/upstream"
	"github.com/valyala/fasthttp"
)

// The Responses API passthrough
// (https://platform.openai.com/docs/api-reference/responses/create and, for
// streams, https://platform.openai.com/docs/api-reference/responses-streaming):
// the client's body goes to {base}/responses with only its model replaced,
// and the answer comes back as the upstream sent it.

var _ providers.ResponsesNative = (*Provider)(nil)

// NativeResponses reports whether the upstream serves /responses
// (Config.Responses).
func (p *Provider) NativeResponses() bool { return p.cfg.Responses }

// Responses forwards a Responses create body (model replaced by model;
// the engine passes only bodies whose member names are spelled plainly, so
// the first "model" is the one). stream must match the body's "stream".
func (p *Provider) Responses(ctx context.Context, body []byte, model string, stream bool) (*providers.Response, error) {
	resp, release, err := p.forward(ctx, p.responses, body, model, stream)
	if err != nil {
		return nil, err
	}
	if !stream {
		out := providers.NewResponse(release)
		out.Body = resp.Body()
		out.Usage = providers.ParseResponsesUsage(jsonscan.Get(out.Body, "usage"))
		return out, nil
	}
	r := responsesRelayPool.Get().(*ResponsesRelay)
	r.Reset(resp.BodyStream(), p.cfg.Name)
	r.cancel = func() { upstream.Cancel(resp) }
	r.redact = p.redact
	out := providers.NewResponse(func() {
		upstream.Finish(resp, r.tail.Clean())
		responsesRelayPool.Put(r)
		release()
	})
	out.Stream = r
	return out, nil
}

// InputTokens forwards an input token count body to
// {base}/responses/input_tokens with the model replaced.
func (p *Provider) InputTokens(ctx context.Context, body []byte, model string) (*providers.Response, error) {
	resp, release, err := p.forward(ctx, p.inputTokens, body, model, false)
	if err != nil {
		return nil, err
	}
	out := providers.NewResponse(release)
	out.Body = resp.Body()
	return out, nil
}

// DeleteResponse deletes a stored response: DELETE /responses/{id}
// (https://platform.openai.com/docs/api-reference/responses/delete), which
// answers {"id","object":"response","deleted":true}. A 404 (OpenAI no
// longer has it: deleted, or past its retention) is what was asked for.
func (p *Provider) DeleteResponse(ctx context.Context, id string) error {
	var resp fasthttp.Response
	err := p.batchCall(ctx, fasthttp.MethodDelete, "/responses/"+url.PathEscape(id), "", nil, &resp)
	if ue, ok := errors.AsType[*providers.UpstreamError](err); ok && ue.Status == fasthttp.StatusNotFound {
		return nil
	}
	return err
}

// forward posts body to uri with its "model" replaced by model, the one
// call path of the passthrough endpoints (embeddings, Responses, input
// tokens). It returns the upstream's successful answer — whole, or with
// only its headers read when stream — and release, which frees it; an
// error status or a transport failure is released here and returned as a
// *providers.UpstreamError.
func (p *Provider) forward(ctx context.Context, uri, body []byte, model string, stream bool) (*fasthttp.Response, func(), error) {
	bb := bodyPool.Get().(*bodyBuf)
	bb.b = jsonscan.AppendReplaced(bb.b[:0], body, "model", jsonscan.AppendQuote(nil, model))
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(uri)
	req.Header.SetContentType("application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	p.setAuth(req)
	req.SetBodyRaw(bb.b)
	resp := fasthttp.AcquireResponse()
	release := func() {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		bodyPool.Put(bb)
	}
	var err error
	if stream {
		err = p.client.DoStream(ctx, req, resp)
	} else {
		err = p.client.Do(ctx, req, resp, p.cfg.Timeout)
	}
	if err != nil {
		release()
		return nil, nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		errBody := resp.Body()
		if stream {
			errBody = upstream.ErrorBody(resp)
		}
		err := p.upstreamError(resp.StatusCode(), errBody, resp.Header.Peek("Retry-After"))
		release()
		return nil, nil, err
	}
	return resp, release, nil
}

var responsesRelayPool = sync.Pool{New: func() any { return new(ResponsesRelay) }}

// ResponsesRelay passes a Responses event stream through ("event: NAME",
// "data: JSON"), recording the usage of its terminal event
// (response.completed, response.incomplete or response.failed, whose
// response carries usage). The stream has no [DONE]: it ends after the
// terminal event. A stream that breaks before one ends with an "error"
// event as OpenAI sends it ({"type":"error","code","message","param",
// "sequence_number"}); an upstream error event has the key removed.
//
// # Notes
//
// Next allocates nothing in steady state. Close may run concurrently with a
// blocked Next and cancels the upstream.
type ResponsesRelay struct {
	sr       sse.Reader
	out      []byte
	usage    providers.Usage
	seq      int // events relayed: the next sequence_number
	done     bool
	ended    bool // the terminal event came: the body may be drained
	failed   bool // an upstream error event was relayed
	provider string
	cancel   func()
	redact   *providers.Redactor
	tail     upstream.Tail
}

var _ providers.Stream = (*ResponsesRelay)(nil)

// Reset prepares r to relay body.
func (r *ResponsesRelay) Reset(body io.Reader, provider string) {
	r.sr.Reset(body, 0)
	r.out, r.usage, r.seq, r.provider, r.cancel, r.redact = r.out[:0], providers.Usage{}, 0, provider, nil, nil
	r.done, r.ended, r.failed = false, false, false
	r.tail.Reset(body)
}

// terminal reports whether an event name ends a Responses stream.
func terminal(name []byte) bool {
	switch string(name) {
	case "response.completed", "response.incomplete", "response.failed":
		return true
	}
	return false
}

// Next returns the next upstream event, re-framed.
func (r *ResponsesRelay) Next() ([]byte, error) {
	if r.done {
		if r.ended {
			r.tail.Drain()
		}
		return nil, io.EOF
	}
	ev, err := r.sr.Next()
	if err != nil {
		r.done = true
		if r.failed {
			return nil, io.EOF // the upstream's error event was the last word
		}
		return r.fail(err), nil
	}
	name := ev.Name
	if len(name) == 0 {
		// OpenAI always names its events; a server that only sends data
		// still says the type in it.
		if t := jsonscan.Get(ev.Data, "type"); jsonscan.KindOf(t) == jsonscan.String {
			name = t[1 : len(t)-1]
		}
	}
	data := ev.Data
	switch {
	case terminal(name):
		r.usage = providers.ParseResponsesUsage(jsonscan.Get(jsonscan.Get(data, "response"), "usage"))
		r.done, r.ended = true, true
	case string(name) == "error":
		data = r.redact.Bytes(data)
		r.failed = true
	}
	r.seq++
	r.out = append(r.out[:0], "event: "...)
	r.out = append(r.out, name...)
	r.out = append(r.out, '\n')
	r.out = sse.AppendData(r.out, data)
	return r.out, nil
}

// fail is the error event for a stream that broke before its end.
func (r *ResponsesRelay) fail(err error) []byte {
	msg := "upstream " + r.provider + " stream failed: " + err.Error()
	code := "upstream_error"
	switch {
	case errors.Is(err, io.EOF):
		msg = "upstream " + r.provider + " closed the stream before it finished"
	case upstream.IsTimeout(err):
		msg = "upstream " + r.provider + " stalled longer than the idle timeout"
		code = "upstream_timeout"
	case errors.Is(err, sse.ErrTooLarge):
		msg = "upstream " + r.provider + " sent a stream event larger than the limit"
	}
	r.out = append(r.out[:0], `event: error`+"\n"+`data: {"type":"error","code":"`...)
	r.out = append(r.out, code...)
	r.out = append(r.out, `","message":`...)
	r.out = jsonscan.AppendQuote(r.out, r.redact.String(msg))
	r.out = append(r.out, `,"param":null,"sequence_number":`...)
	r.out = strconv.AppendInt(r.out, int64(r.seq), 10)
	r.out = append(r.out, "}\n\n"...)
	return r.out
}

// Usage returns the usage of the terminal event.
func (r *ResponsesRelay) Usage() providers.Usage { return r.usage }

// Pending reports whether the next upstream event is already buffered.
func (r *ResponsesRelay) Pending() bool { return !r.done && r.sr.Pending() }

// Close cancels the upstream request unless the stream ended cleanly.
func (r *ResponsesRelay) Close() error {
	if r.tail.Clean() {
		return nil
	}
	if c := r.cancel; c != nil {
		c()
	}
	return nil
}
