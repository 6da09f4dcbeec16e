// Package openai is the provider for OpenAI's Chat Completions wire format:
// OpenAI itself, Groq, and any OpenAI-compatible server (vLLM, LM Studio,
// DeepSeek, Together, Azure-style deployments).
//
// The request is passed through: the client's body is forwarded byte for
// byte except for the model name, gateway-only fields, and
// stream_options.include_usage, which the gateway always asks for so that it
// can account for tokens (the usage chunk is stripped again when the client
// did not ask for it). Wire format: https://platform.openai.com/docs/api-reference/chat/create
// and https://platform.openai.com/docs/api-reference/chat-streaming.
package openai

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/sse"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/upstream"
	"github.com/valyala/fasthttp"
)

// Config configures an OpenAI-format provider.
type Config struct {
	Name    string
	BaseURL string // includes the version, e.g. https://api.openai.com/v1
	APIKey  string
	// AuthHeader is "authorization" (Bearer, the default) or the name of a
	// header that carries the bare key (Azure's "api-key").
	AuthHeader string
	// Query is appended to every path (Azure's "api-version=2024-10-21").
	Query   string
	Headers map[string]string
	Timeout time.Duration
	// PromptCacheKey sends Call.PromptCacheKey as prompt_cache_key: on for
	// OpenAI itself, off for other OpenAI-compatible servers, which may
	// reject unknown parameters.
	PromptCacheKey bool
	// Responses: the upstream serves the Responses API (/responses), so
	// /v1/responses is passed through to it (responses.go).
	Responses bool
	// Batches: the upstream has OpenAI's Batch API (batches.go), used for
	// native provider batches.
	Batches bool
	upstream.Options
}

// Provider talks to one OpenAI-format upstream.
type Provider struct {
	cfg    Config
	client *upstream.Client
	chat   []byte // absolute URL of /chat/completions
	embed  []byte
	// responses and inputTokens are the absolute URLs of /responses and
	// /responses/input_tokens.
	responses, inputTokens []byte
	// redact removes the key, credential headers and query secrets from
	// every upstream error text.
	redact *providers.Redactor
}

var _ providers.Provider = (*Provider)(nil)

// New returns a Provider for cfg.
func New(cfg Config) (*Provider, error) {
	c, err := upstream.New(cfg.BaseURL, cfg.Options)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	secrets := append([]string{cfg.APIKey}, providers.SecretHeaders(cfg.Headers)...)
	secrets = append(secrets, providers.SecretQuery(cfg.Query)...)
	p := &Provider{cfg: cfg, client: c, redact: providers.NewRedactor(secrets...)}
	p.chat = c.URL(nil, "/chat/completions")
	p.embed = c.URL(nil, "/embeddings")
	p.responses = c.URL(nil, "/responses")
	p.inputTokens = c.URL(nil, "/responses/input_tokens")
	if cfg.Query != "" {
		p.responses = append(append(p.responses, '?'), cfg.Query...)
		p.inputTokens = append(append(p.inputTokens, '?'), cfg.Query...)
		p.chat = append(append(p.chat, '?'), cfg.Query...)
		p.embed = append(append(p.embed, '?'), cfg.Query...)
	}
	return p, nil
}

// Name returns the configured provider name.
func (p *Provider) Name() string { return p.cfg.Name }

// gatewayFields are request members that only the gateway understands.
var gatewayFields = [...]string{"skill"}

func (p *Provider) newRequest(call *providers.Call, buf *[]byte) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(p.chat)
	req.Header.SetContentType("application/json")
	p.setAuth(req)
	if call.Req.Stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	opts := BodyOptions{NoReasoning: call.NoReasoning, CapMaxTokens: call.CapMaxTokens}
	if p.cfg.PromptCacheKey {
		opts.PromptCacheKey = call.PromptCacheKey
	}
	*buf = AppendBodyWith((*buf)[:0], call.Req, call.Model, opts)
	req.SetBodyRaw(*buf)
	return req
}

// setAuth adds the key and the configured extra headers.
func (p *Provider) setAuth(req *fasthttp.Request) {
	if p.cfg.APIKey != "" {
		if p.cfg.AuthHeader == "" || p.cfg.AuthHeader == "authorization" {
			req.Header.Set("Authorization", "Bearer "+p.cfg.APIKey)
		} else {
			req.Header.Set(p.cfg.AuthHeader, p.cfg.APIKey)
		}
	}
	for k, v := range p.cfg.Headers {
		req.Header.Set(k, v)
	}
}

