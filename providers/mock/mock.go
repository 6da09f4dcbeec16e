// Package mock is the built-in, in-process provider: deterministic answers
// that stream token by token at a configurable pace. It lets a newcomer try
// the gateway with curl before configuring any key, and gives tests and
// benchmarks an upstream with no network noise.
//
// Models:
//   - echo: answers with the text of the last user message;
//   - lorem: answers with ReplyBytes of fixed text (the benchmark's answer);
//   - tool: calls the request's first tool, or the one tool_choice names,
//     with {} (or answers "no tools": none given, or tool_choice "none");
//     once the last turn holds a tool result, it answers with the text
//     "The tool returned: " and that result, so that an agent loop
//     (call → result → answer) ends.
//
// n > 1 gives n identical choices (indexed 0 to n-1; in a stream one
// after the other), the usage counting each.
//
// Text answers follow response_format (json.go), and end before the first
// stop sequence and after max_tokens tokens (finish reason "length"), as
// OpenAI's do.
//
// Every model also serves embeddings (embed.go): deterministic hashed
// bag-of-words vectors, so that /v1/embeddings and the semantic cache can be
// tried without a key.
package mock

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
)

// Config configures the mock provider.
type Config struct {
	Name string
	// Pace is the delay before each streamed token (0: as fast as possible).
	Pace time.Duration
	// Latency is the delay before the answer starts.
	Latency time.Duration
	// ReplyBytes is the size of the lorem model's answer (default 600).
	ReplyBytes int
}

// Provider is the in-process mock upstream.
type Provider struct {
	cfg   Config
	lorem string
}

var _ providers.Provider = (*Provider)(nil)

// Models lists the mock's models.
var Models = []string{"echo", "lorem", "tool"}

// New returns a mock Provider.
func New(cfg Config) *Provider {
	if cfg.Name == "" {
		cfg.Name = "mock"
	}
	if cfg.ReplyBytes <= 0 {
		cfg.ReplyBytes = 600
	}
	const words = "The quick brown fox jumps over the lazy dog while the gateway relays every token without delay. "
	var sb strings.Builder
	for sb.Len() < cfg.ReplyBytes {
		sb.WriteString(words)
	}
	return &Provider{cfg: cfg, lorem: sb.String()[:cfg.ReplyBytes]}
}

// Name returns the provider name.
func (p *Provider) Name() string { return p.cfg.Name }

// ListModels returns the mock's models.
func (p *Provider) ListModels() ([]string, error) { return Models, nil }

func (p *Provider) answer(call *providers.Call) (text string, tool *providers.Tool, err error) {
	switch call.Model {
	case "echo":
		for i := len(call.Req.Messages) - 1; i >= 0; i-- {
			if m := &call.Req.Messages[i]; m.Role == "user" {
				return m.Text(), nil, nil
			}
		}
		return "", nil, nil
	case "lorem":
		return p.lorem, nil, nil
	case "tool":
		if result, ok := lastToolResult(call.Req); ok {
			return "The tool returned: " + result, nil, nil
		}
		tool, err := chosenTool(call.Req)
		if tool == nil {
			return "no tools", nil, err
		}
		return "", tool, nil
	}
	return "", nil, &providers.UpstreamError{Status: 404, Type: "invalid_request_error", Code: "model_not_found",
		Param: "model", Message: "mock has no model " + call.Model + "; it serves echo, lorem and tool"}
}

// chosenTool returns the tool the tool model calls, as tool_choice says
// (https://platform.openai.com/docs/api-reference/chat/create#chat-create-tool_choice):
// the first function tool for "auto", "required" or none given; the named
// one for {"type":"function","function":{"name":…}}; the first of the
// allowed ones for {"type":"allowed_tools",…}; nil for "none" or no
// function tool (the mock calls no custom tools). Another string, or a
// name that no tool of the request has, is a 400, as OpenAI answers.
func chosenTool(r *providers.Request) (*providers.Tool, error) {
	tc := r.ToolChoice
	allowed := func(name string) bool { return true }
	switch jsonscan.KindOf(tc) {
	case jsonscan.String:
		switch string(tc) {
		case `"auto"`, `"required"`:
		case `"none"`:
			return nil, nil
		default:
			return nil, &providers.RequestError{Param: "tool_choice", Msg: `must be "none", "auto", "required" or an object`}
		}
	case jsonscan.Object:
		switch string(jsonscan.Get(tc, "type")) {
		case `"function"`:
			fn := jsonscan.Get(jsonscan.Get(tc, "function"), "name")
			name := wire.Str(fn)
			if t := functionTool(r, func(n string) bool { return n == name }); t != nil {
				return t, nil
			}
			return nil, &providers.RequestError{Param: "tool_choice", Msg: "names function " + strconv.Quote(name) + ", which is not in tools"}
		case `"allowed_tools"`:
			list := jsonscan.Get(jsonscan.Get(tc, "allowed_tools"), "tools")
			allowed = func(name string) bool {
				found := false
				_ = jsonscan.ArrayEach(list, func(_ int, el []byte) error {
					found = found || wire.Str(jsonscan.Get(jsonscan.Get(el, "function"), "name")) == name
					return nil
				})
				return found
			}
		}
	}
	return functionTool(r, allowed), nil
}

