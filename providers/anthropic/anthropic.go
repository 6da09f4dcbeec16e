package anthropic

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/upstream"
	"github.com/valyala/fasthttp"
)

// Wire constants.
const (
	// Version is the anthropic-version header every call sends.
	Version = "2023-06-01"
	// DefaultBaseURL is Anthropic's API; the version path is not part of it.
	DefaultBaseURL = "https://api.anthropic.com"
	// DefaultMaxTokens is the max_tokens sent when neither the request nor
	// the catalog (Call.MaxOutputTokens) gives one: Anthropic requires the
	// field, and 4096 is the smallest output cap of any current Claude model.
	DefaultMaxTokens = 4096
	// JSONToolName is the tool the response_format strategy forces.
	JSONToolName = "json_response"
)

// Config configures the Anthropic provider.
type Config struct {
	// Name is the provider's name (default "anthropic").
	Name string
	// BaseURL excludes the version (default DefaultBaseURL); calls go to
	// {BaseURL}/v1/messages.
	BaseURL string
	APIKey  string
	// Timeout bounds a non-streaming call (default 120s).
	Timeout time.Duration
	// CacheControl adds prompt-cache breakpoints (cache_control) where they
	// pay, on translated requests and on passthrough requests that carry none
	// of their own (docs/prompt-caching.md). The engine sets it from
	// ENABLE_ANTHROPIC_CACHE_CONTROL / [optimize] anthropic_cache_control.
	CacheControl bool
	// NoLedger places breakpoints by the stateless rules only, without the
	// prefix ledger ([optimize] anthropic_cache_ledger = false; an ablation).
	NoLedger bool
	// NoHourTTL keeps every added breakpoint at the 5-minute TTL; by
	// default the ledger gives a conversation breakpoint the 1-hour TTL
	// where the session's pauses make it pay (gaps.go; [optimize]
	// anthropic_cache_1h = false, an ablation).
	NoHourTTL bool
	// Clock is the ledger's clock (nil: time.Now); the cost benchmark
	// replays a trace's hour in a minute with a simulated one.
	Clock func() time.Time
	// CacheMinTokens overrides the minimum cacheable prompt length, in
	// tokens, by model-name prefix (the longest matching prefix wins); other
	// models use the built-in table (Provider.MinCacheTokens).
	CacheMinTokens map[string]int
	upstream.Options
}

// Provider talks to the Anthropic Messages API.
//
// # Notes
//
// Safe for concurrent use; immutable after New.
type Provider struct {
	cfg         Config
	client      *upstream.Client
	messages    []byte // absolute URL of /v1/messages
	countTokens []byte // absolute URL of /v1/messages/count_tokens
	batches     []byte // absolute URL of /v1/messages/batches
	minTokens   minTable
	// ledger is the history of recent prompts that makes breakpoint
	// placement cost-aware (ledger.go); shared by WithCacheControl copies.
	ledger *prefixLedger
	// redact removes the key from every upstream error text.
	redact *providers.Redactor
}

var _ providers.Provider = (*Provider)(nil)

// New returns a Provider for cfg.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "anthropic"
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
	var led *prefixLedger
	if !cfg.NoLedger {
		led = newPrefixLedger(cfg.Clock)
		led.noHour = cfg.NoHourTTL
	}
	return &Provider{cfg: cfg, client: c,
		messages:    c.URL(nil, "/v1/messages"),
		countTokens: c.URL(nil, "/v1/messages/count_tokens"),
		batches:     c.URL(nil, "/v1/messages/batches"),
		minTokens:   newMinTable(cfg.CacheMinTokens),
		ledger:      led,
		redact:      providers.NewRedactor(cfg.APIKey)}, nil
}

// WithCacheControl returns a Provider that shares p's connections and
// differs only in Config.CacheControl, for per-project switching.
func (p *Provider) WithCacheControl(on bool) *Provider {
	q := *p
	q.cfg.CacheControl = on
	return &q
}

// Name returns the configured provider name.
func (p *Provider) Name() string { return p.cfg.Name }

// buffers are the per-call byte buffers, pooled.
type buffers struct {
	body []byte
	resp respBuf
}

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

// newRequest builds the upstream request for body. Only the documented
// headers are forwarded: anthropic-beta (features the client opted into)
// and, for passthrough calls, the client's anthropic-version.
func (p *Provider) newRequest(url, body []byte, h providers.HeaderGetter, stream, clientVersion bool) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURIBytes(url)
	req.Header.SetContentType("application/json")
	if p.cfg.APIKey != "" {
		req.Header.Set("x-api-key", p.cfg.APIKey)
	}
	version := Version
	if h != nil {
		if b := h.Peek("anthropic-beta"); len(b) > 0 {
			req.Header.SetBytesV("anthropic-beta", b)
		}
		if v := h.Peek("anthropic-version"); clientVersion && len(v) > 0 {
			version = string(v)
		}
	}
	req.Header.Set("anthropic-version", version)
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	req.SetBodyRaw(body)
	return req
}

// Chat translates call to the Messages API, sends it, and translates the
// answer back to OpenAI's format.
func (p *Provider) Chat(ctx context.Context, call *providers.Call) (*providers.Response, error) {
	pc := callPool.Get().(*pooledCall)
	bb := &pc.bb
	body, info, err := appendRequest(bb.body[:0], call)
	if err == nil && p.cfg.CacheControl {
		body, _ = addBreakpointsWith(body, call.Model, p.minTokens, false, p.ledger)
	}
	bb.body = body
	if err != nil {
		pc.put()
		return nil, err
	}
	pc.req, pc.resp = p.newRequest(p.messages, body, call.Header, call.Req.Stream, false), fasthttp.AcquireResponse()
	if call.Req.Stream {
		return p.stream(ctx, call, info, pc)
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
	if err := parseMessage(resp.Body(), &c, info, &bb.resp); err != nil {
		pc.put()
		return nil, &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_bad_response",
			Message: "upstream " + p.cfg.Name + " answered with a malformed message", Err: err}
	}
	out := &pc.out
	out.Init(pc.release)
	bb.resp.out = c.AppendJSON(bb.resp.out[:0])
	out.Body, out.Usage = bb.resp.out, c.Usage
	return out, nil
}

func (p *Provider) stream(ctx context.Context, call *providers.Call, info reqInfo, pc *pooledCall) (*providers.Response, error) {
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
	t.info = info
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
