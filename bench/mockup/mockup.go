// Package mockup is the benchmark's upstream: a fasthttp server that answers
// in the OpenAI, Anthropic, Gemini and Ollama wire formats with responses
// built once at start-up, so that it costs a few microseconds per request and
// is never the bottleneck of a benchmark.
//
// Routes (any host, any key):
//
//	POST …/chat/completions                      OpenAI JSON, or SSE when "stream": true
//	POST /v1/messages                            Anthropic JSON, or its named SSE events
//	POST /v1beta/models/{m}:generateContent      Gemini JSON
//	POST /v1beta/models/{m}:streamGenerateContent?alt=sse  Gemini SSE
//	POST /api/chat                               Ollama NDJSON stream, or JSON when "stream": false
//	GET  /v1/models, /api/tags, /healthz, /stats
//
// # Notes
//
// Request bodies are not decoded: the handler only looks for the "stream"
// and "include_usage" flags with a byte scan. Answers are the same whatever
// the request says (model name included), which is what a benchmark wants.
package mockup

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Config shapes every answer.
type Config struct {
	// Latency is waited before the response headers.
	Latency time.Duration
	// TTFT is waited after the headers of a stream, before its first event.
	TTFT time.Duration
	// Interval is waited between two stream events.
	Interval time.Duration
	// Chunks is the number of content deltas a stream carries (default 20).
	Chunks int
	// ReplyBytes is the size of the answer's text (default 600).
	ReplyBytes int
	// Coalesce sends a whole stream as one write (a Content-Length body)
	// when there is no TTFT or Interval; by default every event is its own
	// HTTP chunk, flushed at once, as real upstreams do.
	Coalesce bool
}

// Counts are the requests served, by wire format.
type Counts struct {
	OpenAI    int64 `json:"openai"`
	Anthropic int64 `json:"anthropic"`
	Gemini    int64 `json:"gemini"`
	Ollama    int64 `json:"ollama"`
	Streams   int64 `json:"streams"`
	Other     int64 `json:"other"`
}

// Server is the mock upstream. Build it with New; it is safe for concurrent
// use.
type Server struct {
	cfg Config

	openaiJSON, anthJSON, gemJSON, ollJSON []byte
	openaiSSE, openaiSSEUsage, anthSSE     [][]byte
	gemSSE, ollNDJSON                      [][]byte
	// Whole-stream bodies for Coalesce.
	openaiSSEAll, openaiSSEUsageAll, anthSSEAll, gemSSEAll, ollNDJSONAll []byte

	openai, anth, gem, oll, streams, other atomic.Int64
}

// New builds every answer for cfg.
func New(cfg Config) *Server {
	if cfg.Chunks <= 0 {
		cfg.Chunks = 20
	}
	if cfg.ReplyBytes <= 0 {
		cfg.ReplyBytes = 600
	}
	s := &Server{cfg: cfg}
	s.build()
	return s
}

// Config returns the configuration with defaults applied.
func (s *Server) Config() Config { return s.cfg }

// Server returns a fasthttp server for s.Handler tuned for benchmarks.
func (s *Server) Server() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               s.Handler,
		Name:                  "mockupstream",
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		ReadTimeout:           5 * time.Minute,
		IdleTimeout:           5 * time.Minute,
		MaxRequestBodySize:    64 << 20,
		Logger:                discard{},
	}
}

type discard struct{}

func (discard) Printf(string, ...any) {}

// Counts returns how many requests have been served.
func (s *Server) Counts() Counts {
	return Counts{
		OpenAI: s.openai.Load(), Anthropic: s.anth.Load(), Gemini: s.gem.Load(),
		Ollama: s.oll.Load(), Streams: s.streams.Load(), Other: s.other.Load(),
	}
}

// Reply is the answer's text.
func Reply(n int) string {
	const words = "The quick brown fox jumps over the lazy dog while the gateway relays every token without delay. "
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(words)
	}
	return sb.String()[:n]
}

