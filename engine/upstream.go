package engine

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// The one way out of the gateway. Every upstream call — a chat completion,
// a stream, the /v1/messages passthrough, count_tokens, embeddings, the
// phase-2 classifier, a cascade's cheap attempt — is an upstreamCall run by
// callUpstream, and so gets the same protection: a context, the provider's
// in-flight slot, retries with backoff that honour Retry-After (only before
// the first byte reaches the client), the circuit breaker, ordered
// fallbacks, a fallback to a larger context window on overflow, metrics, and
// its cost charged to the request's project.

// callKind names what an upstreamCall sends.
type callKind uint8

const (
	callChat callKind = iota
	callMessages
	callCountTokens
	callEmbed
	callClassifier
	callCascade
	callSummary
	// callResponses: a Responses API request, passed through to a target
	// that serves the Responses API natively, sent as the canonical chat
	// request to any other (responsesnative.go).
	callResponses
	// callInputTokens: /v1/responses/input_tokens to a provider that
	// serves the Responses API (responsestokens.go).
	callInputTokens
	numCallKinds
)

var callKindNames = [numCallKinds]string{"chat", "messages", "count_tokens", "embeddings", "classifier", "cascade", "summary", "responses", "input_tokens"}

// upstreamCall is one logical upstream call; it implements limits.Caller so
// that the runner drives its attempts.
type upstreamCall struct {
	s    *Server
	kind callKind
	// models are the targets' models, index for index.
	models []*catalog.Model
	// call is the canonical request for chat-shaped kinds.
	call *providers.Call
	// body and header are the client's bytes for the native kinds
	// (messages, count_tokens, embeddings).
	body   []byte
	header providers.HeaderGetter
	query  []byte // the client's query string (Anthropic's ?beta=true)
	stream bool
	// anthropicClient: the request came in on /v1/messages (translated).
	// Its max_tokens is capped at every model's limit, named or not:
	// Anthropic's API requires the member and Claude Code sizes it for
	// Claude (32,000), above what many other models accept.
	anthropicClient bool
	// chosen: the gateway, not the client, chose models[0] (auto routing,
	// a default model, a cascade). A chosen model, and every fallback
	// after the first target, gets the client's max_tokens capped at its
	// output limit (providers.Call.CapMaxTokens): the client sized it for
	// another model, or for none, and the upstream would refuse a larger
	// one with a 400. A model the client named gets it unchanged, and
	// the upstream's own error is the answer.
	chosen bool
	// rsp is a Responses request's state, for callResponses; native says
	// that the answer came from a Responses passthrough (sentNative: the
	// attempt under way is one).
	rsp                *responsesState
	native, sentNative bool

	// Results: the answer, the model that gave it, and the slot that a
	// stream holds until the exchange finishes.
	resp  *providers.Response
	model *catalog.Model
	slot  *upstreamSlot
	// overflow is the context window of a model that refused the prompt as
	// too long: only a larger window is tried after it.
	overflow int
	// overflowOnly has bit i set for a target tried only after an
	// overflow (the larger-window fallback).
	overflowOnly uint64
	// last is the last attempt's failure.
	last error
	peek peekedStream
}

// Call makes one attempt on a.Target: take the provider's slot, call, and
// for a stream wait for its first event, so that a stream that fails before
// sending anything is retried like any other failure.
func (c *upstreamCall) Call(ctx context.Context, a limits.Attempt) error {
	m := c.models[a.Index]
	if (c.overflowOnly&(1<<a.Index) != 0 && c.overflow == 0) ||
		(c.overflow > 0 && m.ContextWindow > 0 && m.ContextWindow <= c.overflow) {
		// Not a candidate: pass the last real failure on, so that it is
		// what the client sees if nothing else answers.
		if c.last != nil {
			return limits.Skip(c.last)
		}
		return limits.Skip(errSmallerWindow)
	}
	slot := c.s.upstreams[m.Provider]
	if slot == nil {
		return limits.Skip(catalog.NotConfigured(m.Name, m.Provider))
	}
	if err := c.s.takeSlot(slot, m.Provider); err != nil {
		return limits.Skip(err)
	}
	resp, err := c.send(ctx, m, slot.p)
	if err == nil && resp.Stream != nil {
		err = c.peek.open(resp)
		if err != nil {
			resp.Close()
		}
	}
	upstreamCalls[c.kind].outcome(err)
	if err != nil {
		c.last = err
		<-slot.sem
		if isContextOverflow(err) && m.ContextWindow > 0 {
			c.overflow = m.ContextWindow
			return limits.Skip(err)
		}
		var re *providers.RequestError
		if asRequestError(err, &re) {
			return limits.Final(err)
		}
		return err
	}
	c.resp, c.model, c.native = resp, m, c.sentNative
	if resp.Stream != nil {
		// A stream holds its slot until its last byte; the exchange gives
		// it back when it finishes.
		c.slot = slot
		resp.Stream = &c.peek
	} else {
		<-slot.sem
	}
	return nil
}

