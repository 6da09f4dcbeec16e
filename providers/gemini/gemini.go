package gemini

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/upstream"
	"github.com/valyala/fasthttp"
)

// DefaultBaseURL is the Gemini API; the version path is not part of it.
const DefaultBaseURL = "https://generativelanguage.googleapis.com"

// Config configures the Gemini provider.
type Config struct {
	// Name is the provider's name (default "gemini").
	Name string
	// BaseURL excludes the version (default DefaultBaseURL); calls go to
	// {BaseURL}/v1beta/models/{model}:generateContent and friends.
	BaseURL string
	APIKey  string
	// Timeout bounds a non-streaming call (default 120s).
	Timeout time.Duration
	upstream.Options
}

// Provider talks to the Gemini API's generateContent methods.
//
// # Notes
//
// Safe for concurrent use; immutable after New.
type Provider struct {
	cfg    Config
	client *upstream.Client
	models []byte // absolute URL of /v1beta/models/
	// redact removes the key from every upstream error text.
	redact *providers.Redactor
}

var _ providers.Provider = (*Provider)(nil)

// New returns a Provider for cfg.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "gemini"
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	c, err := upstream.New(strings.TrimRight(cfg.BaseURL, "/"), cfg.Options)
	if err != nil {
		return nil, err
	}
	return &Provider{cfg: cfg, client: c, models: c.URL(nil, "/v1beta/models/"), redact: providers.NewRedactor(cfg.APIKey)}, nil
}

// Name returns the configured provider name.
func (p *Provider) Name() string { return p.cfg.Name }

// modelName strips an optional "models/" prefix and refuses names that
// could escape the path segment.
func modelName(model string) (string, error) {
	model = strings.TrimPrefix(model, "models/")
	if model == "" {
		return "", badRequest("model", "is required")
	}
	for i := 0; i < len(model); i++ {
		c := model[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", badRequest("model", "gemini model names hold only letters, digits, '-', '.' and '_'")
		}
	}
	return model, nil
}

// url appends {base}/v1beta/models/{model}:{method}.
func (p *Provider) url(dst []byte, model, method string) []byte {
	dst = append(dst, p.models...)
	dst = append(dst, model...)
	dst = append(dst, ':')
	return append(dst, method...)
}

type buffers struct {
	body []byte
	url  []byte
	resp respBuf
}

var bufPool = sync.Pool{New: func() any { return new(buffers) }}

// pooledCall is one Chat call's pooled state: the buffers, the fasthttp
// request and response, the Response handed to the caller and the stream
// translator. Its release and cancel are bound once, when the pool makes
// it, so that a call allocates no closure and no Response.
type pooledCall struct {
	bb       buffers
	req      *fasthttp.Request
	resp     *fasthttp.Response
	out      providers.Response
	tr       Translator
	streamed bool
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

// put ends the call and returns c to the pool. A stream read to its end
// gives its connection back to the client's pool; any other is closed.
func (c *pooledCall) put() {
	upstream.Release(c.req, c.resp, c.streamed, c.tr.tail.Clean())
	c.req, c.resp, c.streamed = nil, nil, false
	callPool.Put(c)
}

func (c *pooledCall) cancelStream() { upstream.Cancel(c.resp) }

func (p *Provider) newRequest(url, body []byte, stream bool) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(url)
	req.Header.SetContentType("application/json")
	if p.cfg.APIKey != "" {
		req.Header.Set("x-goog-api-key", p.cfg.APIKey)
	}
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	req.SetBodyRaw(body)
	return req
}

// Chat translates call to generateContent (or streamGenerateContent with
// alt=sse), sends it, and translates the answer back to OpenAI's format.
func (p *Provider) Chat(ctx context.Context, call *providers.Call) (*providers.Response, error) {
	model, err := modelName(call.Model)
	if err != nil {
		return nil, err
	}
	pc := callPool.Get().(*pooledCall)
	bb := &pc.bb
	body, err := appendRequest(bb.body[:0], call)
	bb.body = body
	if err != nil {
		pc.put()
		return nil, err
	}
	method := "generateContent"
	if call.Req.Stream {
		method = "streamGenerateContent?alt=sse"
	}
	bb.url = p.url(bb.url[:0], model, method)
	pc.req, pc.resp = p.newRequest(bb.url, body, call.Req.Stream), fasthttp.AcquireResponse()
	if call.Req.Stream {
		return p.stream(ctx, call, pc)
	}
	timeout := call.Timeout
	if timeout <= 0 {
		timeout = p.cfg.Timeout
	}
	resp := pc.resp
	if err := p.client.Do(ctx, pc.req, resp, timeout); err != nil {
		pc.put()
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		err := p.upstreamError(resp.StatusCode(), resp.Body(), resp.Header.Peek("Retry-After"))
		pc.put()
		return nil, err
	}
	c := providers.Completion{ID: call.ID, Created: call.Created, Model: call.Model}
	if err := parseResponse(resp.Body(), &c, &bb.resp); err != nil {
		pc.put()
		return nil, &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_bad_response",
			Message: "upstream " + p.cfg.Name + " answered with a malformed response", Err: err}
	}
	out := &pc.out
	out.Init(pc.release)
	bb.resp.out = c.AppendJSON(bb.resp.out[:0])
	out.Body, out.Usage = bb.resp.out, c.Usage
	return out, nil
}

func (p *Provider) stream(ctx context.Context, call *providers.Call, pc *pooledCall) (*providers.Response, error) {
	resp := pc.resp
	if err := p.client.DoStream(ctx, pc.req, resp); err != nil {
		pc.put()
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		err := p.upstreamError(resp.StatusCode(), upstream.ErrorBody(resp), resp.Header.Peek("Retry-After"))
		pc.put()
		return nil, err
	}
	pc.req = upstream.Sent(pc.req) // written: not needed while the answer streams
	t := &pc.tr
	t.Reset(resp.BodyStream(), p.cfg.Name, call.ID, call.Created, call.Model, call.Req.IncludeUsage)
	t.cancel = pc.cancel
	t.redact = p.redact
	pc.streamed = true
	out := &pc.out
	out.Init(pc.release)
	out.Stream = t
	return out, nil
}

// upstreamError maps an error answer with the key removed: from the body
// before it is parsed, and from every field after (an escape the parser
// undid may have hidden it).
func (p *Provider) upstreamError(status int, body, retryAfter []byte) *providers.UpstreamError {
	return p.redact.Error(ParseError(p.cfg.Name, status, p.redact.Bytes(body), retryAfter))
}

// transportError maps a transport failure with the key removed.
func (p *Provider) transportError(err error) *providers.UpstreamError {
	return p.redact.Error(providers.TransportError(p.cfg.Name, p.redact.Err(err), upstream.IsTimeout(err)))
}