// pieces splits text into n nearly equal parts.
func pieces(text string, n int) []string {
	if n > len(text) {
		n = len(text)
	}
	if n <= 0 {
		return []string{text}
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, text[i*len(text)/n:(i+1)*len(text)/n])
	}
	return out
}

func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

const (
	promptTokens = 12
	created      = "1741569952"
)

func (s *Server) build() {
	reply := Reply(s.cfg.ReplyBytes)
	parts := pieces(reply, s.cfg.Chunks)
	out := strconv.Itoa(len(parts))
	total := strconv.Itoa(promptTokens + len(parts))
	pt := strconv.Itoa(promptTokens)

	// OpenAI: https://platform.openai.com/docs/api-reference/chat/object and
	// https://platform.openai.com/docs/api-reference/chat-streaming
	usage := `{"prompt_tokens":` + pt + `,"completion_tokens":` + out + `,"total_tokens":` + total +
		`,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`
	s.openaiJSON = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":` + created + `,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":` + q(reply) +
		`,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":` + usage + `,"service_tier":"default","system_fingerprint":"fp_bench"}`)
	head := `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":` + created + `,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":`
	for _, withUsage := range []bool{false, true} {
		u := ""
		if withUsage {
			u = `,"usage":null`
		}
		var evs [][]byte
		evs = append(evs, []byte(head+`{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]`+u+"}\n\n"))
		for _, p := range parts {
			evs = append(evs, []byte(head+`{"content":`+q(p)+`},"logprobs":null,"finish_reason":null}]`+u+"}\n\n"))
		}
		evs = append(evs, []byte(head+`{},"logprobs":null,"finish_reason":"stop"}]`+u+"}\n\n"))
		if withUsage {
			evs = append(evs, []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":`+created+`,"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_bench","choices":[],"usage":`+usage+"}\n\n"))
		}
		evs = append(evs, []byte("data: [DONE]\n\n"))
		if withUsage {
			s.openaiSSEUsage = evs
		} else {
			s.openaiSSE = evs
		}
	}

	// Anthropic: https://docs.anthropic.com/en/api/messages and
	// https://docs.anthropic.com/en/docs/build-with-claude/streaming
	const amodel = "claude-3-5-haiku-latest"
	s.anthJSON = []byte(`{"id":"msg_bench","type":"message","role":"assistant","model":"` + amodel + `","content":[{"type":"text","text":` + q(reply) +
		`}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":` + pt + `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":` + out + `}}`)
	ev := func(name, data string) []byte { return []byte("event: " + name + "\ndata: " + data + "\n\n") }
	s.anthSSE = append(s.anthSSE,
		ev("message_start", `{"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"`+amodel+`","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`+pt+`,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		ev("ping", `{"type": "ping"}`))
	for _, p := range parts {
		s.anthSSE = append(s.anthSSE, ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+q(p)+`}}`))
	}
	s.anthSSE = append(s.anthSSE,
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":`+out+`}}`),
		ev("message_stop", `{"type":"message_stop"}`))

	// Gemini: https://ai.google.dev/api/generate-content (SSE events end in
	// CRLF CRLF, as Google's servers send them).
	const gmodel = "gemini-2.0-flash"
	gusage := `{"promptTokenCount":` + pt + `,"candidatesTokenCount":` + out + `,"totalTokenCount":` + total + `}`
	s.gemJSON = []byte(`{"candidates":[{"content":{"parts":[{"text":` + q(reply) + `}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":` + gusage + `,"modelVersion":"` + gmodel + `","responseId":"bench"}`)
	for i, p := range parts {
		fin, u := "", `{"promptTokenCount":`+pt+`,"totalTokenCount":`+pt+`}`
		if i == len(parts)-1 {
			fin, u = `,"finishReason":"STOP"`, gusage
		}
		s.gemSSE = append(s.gemSSE, []byte(`data: {"candidates":[{"content":{"parts":[{"text":`+q(p)+`}],"role":"model"}`+fin+`,"index":0}],"usageMetadata":`+u+`,"modelVersion":"`+gmodel+`","responseId":"bench"}`+"\r\n\r\n"))
	}

	// Ollama: https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion
	const omodel, at = "qwen2.5-coder", `"created_at":"2025-01-01T00:00:00.000000000Z"`
	final := `"done_reason":"stop","done":true,"total_duration":1000000,"load_duration":1000,"prompt_eval_count":` + pt + `,"prompt_eval_duration":1000,"eval_count":` + out + `,"eval_duration":1000}`
	s.ollJSON = []byte(`{"model":"` + omodel + `",` + at + `,"message":{"role":"assistant","content":` + q(reply) + `},` + final)
	for _, p := range parts {
		s.ollNDJSON = append(s.ollNDJSON, []byte(`{"model":"`+omodel+`",`+at+`,"message":{"role":"assistant","content":`+q(p)+`},"done":false}`+"\n"))
	}
	s.ollNDJSON = append(s.ollNDJSON, []byte(`{"model":"`+omodel+`",`+at+`,"message":{"role":"assistant","content":""},`+final+"\n"))

	s.openaiSSEAll = bytes.Join(s.openaiSSE, nil)
	s.openaiSSEUsageAll = bytes.Join(s.openaiSSEUsage, nil)
	s.anthSSEAll = bytes.Join(s.anthSSE, nil)
	s.gemSSEAll = bytes.Join(s.gemSSE, nil)
	s.ollNDJSONAll = bytes.Join(s.ollNDJSON, nil)
}

