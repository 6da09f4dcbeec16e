// Package providers defines the canonical chat request that the gateway
// decodes once, the Provider interface that every upstream wire format
// implements, and the OpenAI-format writers that every translator answers
// with. Each upstream lives in its own sub-package and knows only its wire
// format.
package providers

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Provider sends canonical chat requests to one upstream.
//
// # Notes
//
// Implementations are safe for concurrent use. They never log, and never put
// their API key in an error: every upstream text they return or relay has
// their secrets removed by their Redactor, even when the upstream echoed them.
type Provider interface {
	// Name is the provider's configured name ("openai", "groq", "mock", …).
	Name() string
	// Chat sends call upstream. For a streaming request it returns as soon as
	// the upstream has answered with a success status, with Response.Stream
	// set; the caller must Close the Response.
	Chat(ctx context.Context, call *Call) (*Response, error)
}

// ModelLister is implemented by providers that can list their models
// (Ollama's /api/tags).
type ModelLister interface {
	ListModels() ([]string, error)
}

// HeaderGetter reads a client request header; *fasthttp.RequestHeader
// implements it.
type HeaderGetter interface {
	Peek(key string) []byte
}

// Call is one upstream call.
type Call struct {
	Req *Request
	// Model is the upstream model name, already resolved from the catalog.
	Model string
	// ID is the completion id to report ("chatcmpl-…") when the upstream
	// format has none of its own.
	ID string
	// Created is the Unix time the request arrived.
	Created int64
	// MaxOutputTokens is the model's default output cap, for formats that
	// require one (Anthropic).
	MaxOutputTokens int
	// CapMaxTokens, when > 0, caps the client's max_tokens (and
	// max_completion_tokens) at this value. The engine sets it to the
	// model's output limit when the gateway, not the client, chose the
	// model (auto routing, a fallback): a value sized for another model
	// (Claude Code's 32,000) would otherwise be refused with a 400.
	CapMaxTokens int
	// Header gives access to the client's headers for documented passthrough
	// (anthropic-beta). It may be nil.
	Header HeaderGetter
	// PromptCacheKey, when set, groups requests that share a prefix for the
	// provider's automatic prompt cache (OpenAI's prompt_cache_key); only
	// providers that document such a parameter send it.
	PromptCacheKey string
	// NoReasoning says the model takes no reasoning effort (the catalog
	// knows it does not reason): providers leave Req.ReasoningEffort out
	// rather than have the upstream refuse the request.
	NoReasoning bool
	// Timeout bounds a non-streaming call end to end and a streaming call up
	// to its response headers; IdleTimeout bounds the gap between stream
	// events. Zero means the provider's configured value.
	Timeout, IdleTimeout time.Duration
}

// MaxTokens is the request's output cap as the upstream should receive
// it: Req.MaxTokens (0 when absent) capped at CapMaxTokens.
func (c *Call) MaxTokens() int {
	if n := c.Req.MaxTokens; c.CapMaxTokens <= 0 || n <= c.CapMaxTokens {
		return n
	}
	return c.CapMaxTokens
}

// Response is a successful upstream answer in OpenAI format.
type Response struct {
	// Body is the OpenAI chat.completion JSON (non-streaming only).
	Body []byte
	// Usage is the token usage (non-streaming; for streams see Stream.Usage).
	Usage Usage
	// Stream is set for streaming calls.
	Stream Stream

	release func()
}

// NewResponse returns a Response whose Close calls release (which may be nil).
func NewResponse(release func()) *Response { return &Response{release: release} }

// Init readies r for one answer whose Close calls release: a provider that
// pools its Response with the buffers Body points into (and binds release
// once per pooled object) answers without an allocation.
//
// # Notes
//
// Such a Response goes back to its pool inside Close: the caller neither
// reads it nor closes it again afterwards.
func (r *Response) Init(release func()) { *r = Response{release: release} }