// functionTool returns the request's first function tool whose name ok
// accepts, or nil.
func functionTool(r *providers.Request, ok func(name string) bool) *providers.Tool {
	for i := range r.Tools {
		if t := &r.Tools[i]; (t.Type == "function" || t.Type == "") && t.Name != "" && ok(t.Name) {
			return t
		}
	}
	return nil
}

// lastToolResult returns the text of the last tool message after the last
// assistant message, if there is one.
func lastToolResult(r *providers.Request) (string, bool) {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		switch m := &r.Messages[i]; m.Role {
		case "assistant":
			return "", false
		case "tool":
			return m.Text(), true
		}
	}
	return "", false
}

// promptTokens approximates prompt tokens as one per four bytes of text,
// deterministic so tests can assert on it.
func promptTokens(r *providers.Request) int {
	n := 0
	for i := range r.Messages {
		n += len(r.Messages[i].Content) + 4
		for j := range r.Messages[i].Parts {
			n += len(r.Messages[i].Parts[j].Text)
		}
	}
	return (n + 3) / 4
}

// Chat answers call in process.
func (p *Provider) Chat(ctx context.Context, call *providers.Call) (*providers.Response, error) {
	text, tool, err := p.answer(call)
	if err != nil {
		return nil, err
	}
	if p.cfg.Latency > 0 {
		time.Sleep(p.cfg.Latency)
	}
	finish := "stop"
	if tool == nil {
		text, finish = limit(call.Req, call.MaxTokens(), jsonAnswer(call.Req, text))
	}
	usage := providers.Usage{PromptTokens: promptTokens(call.Req), CompletionTokens: countTokens(text), Set: true}
	if tool != nil {
		usage.CompletionTokens = 5
	}
	n := max(call.Req.N, 1)
	usage.CompletionTokens *= n
	if call.Req.Stream {
		s := streamPool.Get().(*stream)
		s.reset(p, call, text, tool, usage)
		s.finish, s.n, s.full = finish, n, text
		out := &s.resp
		out.Init(s.release)
		out.Stream = s
		return out, nil
	}
	bb := bufPool.Get().(*buf)
	// Content is read by AppendJSON alone: a view of text, not a copy.
	c := providers.Completion{ID: call.ID, Created: call.Created, Model: call.Model, Content: unsafeconv.Bytes(text), Finish: finish, Usage: usage}
	if tool != nil {
		c.ToolCalls = []providers.ToolCall{{ID: "call_" + call.ID, Name: tool.Name, Arguments: "{}"}}
		c.Finish = "tool_calls"
	}
	bb.b = c.AppendJSON(bb.b[:0])
	if n > 1 {
		bb.b = repeatChoice(bb.b, n)
	}
	out := &bb.resp
	out.Init(bb.release)
	out.Body = bb.b
	out.Usage = usage
	return out, nil
}

// buf is a non-streaming answer's pooled state: the body, the Response
// handed out and its release (bb.put, bound once when the pool makes it).
type buf struct {
	b       []byte
	resp    providers.Response
	release func()
}

func (bb *buf) put() { bufPool.Put(bb) }

var bufPool sync.Pool

func init() {
	bufPool.New = func() any {
		bb := new(buf)
		bb.release = bb.put
		return bb
	}
	streamPool.New = func() any {
		s := &stream{closed: make(chan struct{}, 1), timer: stoppedTimer()}
		s.release = s.put
		return s
	}
}

// limit applies the request's stop sequences and token limit to an answer
// as OpenAI does (https://platform.openai.com/docs/api-reference/chat/create):
// the text ends before the first stop sequence, with finish reason "stop",
// and after maxTokens tokens (Call.MaxTokens: max_completion_tokens, else
// max_tokens, capped), with "length".
func limit(r *providers.Request, maxTokens int, text string) (string, string) {
	for _, stop := range r.Stop {
		if i := strings.Index(text, stop); stop != "" && i >= 0 {
			text = text[:i]
		}
	}
	if maxTokens <= 0 {
		return text, "stop"
	}
	rest := text
	for n := 0; n < maxTokens && rest != ""; n++ {
		_, rest = nextToken(rest)
	}
	if rest == "" {
		return text, "stop"
	}
	return text[:len(text)-len(rest)], "length"
}

// choice0 opens the first (only) choice of a chunk or a completion that
// ChunkWriter or Completion.AppendJSON wrote.
const choice0 = `"choices":[{"index":0,`

