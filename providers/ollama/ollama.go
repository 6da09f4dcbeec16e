// Package ollama is the provider for Ollama's native chat API: POST
// {base}/api/chat, with NDJSON streaming translated to OpenAI chunks, and
// GET {base}/api/tags for the model list.
//
// Wire format: https://github.com/ollama/ollama/blob/main/docs/api.md
// ("Generate a chat completion", "List Local Models"), and the types in
// https://github.com/ollama/ollama/blob/main/api/types.go (ChatRequest,
// Message with images, tool_calls and tool_name, ChatResponse with
// done_reason and the Metrics counts prompt_eval_count and eval_count).
//
// The translation in brief (details in README.md):
//
//   - system and developer messages become "system"; tool (and legacy
//     function) messages become "tool" with tool_name recovered from the
//     assistant call they answer;
//   - assistant tool_calls carry their arguments as a JSON object, not as the
//     string OpenAI uses; answers go the other way, with synthesised stable
//     ids ("call_<completion id>_<n>") since Ollama's calls may have none;
//   - images must be inline base64 data: URLs (Ollama cannot fetch http(s)
//     URLs) and go to the message's "images" array;
//   - temperature, top_p, seed, stop, max_tokens (num_predict),
//     frequency_penalty, presence_penalty and num_ctx go to "options";
//     response_format becomes "format"; keep_alive, think and an "options"
//     object in the client's body are passed through (the client's own
//     options override the translated ones).
package ollama

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/upstream"
	"github.com/valyala/fasthttp"
)

// Config configures an Ollama provider. It must not be changed after New.
type Config struct {
	// Name is the provider's name in errors and metrics (default "ollama").
	Name string
	// BaseURL is the server root, e.g. http://127.0.0.1:11434, without /api.
	// A trailing /api or /v1 (the OpenAI-compatible prefix people often
	// configure) is removed.
	BaseURL string
	// APIKey, when set, is sent as a Bearer token: for ollama.com or an
	// authenticating proxy in front of a local server.
	APIKey string
	// Headers are sent with every request (e.g. CF-Access-Client-Id).
	Headers map[string]string
	// Timeout bounds a non-streaming call and a model listing (default 120s).
	Timeout time.Duration
	// NumCtx is the default options.num_ctx (0: the model's own default).
	NumCtx int
	// ModelNumCtx overrides NumCtx per upstream model name, typically with
	// the context window from the gateway's model catalog.
	ModelNumCtx map[string]int
	upstream.Options
}

// Provider talks to one Ollama server.
//
// # Notes
//
// Safe for concurrent use. It never logs and never puts Config.APIKey in an
// error.
type Provider struct {
	cfg    Config
	client *upstream.Client
	chat   []byte // absolute URL of /api/chat
	tags   []byte // absolute URL of /api/tags
	// redact removes the key and credential headers from every upstream
	// error text: Ollama itself has no keys, but an authenticating proxy in
	// front of it may echo the one we sent.
	redact *providers.Redactor
}

var (
	_ providers.Provider    = (*Provider)(nil)
	_ providers.ModelLister = (*Provider)(nil)
)

// New returns a Provider for cfg.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "ollama"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 120 * time.Second
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	for _, suffix := range [...]string{"/api", "/v1"} {
		base = strings.TrimSuffix(base, suffix)
	}
	c, err := upstream.New(base, cfg.Options)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, client: c, redact: providers.NewRedactor(append([]string{cfg.APIKey}, providers.SecretHeaders(cfg.Headers)...)...)}
	p.chat = c.URL(nil, "/api/chat")
	p.tags = c.URL(nil, "/api/tags")
	return p, nil
}

// Name returns the configured provider name.
func (p *Provider) Name() string { return p.cfg.Name }

// numCtx is the num_ctx to send for model when the request sets none.
func (p *Provider) numCtx(model string) int {
	if n, ok := p.cfg.ModelNumCtx[model]; ok && n > 0 {
		return n
	}
	return p.cfg.NumCtx
}

// AppendRequest appends the /api/chat body for call to dst. A request that
// Ollama cannot express (an http image URL, tool-call arguments that are not
// a JSON object, an unsupported content part) is a *providers.RequestError.
func (p *Provider) AppendRequest(dst []byte, call *providers.Call) ([]byte, error) {
	return appendRequest(dst, call, p.numCtx(call.Model))
}

// pooledCall is one Chat call's pooled state: the request and answer
// buffers, the fasthttp request and response, the Response handed to the
// caller and the stream translator. Its release and cancel are bound once,
// when the pool makes it, so that a call allocates no closure and no
// Response.
type pooledCall struct {
	req, out []byte
	hreq     *fasthttp.Request
	hresp    *fasthttp.Response
	resp     providers.Response
	stream   Stream
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
	upstream.Release(c.hreq, c.hresp, c.streamed, c.stream.tail.Clean())
	c.hreq, c.hresp, c.streamed = nil, nil, false
	callPool.Put(c)
}

func (c *pooledCall) cancelStream() { upstream.Cancel(c.hresp) }

func (p *Provider) setHeaders(req *fasthttp.Request) {
	if p.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+p.cfg.APIKey)
	}
	for k, v := range p.cfg.Headers {
		req.Header.Set(k, v)
	}
}