// Close releases the upstream resources held by the response. It is called
// once; r is not used after it.
func (r *Response) Close() {
	if r.Stream != nil {
		_ = r.Stream.Close()
	}
	// release may put r back into its pool: nothing of r is touched after.
	if rel := r.release; rel != nil {
		r.release = nil
		rel()
	}
}

// Stream is a streaming answer, pulled one event at a time.
//
// # Notes
//
// Next is called from one goroutine. Close may be called from any goroutine
// at any time, including while Next is blocked: it cancels the upstream
// request (the upstream sees its connection closed) and makes Next return.
type Stream interface {
	// Next returns the next bytes to send to the client: one or more
	// complete OpenAI SSE events ("data: {…}\n\n"), ending with
	// "data: [DONE]\n\n". The slice is valid until the next call. After the
	// final event it returns io.EOF. An upstream failure after the stream
	// started is reported in-stream as an OpenAI error event, not as an error.
	Next() ([]byte, error)
	// Usage is the token usage seen so far (complete after io.EOF).
	Usage() Usage
	// Close cancels or releases the upstream.
	Close() error
}

// Pender is implemented by streams that can tell whether their next event
// is already buffered (Next would not block). The engine coalesces such
// events into one write to the client; a paced stream is still flushed event
// by event.
type Pender interface {
	Pending() bool
}

// Usage is token usage in OpenAI terms.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	// CachedTokens are prompt tokens read from the provider's prompt cache.
	CachedTokens int
	// CacheWriteTokens are prompt tokens written to the provider's cache
	// (Anthropic's cache_creation_input_tokens).
	CacheWriteTokens int
	// CacheWrite1h is the part of CacheWriteTokens written with Anthropic's
	// 1-hour TTL (usage.cache_creation.ephemeral_1h_input_tokens), billed
	// at 2× the input price instead of the cache-write price.
	CacheWrite1h    int
	ReasoningTokens int
	Set             bool
}

// Total is prompt plus completion tokens.
func (u Usage) Total() int { return u.PromptTokens + u.CompletionTokens }

// AppendJSON appends u as an OpenAI usage object.
func (u Usage) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.Total()), 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedTokens), 10)
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.ReasoningTokens), 10)
	return append(dst, `}}`...)
}

// UpstreamError is a failed upstream call, mapped to the status and OpenAI
// error fields the client receives.
type UpstreamError struct {
	Status  int
	Type    string
	Code    string
	Param   string
	Message string
	// RetryAfter is the upstream's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Err is the underlying transport error, if any.
	Err error
}

func (e *UpstreamError) Error() string { return e.Message }

func (e *UpstreamError) Unwrap() error { return e.Err }

// Sentinel errors shared by providers.
var (
	ErrTimeout     = errors.New("upstream timed out")
	ErrUnavailable = errors.New("upstream unavailable")
)

// TransportError maps a transport failure to a 502 (504 on timeouts) without
// exposing anything but the provider's name and the failure's class.
func TransportError(provider string, err error, timedOut bool) *UpstreamError {
	if timedOut {
		return &UpstreamError{Status: 504, Type: "upstream_error", Code: "upstream_timeout",
			Message: "upstream " + provider + " did not answer in time", Err: errors.Join(ErrTimeout, err)}
	}
	return &UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_unavailable",
		Message: "upstream " + provider + " is unreachable: " + errClass(err), Err: errors.Join(ErrUnavailable, err)}
}