var (
	sfxChat     = []byte("/chat/completions")
	pathMsgs    = []byte("/v1/messages")
	pathOllama  = []byte("/api/chat")
	gemStream   = []byte(":streamGenerateContent")
	gemGenerate = []byte(":generateContent")
	keyStream   = []byte(`"stream"`)
	keyUsage    = []byte(`"include_usage"`)
)

// Handler serves one request.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if !ctx.IsPost() {
		s.handleGet(ctx, path)
		return
	}
	if s.cfg.Latency > 0 {
		time.Sleep(s.cfg.Latency)
	}
	body := ctx.PostBody()
	switch {
	case bytes.HasSuffix(path, sfxChat):
		s.openai.Add(1)
		if boolField(body, keyStream, false) {
			if boolField(body, keyUsage, false) {
				s.stream(ctx, "text/event-stream", s.openaiSSEUsage, s.openaiSSEUsageAll)
			} else {
				s.stream(ctx, "text/event-stream", s.openaiSSE, s.openaiSSEAll)
			}
			return
		}
		s.json(ctx, s.openaiJSON)
	case bytes.Equal(path, pathMsgs):
		s.anth.Add(1)
		if boolField(body, keyStream, false) {
			s.stream(ctx, "text/event-stream", s.anthSSE, s.anthSSEAll)
			return
		}
		s.json(ctx, s.anthJSON)
	case bytes.Contains(path, gemStream):
		s.gem.Add(1)
		s.stream(ctx, "text/event-stream", s.gemSSE, s.gemSSEAll)
	case bytes.Contains(path, gemGenerate):
		s.gem.Add(1)
		s.json(ctx, s.gemJSON)
	case bytes.Equal(path, pathOllama):
		s.oll.Add(1)
		if boolField(body, keyStream, true) {
			s.stream(ctx, "application/x-ndjson", s.ollNDJSON, s.ollNDJSONAll)
			return
		}
		s.json(ctx, s.ollJSON)
	default:
		s.other.Add(1)
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":{"message":"mockupstream: unknown path","type":"invalid_request_error","param":null,"code":null}}`)
	}
}