// upstreamError maps an error answer with the secrets removed: from the
// body before it is parsed (and its message cut to length), and from every
// field after (an escape the parser undid may have hidden one).
func (p *Provider) upstreamError(status int, body, retryAfter []byte) *providers.UpstreamError {
	return p.redact.Error(ParseError(p.cfg.Name, status, p.redact.Bytes(body), retryAfter))
}

// transportError maps a transport failure with the secrets removed.
func (p *Provider) transportError(err error) *providers.UpstreamError {
	return p.redact.Error(providers.TransportError(p.cfg.Name, p.redact.Err(err), upstream.IsTimeout(err)))
}

// Chat sends call to /api/chat.
func (p *Provider) Chat(ctx context.Context, call *providers.Call) (*providers.Response, error) {
	c := callPool.Get().(*pooledCall)
	var err error
	if c.req, err = p.AppendRequest(c.req[:0], call); err != nil {
		c.put()
		return nil, err
	}
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(p.chat)
	req.Header.SetContentType("application/json")
	if call.Req.Stream {
		req.Header.Set("Accept", "application/x-ndjson")
	}
	p.setHeaders(req)
	req.SetBodyRaw(c.req)
	c.hreq, c.hresp = req, fasthttp.AcquireResponse()
	if call.Req.Stream {
		return p.stream(ctx, call, c)
	}
	timeout := call.Timeout
	if timeout <= 0 {
		timeout = p.cfg.Timeout
	}
	resp := c.hresp
	if err := p.client.Do(ctx, req, resp, timeout); err != nil {
		c.put()
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		e := p.upstreamError(resp.StatusCode(), resp.Body(), resp.Header.Peek("Retry-After"))
		c.put()
		return nil, e
	}
	out := &c.resp
	out.Init(c.release)
	c.out, out.Usage, _, err = appendCompletion(c.out[:0], resp.Body(), call)
	if err != nil {
		c.put()
		if ue, ok := err.(*providers.UpstreamError); ok {
			ue.Message = "upstream " + p.cfg.Name + ": " + ue.Message
			return nil, p.redact.Error(ue)
		}
		return nil, &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_bad_response",
			Message: "upstream " + p.cfg.Name + " sent an unreadable answer: " + err.Error(), Err: err}
	}
	out.Body = c.out
	return out, nil
}

func (p *Provider) stream(ctx context.Context, call *providers.Call, c *pooledCall) (*providers.Response, error) {
	resp := c.hresp
	if err := p.client.DoStream(ctx, c.hreq, resp); err != nil {
		c.put()
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		e := p.upstreamError(resp.StatusCode(), upstream.ErrorBody(resp), resp.Header.Peek("Retry-After"))
		c.put()
		return nil, e
	}
	c.hreq = upstream.Sent(c.hreq) // written: not needed while the answer streams
	s := &c.stream
	s.Reset(resp.BodyStream(), call, p.cfg.Name)
	s.cancel = c.cancel
	s.redact = p.redact
	c.streamed = true
	out := &c.resp
	out.Init(c.release)
	out.Stream = s
	return out, nil
}

var streamPool = sync.Pool{New: func() any { return new(Stream) }}

// ListModels returns the names of the models the server has pulled
// (GET /api/tags: {"models":[{"name":"llama3.2:latest",…},…]}).
func (p *Provider) ListModels() ([]string, error) {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer func() {
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}()
	req.Header.SetMethod(fasthttp.MethodGet)
	req.SetRequestURIBytes(p.tags)
	p.setHeaders(req)
	if err := p.client.Do(context.Background(), req, resp, p.cfg.Timeout); err != nil {
		return nil, p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, p.upstreamError(resp.StatusCode(), resp.Body(), resp.Header.Peek("Retry-After"))
	}
	names, err := parseTags(resp.Body())
	if err != nil {
		return nil, &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_bad_response",
			Message: "upstream " + p.cfg.Name + " sent an unreadable model list", Err: err}
	}
	return names, nil
}

func parseTags(body []byte) ([]string, error) {
	if jsonscan.Validate(body) != nil {
		return nil, ErrBadResponse
	}
	obj := body[jsonscan.SkipSpace(body, 0):]
	if jsonscan.KindOf(obj) != jsonscan.Object {
		return nil, ErrBadResponse
	}
	models := jsonscan.Get(obj, "models")
	names := []string{}
	switch jsonscan.KindOf(models) {
	case jsonscan.Null, jsonscan.Invalid:
		return names, nil
	case jsonscan.Array:
	default:
		return nil, ErrBadResponse
	}
	err := jsonscan.ArrayEach(models, func(_ int, m []byte) error {
		if jsonscan.KindOf(m) != jsonscan.Object {
			return ErrBadResponse
		}
		v := jsonscan.Get(m, "name")
		if jsonscan.KindOf(v) != jsonscan.String {
			v = jsonscan.Get(m, "model")
		}
		if jsonscan.KindOf(v) != jsonscan.String {
			return nil
		}
		s, _, err := jsonscan.Unquote(v, nil)
		if err != nil {
			return ErrBadResponse
		}
		names = append(names, string(s))
		return nil
	})
	return names, err
}