// pooledCall is one Chat call's pooled state: the upstream request body, the
// fasthttp request and response, the Response handed to the caller and the
// stream relay. Its release is bound once, when the pool makes it, so that a
// call allocates nothing: no closure, no Response.
type pooledCall struct {
	// body is the upstream request body; a stream gives it back to
	// bodyPool once the request is sent (nil until the next call takes
	// one), so that an open stream does not keep a copy of its prompt.
	body   *bodyBuf
	req    *fasthttp.Request
	resp   *fasthttp.Response
	out    providers.Response
	relay  Relay
	stream bool
	// release and cancel are c.put and c.cancelStream, bound once.
	release, cancel func()
}

var callPool sync.Pool

func init() {
	callPool.New = func() any {
		c := new(pooledCall)
		c.release, c.cancel = c.put, c.cancelStream
		return c
	}
}

type bodyBuf struct{ b []byte }

// bodyPool holds upstream request bodies: the Responses API calls', and
// chat streams' once sent.
var bodyPool = sync.Pool{New: func() any { return new(bodyBuf) }}

// put ends the call and returns c to the pool. A stream read to its end
// gives its connection back to the client's pool; any other is closed.
func (c *pooledCall) put() {
	upstream.Release(c.req, c.resp, c.stream, c.relay.tail.Clean())
	c.req, c.resp, c.stream = nil, nil, false
	callPool.Put(c)
}

func (c *pooledCall) cancelStream() { upstream.Cancel(c.resp) }

// Chat sends call to the upstream.
func (p *Provider) Chat(ctx context.Context, call *providers.Call) (*providers.Response, error) {
	c := callPool.Get().(*pooledCall)
	if c.body == nil {
		c.body = bodyPool.Get().(*bodyBuf)
	}
	c.req = p.newRequest(call, &c.body.b)
	c.resp = fasthttp.AcquireResponse()
	if call.Req.Stream {
		return p.stream(ctx, call, c)
	}
	timeout := call.Timeout
	if timeout <= 0 {
		timeout = p.cfg.Timeout
	}
	resp := c.resp
	if err := p.client.Do(ctx, c.req, resp, timeout); err != nil {
		c.put()
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		err := p.upstreamError(resp.StatusCode(), resp.Body(), resp.Header.Peek("Retry-After"))
		c.put()
		return nil, err
	}
	out := &c.out
	out.Init(c.release)
	out.Body = resp.Body()
	if u := jsonscan.Get(out.Body, "usage"); u != nil {
		out.Usage = providers.ParseUsage(u)
	}
	return out, nil
}

func (p *Provider) stream(ctx context.Context, call *providers.Call, c *pooledCall) (*providers.Response, error) {
	resp := c.resp
	if err := p.client.DoStream(ctx, c.req, resp); err != nil {
		c.put()
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		err := p.upstreamError(resp.StatusCode(), upstream.ErrorBody(resp), resp.Header.Peek("Retry-After"))
		c.put()
		return nil, err
	}
	c.req = upstream.Sent(c.req) // written: not needed while the answer streams
	bodyPool.Put(c.body)
	c.body = nil
	s := &c.relay
	s.Reset(resp.BodyStream(), call.Req.IncludeUsage, p.cfg.Name)
	s.cancel = c.cancel
	s.redact = p.redact
	c.stream = true
	out := &c.out
	out.Init(c.release)
	out.Stream = s
	return out, nil
}

// Relay turns an upstream OpenAI SSE body into the client's stream: events
// are forwarded as they arrive, usage is captured by scanning for it rather
// than decoding every chunk, and the usage-only chunk is dropped when the
// client did not ask for it. An error event has the provider's secrets
// removed before it is forwarded.
//
// # Notes
//
// Next allocates nothing in steady state. Close may run concurrently with
// Next and makes a blocked Next return.
type Relay struct {
	sr           sse.Reader
	out          []byte
	usage        providers.Usage
	includeUsage bool
	done         bool
	provider     string
	cancel       func()
	redact       *providers.Redactor
	// tail reads the body to its end after [DONE], so that the upstream
	// connection goes back to the pool.
	tail    upstream.Tail
	sawDone bool
}

// Reset prepares r to relay body.
func (r *Relay) Reset(body io.Reader, includeUsage bool, provider string) {
	r.sr.Reset(body, 0)
	r.out, r.usage, r.includeUsage, r.done, r.provider, r.cancel = r.out[:0], providers.Usage{}, includeUsage, false, provider, nil
	r.redact, r.sawDone = nil, false
	r.tail.Reset(body)
}

var (
	doneData     = []byte("[DONE]")
	usageKey     = []byte(`"usage":`)
	emptyChoices = []byte(`"choices":[]`)
	errorKey     = []byte(`"error"`)
)