// reindex appends chunk to dst with its choice's index set to i.
func reindex(dst, chunk []byte, i int) []byte {
	at := bytes.Index(chunk, []byte(choice0))
	if at < 0 {
		return append(dst, chunk...)
	}
	at += len(choice0) - len(`0,`)
	dst = append(dst, chunk[:at]...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	return append(dst, chunk[at+1:]...)
}

// repeatChoice returns the completion body with its one choice repeated n
// times, indexed 0 to n-1: the answer to a request's n, every choice the
// same, as the mock is deterministic.
func repeatChoice(body []byte, n int) []byte {
	start := bytes.Index(body, []byte(choice0))
	end := bytes.LastIndex(body, []byte(`],"usage":`))
	if start < 0 || end < start {
		return body
	}
	rest := body[start+len(choice0) : end] // the choice after {"index":0,
	out := make([]byte, 0, len(body)+(n-1)*(len(rest)+16))
	out = append(out, body[:end]...)
	for i := 1; i < n; i++ {
		out = append(out, `,{"index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, ',')
		out = append(out, rest...)
	}
	return append(out, body[end:]...)
}

// countTokens counts streamed tokens: one per word-with-trailing-space.
func countTokens(s string) int {
	n := 0
	for len(s) > 0 {
		_, s = nextToken(s)
		n++
	}
	return n
}

func nextToken(s string) (tok, rest string) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return s, ""
	}
	return s[:i+1], s[i+1:]
}

// streamPool holds streams with their Response and release (s.put,
// bound once).
var streamPool sync.Pool

func (s *stream) put() { streamPool.Put(s) }

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

type stream struct {
	resp    providers.Response
	release func()
	cw      providers.ChunkWriter
	rest    string
	tool    *providers.Tool
	toolID  string
	usage   providers.Usage
	pace    time.Duration
	state   int
	include bool
	finish  string // "stop" or "length"
	// n choices (the request's n) stream one after the other, each with
	// the text full; choice is the one streaming, scratch re-indexes its
	// chunks.
	n, choice int
	full      string
	scratch   []byte
	closed    chan struct{}
	timer     *time.Timer
}

func (s *stream) reset(p *Provider, call *providers.Call, text string, tool *providers.Tool, u providers.Usage) {
	s.cw.Reset(call.ID, call.Created, call.Model)
	s.rest, s.tool, s.toolID, s.usage, s.pace, s.state, s.include = text, tool, "call_"+call.ID, u, p.cfg.Pace, 0, call.Req.IncludeUsage
	s.finish, s.n, s.choice, s.full = "stop", 1, 0, text // a pooled stream's last use must not leak in
	select {
	case <-s.closed:
	default:
	}
}

func (s *stream) wait() bool {
	if s.pace <= 0 {
		select {
		case <-s.closed:
			s.closed <- struct{}{}
			return false
		default:
			return true
		}
	}
	s.timer.Reset(s.pace)
	select {
	case <-s.timer.C:
		return true
	case <-s.closed:
		s.timer.Stop()
		s.closed <- struct{}{}
		return false
	}
}

const (
	stRole = iota
	stBody
	stFinish
	stDone
)

// Next yields, for each of the n choices, the role chunk, one chunk per
// token and the finish chunk, then the end events.
func (s *stream) Next() ([]byte, error) {
	c := s.choice
	b, err := s.next()
	if c == 0 || err != nil {
		return b, err
	}
	s.scratch = reindex(s.scratch[:0], b, c)
	return s.scratch, nil
}

func (s *stream) next() ([]byte, error) {
	switch s.state {
	case stRole:
		s.state = stBody
		return s.cw.Role(), nil
	case stBody:
		if s.tool != nil {
			s.state = stFinish
			return s.cw.ToolCallStart(0, s.toolID, s.tool.Name, []byte("{}")), nil
		}
		if s.rest == "" {
			s.state = stFinish
			return s.next()
		}
		if !s.wait() {
			return nil, io.ErrClosedPipe
		}
		var tok string
		tok, s.rest = nextToken(s.rest)
		return s.cw.Content(unsafeconv.Bytes(tok)), nil
	case stFinish:
		s.state = stDone
		if s.choice+1 < s.n {
			s.choice++
			s.state, s.rest = stRole, s.full
		}
		if s.tool != nil {
			return s.cw.Finish("tool_calls"), nil
		}
		return s.cw.Finish(s.finish), nil
	case stDone:
		s.state = stDone + 1
		return s.cw.End(s.usage, s.include), nil
	}
	return nil, io.EOF
}

func (s *stream) Usage() providers.Usage { return s.usage }

// Close interrupts a paced stream.
func (s *stream) Close() error {
	select {
	case s.closed <- struct{}{}:
	default:
	}
	return nil
}