func (s *Server) handleGet(ctx *fasthttp.RequestCtx, path []byte) {
	ctx.SetContentType("application/json")
	switch string(path) {
	case "/healthz":
		ctx.SetBodyString(`{"status":"ok"}`)
	case "/v1/models":
		ctx.SetBodyString(`{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"}]}`)
	case "/api/tags":
		ctx.SetBodyString(`{"models":[{"name":"qwen2.5-coder:latest","model":"qwen2.5-coder:latest","size":1,"digest":"bench","details":{"format":"gguf","family":"qwen2"}}]}`)
	case "/stats":
		b, _ := json.Marshal(s.Counts())
		ctx.SetBody(b)
	default:
		s.other.Add(1)
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetBodyString(`{"error":{"message":"mockupstream: unknown path","type":"invalid_request_error","param":null,"code":null}}`)
	}
}

func (s *Server) json(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetContentType("application/json")
	ctx.Response.SetBodyRaw(body)
}

func (s *Server) stream(ctx *fasthttp.RequestCtx, ctype string, events [][]byte, all []byte) {
	s.streams.Add(1)
	ctx.SetContentType(ctype)
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	if s.cfg.Coalesce && s.cfg.TTFT == 0 && s.cfg.Interval == 0 {
		ctx.Response.SetBodyRaw(all)
		return
	}
	st := streamerPool.Get().(*streamer)
	st.events, st.ttft, st.interval, st.i, st.off, st.closed = events, s.cfg.TTFT, s.cfg.Interval, 0, 0, false
	ctx.SetBodyStream(st, -1)
}

// boolField reports the value of a top-level-looking boolean member key
// (`"stream": true`); def when it is absent. A key inside a string would be
// escaped (\"stream\") and is not matched.
func boolField(body, key []byte, def bool) bool {
	for off := 0; ; {
		i := bytes.Index(body[off:], key)
		if i < 0 {
			return def
		}
		i += off
		off = i + len(key)
		if i > 0 && body[i-1] == '\\' {
			continue
		}
		j := off
		for j < len(body) && isSpace(body[j]) {
			j++
		}
		if j >= len(body) || body[j] != ':' {
			continue
		}
		j++
		for j < len(body) && isSpace(body[j]) {
			j++
		}
		switch {
		case bytes.HasPrefix(body[j:], []byte("true")):
			return true
		case bytes.HasPrefix(body[j:], []byte("false")):
			return false
		}
		return def
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// streamer writes prebuilt events, each as its own flushed HTTP chunk, with
// the configured pauses. fasthttp calls WriteTo on the connection's
// goroutine and Close when the response is done.
type streamer struct {
	events         [][]byte
	ttft, interval time.Duration
	i, off         int // Read position
	closed         bool
}

var streamerPool = sync.Pool{New: func() any { return new(streamer) }}

var _ fasthttp.BodyWriterTo = (*streamer)(nil)

// SupportsBodyWriteTo lets fasthttp call WriteTo.
func (st *streamer) SupportsBodyWriteTo() bool { return true }

// WriteTo sends every event.
func (st *streamer) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if st.ttft > 0 {
		time.Sleep(st.ttft)
	}
	for i, ev := range st.events {
		if i > 0 && st.interval > 0 {
			time.Sleep(st.interval)
		}
		m, err := w.Write(ev)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Read is the fallback when fasthttp cannot frame chunks itself.
func (st *streamer) Read(p []byte) (int, error) {
	if st.i == 0 && st.off == 0 && st.ttft > 0 {
		time.Sleep(st.ttft)
	}
	if st.i >= len(st.events) {
		return 0, io.EOF
	}
	if st.off == 0 && st.i > 0 && st.interval > 0 {
		time.Sleep(st.interval)
	}
	n := copy(p, st.events[st.i][st.off:])
	st.off += n
	if st.off == len(st.events[st.i]) {
		st.i, st.off = st.i+1, 0
	}
	return n, nil
}

// Close returns the streamer to its pool.
func (st *streamer) Close() error {
	if st.closed {
		return nil
	}
	st.closed, st.events = true, nil
	streamerPool.Put(st)
	return nil
}