// Next returns the next event(s) for the client.
func (r *Relay) Next() ([]byte, error) {
	for {
		if r.done {
			if r.sawDone {
				r.tail.Drain()
			}
			return nil, io.EOF
		}
		ev, err := r.sr.Next()
		if err != nil {
			r.done = true
			return r.fail(err), nil
		}
		if bytes.Equal(ev.Data, doneData) {
			r.done, r.sawDone = true, true
			return sse.Done, nil
		}
		i := bytes.Index(ev.Data, usageKey)
		if i >= 0 {
			rest := ev.Data[i+len(usageKey):]
			rest = rest[jsonscan.SkipSpace(rest, 0):]
			if jsonscan.KindOf(rest) == jsonscan.Object {
				if end, err := jsonscan.Skip(rest, 0); err == nil {
					r.usage = providers.ParseUsage(rest[:end])
				}
				if !r.includeUsage && bytes.Contains(ev.Data, emptyChoices) {
					continue
				}
			}
		}
		data := ev.Data
		if isError(ev, i >= 0) {
			data = r.redact.Bytes(data)
		}
		r.out = sse.AppendData(r.out[:0], data)
		return r.out, nil
	}
}

// errorWindow is how far into an event's data an "error" token is looked
// for in every event: the head of an object fits the fast path of
// bytes.Index (a brute-force SIMD scan up to 64 bytes).
const errorWindow = 64

// isError reports whether an event may be an error, which may echo the key:
// an "error" event, an "error" token at the head of the data ({"error":…},
// vLLM's {"object":"error",…}), or anywhere in data that has no "usage"
// member. Ordinary chunks always have one (the gateway asks for usage, and
// OpenAI then sends "usage":null in every chunk), so they cost one short
// scan, not a second full one.
func isError(ev sse.Event, hasUsage bool) bool {
	if string(ev.Name) == "error" {
		return true
	}
	head := ev.Data[:min(len(ev.Data), errorWindow)]
	return bytes.Contains(head, errorKey) || !hasUsage && bytes.Contains(ev.Data, errorKey)
}

func (r *Relay) fail(err error) []byte {
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
	r.out = providers.AppendErrorEvent(r.out[:0], "upstream_error", code, r.redact.String(msg))
	return r.out
}

// Usage returns the usage captured from the stream.
func (r *Relay) Usage() providers.Usage { return r.usage }

// Pending reports whether the next event is already buffered: the engine
// then sends both in one write instead of one write per event.
func (r *Relay) Pending() bool { return !r.done && r.sr.Pending() }

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

// upstreamError maps an error answer with the provider's secrets removed:
// from the body before it is parsed, and from every field after (an escape
// the parser undid may have hidden one).
func (p *Provider) upstreamError(status int, body, retryAfter []byte) *providers.UpstreamError {
	return p.redact.Error(ParseError(p.cfg.Name, status, p.redact.Bytes(body), retryAfter))
}

// transportError maps a transport failure with the provider's secrets
// removed (a configured query secret is part of the URL).
func (p *Provider) transportError(err error) *providers.UpstreamError {
	return p.redact.Error(providers.TransportError(p.cfg.Name, p.redact.Err(err), upstream.IsTimeout(err)))
}

// ParseError maps an upstream error response to an UpstreamError. The
// upstream's message is kept with anything resembling a known provider's key
// masked (the Provider also removes its own key, whatever its shape); 4xx
// statuses are kept, 5xx become 502, 408/504 become 504.
func ParseError(provider string, status int, body, retryAfter []byte) *providers.UpstreamError {
	e := &providers.UpstreamError{Status: status, Type: "upstream_error"}
	if v := jsonscan.Get(body, "error"); v != nil {
		switch jsonscan.KindOf(v) {
		case jsonscan.Object:
			e.Message = strField(v, "message")
			e.Type = orDefault(strField(v, "type"), e.Type)
			e.Code = strField(v, "code")
			e.Param = strField(v, "param")
		case jsonscan.String:
			s, _, _ := jsonscan.Unquote(v, nil)
			e.Message = string(s)
		}
	}
	if e.Message == "" {
		e.Message = "upstream " + provider + " answered HTTP " + strconv.Itoa(status)
	} else {
		e.Message = "upstream " + provider + ": " + providers.MaskKeys(e.Message)
	}
	switch {
	case status == 408 || status == 504:
		e.Status = 504
	case status == 401 || status == 403:
		// The client's key is fine; ours was refused. That is the gateway's
		// misconfiguration, not the client's: report a bad gateway.
		e.Status = 502
		e.Code = "upstream_auth_failed"
	case status >= 500:
		e.Status = 502
	case status < 400:
		e.Status = 502
	}
	if len(retryAfter) > 0 {
		if n, err := strconv.Atoi(string(retryAfter)); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return e
}

func strField(obj []byte, key string) string {
	v := jsonscan.Get(obj, key)
	switch jsonscan.KindOf(v) {
	case jsonscan.String:
		s, _, err := jsonscan.Unquote(v, nil)
		if err != nil {
			return ""
		}
		return string(s)
	case jsonscan.Number:
		return string(v)
	}
	return ""
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