// errClass keeps the transport error's text, cut to 200 bytes. fasthttp
// errors carry no headers, where keys go; providers pass err through their
// Redactor first, for a secret configured in the query (Azure-style
// deployments).
func errClass(err error) string {
	if err == nil {
		return "unknown error"
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// Embedder is implemented by providers that serve embeddings. body is the
// client's OpenAI embeddings request
// (https://platform.openai.com/docs/api-reference/embeddings/create); the
// answer's Body is the OpenAI embeddings response. A parameter the upstream
// cannot honour (dimensions, encoding_format) is a 400 that says so. The
// engine passes only bodies that CheckEmbeddingsNames accepts: an
// implementation that forwards the client's bytes may read the first member
// of a name.
type Embedder interface {
	Embed(ctx context.Context, body []byte, model string) (*Response, error)
}

// MessagesNative is implemented by providers that speak Anthropic's
// Messages API: the gateway passes /v1/messages and its count_tokens through
// to them byte for byte instead of translating.
type MessagesNative interface {
	Messages(ctx context.Context, body []byte, model string, h HeaderGetter, query []byte, stream bool) (*Response, error)
	CountTokens(ctx context.Context, body []byte, model string, h HeaderGetter, query []byte) (*Response, error)
}

// ResponsesNative is implemented by providers that may speak OpenAI's
// Responses API (https://platform.openai.com/docs/api-reference/responses):
// the gateway then passes /v1/responses through instead of translating it
// to a chat completion.
type ResponsesNative interface {
	// NativeResponses reports whether this upstream serves /responses
	// (configured: OpenAI itself does, most OpenAI-compatible servers do not).
	NativeResponses() bool
	// Responses forwards a Responses create body with its model replaced.
	// The answer is the upstream's own: Response.Body is the response
	// object, or Response.Stream relays its events as they come; Usage is
	// read from the Responses usage object (ParseResponsesUsage).
	Responses(ctx context.Context, body []byte, model string, stream bool) (*Response, error)
	// InputTokens forwards an input token count body
	// (https://platform.openai.com/docs/api-reference/responses/input-tokens)
	// with its model replaced; Response.Body is the upstream's
	// {"object":"response.input_tokens","input_tokens":N}.
	InputTokens(ctx context.Context, body []byte, model string) (*Response, error)
	// DeleteResponse deletes a response the upstream stored
	// (https://platform.openai.com/docs/api-reference/responses/delete); one
	// the upstream no longer has is not an error.
	DeleteResponse(ctx context.Context, id string) error
}

// NativeBatcher is implemented by providers with a discounted batch API of
// their own (Anthropic's Message Batches, OpenAI's Batch API): the
// gateway's batch runner can submit chat items there instead of running
// them one by one.
type NativeBatcher interface {
	// SubmitBatch creates a batch of items at the provider and returns its
	// id. Custom ids are the caller's, within the provider's alphabet.
	SubmitBatch(ctx context.Context, items []BatchItem) (string, error)
	// BatchResults returns done false while the batch runs; once it has
	// ended, the result of every item it had. call gives an item's call
	// again by custom id (reading an answer needs its translation).
	BatchResults(ctx context.Context, id string, call func(customID string) *Call) (results []BatchResult, done bool, err error)
	// CancelBatch asks the provider to cancel a batch it runs; the batch
	// then ends (BatchResults done) with the answers it had, the others
	// cancelled or left out.
	CancelBatch(ctx context.Context, id string) error
	// BatchDiscount is the price factor of a batch item (0.5: half
	// price); 0 says this upstream has no batch API.
	BatchDiscount() float64
}

// BatchItem is one request of a native batch.
type BatchItem struct {
	CustomID string
	Call     *Call
}

// BatchResult is one item's answer from a native batch: Status and Body
// are what a live call would have answered (an OpenAI chat.completion, or
// the OpenAI error envelope), Usage its tokens.
type BatchResult struct {
	CustomID string
	Status   int
	Body     []byte
	Usage    Usage
}

// BreakpointCacher is implemented by providers whose prompt cache reads only
// at the breakpoints a request marks (Anthropic's cache_control) and that
// can place them for a client that set none.
type BreakpointCacher interface {
	// GatewayBreakpoints reports whether the provider places r's
	// breakpoints itself: placement is on and r carries none of its own.
	// The savings of the provider's prompt cache on r are then the
	// gateway's.
	GatewayBreakpoints(r *Request) bool
}