// send makes the provider call for c's kind.
func (c *upstreamCall) send(ctx context.Context, m *catalog.Model, p providers.Provider) (*providers.Response, error) {
	capAt := 0 // see chosen and anthropicClient
	if c.chosen || c.anthropicClient || m != c.models[0] {
		capAt = m.MaxOutputTokens
	}
	switch c.kind {
	case callMessages, callCountTokens:
		ap, ok := p.(providers.MessagesNative)
		if !ok {
			return nil, limits.Skip(errNotNative)
		}
		if c.kind == callCountTokens {
			return ap.CountTokens(ctx, c.body, m.Upstream, c.header, c.query)
		}
		return ap.Messages(ctx, capMaxTokens(c.body, "max_tokens", capAt), m.Upstream, c.header, c.query, c.stream)
	case callResponses:
		c.sentNative = false
		if rp, ok := p.(providers.ResponsesNative); ok && rp.NativeResponses() {
			body, err := c.rsp.nativeBody(m.Provider)
			if err != nil {
				return nil, limits.Final(err)
			}
			c.sentNative = true
			return rp.Responses(ctx, capMaxTokens(body, "max_output_tokens", capAt), m.Upstream, c.stream)
		}
		if c.call == nil {
			// Passed through untranslated (responsesraw.go): only a
			// provider with the Responses API can answer.
			return nil, limits.Skip(errNoResponses)
		}
	case callInputTokens:
		rp, ok := p.(providers.ResponsesNative)
		if !ok || !rp.NativeResponses() {
			return nil, limits.Skip(errNoResponses)
		}
		body, err := c.rsp.nativeBody(m.Provider)
		if err != nil {
			return nil, limits.Final(err)
		}
		return rp.InputTokens(ctx, inputTokensBody(body), m.Upstream)
	case callEmbed:
		emb, ok := p.(providers.Embedder)
		if !ok {
			return nil, limits.Skip(errNoEmbeddings)
		}
		return emb.Embed(ctx, c.body, m.Upstream)
	}
	c.call.Model = m.Upstream
	c.call.MaxOutputTokens = m.MaxOutputTokens
	c.call.CapMaxTokens = capAt
	// A reasoning effort the gateway translated from Anthropic's thinking
	// goes only to models known to reason; a client's own is dropped only
	// for models known not to (an unknown model may well reason).
	c.call.NoReasoning = !m.Reasoning && (m.Known || c.anthropicClient)
	if c.kind == callClassifier && c.call.MaxOutputTokens > 50 {
		c.call.MaxOutputTokens = 50
	}
	if c.kind == callSummary && c.call.MaxOutputTokens > summaryMaxTokens {
		c.call.MaxOutputTokens = summaryMaxTokens
	}
	return p.Chat(ctx, c.call)
}

// capMaxTokens returns a request body passed through untranslated with
// its output limit, member (max_tokens in a Messages request,
// max_output_tokens in a Responses one), capped at limit (0: no cap): a
// copy when the value is above it, else body itself. body is a validated
// object.
func capMaxTokens(body []byte, member string, limit int) []byte {
	if limit <= 0 {
		return body
	}
	n, err := jsonscan.ParseInt(jsonscan.Get(body[jsonscan.SkipSpace(body, 0):], member))
	if err != nil || n <= int64(limit) {
		return body
	}
	return jsonscan.AppendReplaced(nil, body, member, strconv.AppendInt(nil, int64(limit), 10))
}

// callUpstream runs c over targets and charges what it cost to x: the
// upstream time, and for side calls (classifier, cascade) their tokens.
func (s *Server) callUpstream(ctx context.Context, x *exchange, c *upstreamCall, targets []limits.Target) error {
	c.s = s
	t0 := time.Now()
	_, err := s.runner.Run(ctx, targets, c)
	if x != nil {
		x.upstream += time.Since(t0)
	}
	return err
}

// takeSlot takes one of the provider's in-flight slots, waiting up to the
// queue timeout.
func (s *Server) takeSlot(slot *upstreamSlot, provider string) error {
	select {
	case slot.sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.cfg.QueueTimeout.D())
	defer t.Stop()
	select {
	case slot.sem <- struct{}{}:
		return nil
	case <-t.C:
		slotBusy.Inc()
		return &apiError{Status: 503, Type: typeServer, Code: "provider_busy", RetryAfter: 1,
			Msg: "Provider " + provider + " is at its limit of " + strconv.Itoa(cap(slot.sem)) + " requests in flight; retry shortly"}
	}
}

var (
	errSmallerWindow = &apiError{Status: 400, Type: typeInvalidRequest, Code: "context_length_exceeded",
		Msg: "the prompt is longer than this model's context window"}
	errNotNative = &apiError{Status: 400, Type: typeInvalidRequest, Code: "not_supported",
		Msg: "this fallback does not speak the Anthropic Messages API"}
	errNoResponses = &apiError{Status: 400, Type: typeInvalidRequest, Code: "not_supported",
		Msg: "this fallback does not serve the Responses API natively"}
	errNoEmbeddings = &apiError{Status: 400, Type: typeInvalidRequest, Code: "not_supported",
		Msg: "this fallback does not serve embeddings"}
)

// isContextOverflow reports whether the upstream refused the prompt as
// longer than the model's context window. Providers word it differently:
// OpenAI code context_length_exceeded, Anthropic "prompt is too long",
// Gemini "exceeds the maximum number of tokens", Ollama/vLLM "maximum
// context length".
func isContextOverflow(err error) bool {
	ue, ok := errors.AsType[*providers.UpstreamError](err)
	if !ok || ue.Status < 400 || ue.Status >= 500 || ue.Status == 429 {
		return false
	}
	if ue.Code == "context_length_exceeded" {
		return true
	}
	msg := strings.ToLower(ue.Message)
	for _, s := range [...]string{"context length", "context window", "prompt is too long", "maximum number of tokens", "too many tokens", "context_length_exceeded"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// peekedStream is a stream whose first event has been read before the
// answer was committed to the client: it is replayed first.
type peekedStream struct {
	s     providers.Stream
	first []byte
	sent  bool
}

// open reads resp's first event. An upstream that fails before sending
// anything (an error event first, or an error) fails the attempt, so that
// the runner retries it or falls back; nothing has reached the client yet.
func (p *peekedStream) open(resp *providers.Response) error {
	*p = peekedStream{s: resp.Stream}
	b, err := resp.Stream.Next()
	if err != nil {
		return &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_stream_failed",
			Message: "the upstream stream ended before its first event", Err: err}
	}
	if ue := firstEventError(b); ue != nil {
		return ue
	}
	p.first = b
	return nil
}

// firstEventError recognises an error as the first event, in the OpenAI
// format (data: {"error":{…,"code"}}) or the Anthropic one (event: error,
// data: {"type":"error","error":{"type"}}).
func firstEventError(b []byte) *providers.UpstreamError {
	var field string
	switch {
	case bytes.HasPrefix(b, []byte(`data: {"error":`)):
		field = "code"
	case bytes.HasPrefix(b, []byte("event: error")):
		field = "type"
	default:
		return nil
	}
	code := ""
	if _, data, ok := bytes.Cut(b, []byte("data: ")); ok {
		data, _, _ = bytes.Cut(data, []byte("\n"))
		if v := jsonscan.Get(jsonscan.Get(data, "error"), field); jsonscan.KindOf(v) == jsonscan.String {
			if s, _, err := jsonscan.Unquote(v, nil); err == nil {
				code = string(s)
			}
		}
	}
	status := 502
	switch code {
	case "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED":
		status = 429
	case "overloaded_error", "upstream_overloaded":
		status = 529
	case "upstream_timeout":
		status = 504
	}
	return &providers.UpstreamError{Status: status, Type: "upstream_error", Code: "upstream_stream_failed",
		Message: "the upstream stream failed before its first event (" + code + ")"}
}

// Next replays the first event, then relays the stream.
func (p *peekedStream) Next() ([]byte, error) {
	if !p.sent {
		p.sent = true
		return p.first, nil
	}
	return p.s.Next()
}

// Usage is the stream's usage.
func (p *peekedStream) Usage() providers.Usage { return p.s.Usage() }

// Close closes the stream.
func (p *peekedStream) Close() error { return p.s.Close() }

// Pending reports whether the next event is buffered.
func (p *peekedStream) Pending() bool {
	if !p.sent {
		return true
	}
	if pe, ok := p.s.(providers.Pender); ok {
		return pe.Pending()
	}
	return false
}

// callMetrics counts one call kind's attempts by outcome.
type callMetrics struct{ ok, failed *metrics.Counter }

func (m callMetrics) outcome(err error) {
	if err == nil {
		m.ok.Inc()
	} else {
		m.failed.Inc()
	}
}

var (
	upstreamCalls [numCallKinds]callMetrics
	slotBusy      = metrics.NewCounter(`gateway_provider_busy_total`)
)

func init() {
	for i, n := range callKindNames {
		upstreamCalls[i] = callMetrics{
			ok:     metrics.NewCounter(`gateway_upstream_attempts_total{kind="` + n + `",outcome="ok"}`),
			failed: metrics.NewCounter(`gateway_upstream_attempts_total{kind="` + n + `",outcome="error"}`),
		}
	}
}
