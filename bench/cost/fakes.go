package cost

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Call is one request an upstream fake answered.
type Call struct {
	// Req is the index of the trace request being replayed when the call
	// arrived (-1 outside a replay).
	Req      int
	Provider string // "openai", "anthropic", "gemini" or "deepseek"
	Model    string
	Stream   bool
	// Digest is the meaning of what the upstream received.
	Digest [32]byte
	// PromptTokens is the whole prompt (for Anthropic input + cache read +
	// cache creation); CachedTokens the part read from the provider's cache;
	// CacheWriteTokens the part written to it (Anthropic only; Gemini's implicit
	// and DeepSeek's caches bill no write).
	PromptTokens, CachedTokens, CacheWriteTokens, OutputTokens int
	// CacheWrite1hTokens is the part of CacheWriteTokens written with
	// Anthropic's 1-hour TTL (billed at 2× the input price, not 1.25×).
	CacheWrite1hTokens int
	// Breakpoints counts the cache_control markers the request carried.
	Breakpoints int
	// CacheKey is the request's prompt_cache_key (OpenAI).
	CacheKey string
	Answer   Answer
	Status   int
	Err      string
	// Body is the request as received, kept only with Upstreams.KeepBodies.
	Body []byte
}

// Upstreams are the token-counting fakes on loopback: an OpenAI Chat
// Completions server, an Anthropic Messages server, a Gemini generateContent
// server (fakegemini.go) and a DeepSeek server (OpenAI's wire format with
// DeepSeek's usage fields, https://api-docs.deepseek.com/api/create-chat-completion). They count the tokens of what
// they actually receive, simulate each provider's prompt cache, and answer
// with AnswerFor, so the same request always gets the same answer.
//
// # Notes
//
// Safe for concurrent use. The replay sets the simulated clock and the
// current trace request with Begin.
type Upstreams struct {
	Tok       *Tokenizer
	OpenAI    *OpenAICache
	Anthropic *AnthropicCache
	Gemini    *PrefixCache
	DeepSeek  *PrefixCache
	// OpenAIURL and DeepSeekURL include /v1; AnthropicURL and GeminiURL
	// exclude the version.
	OpenAIURL, AnthropicURL, GeminiURL, DeepSeekURL string
	// KeepBodies keeps each call's request body (for explaining differing
	// answers).
	KeepBodies bool
	// ClockFile, when set, receives the simulated time (Unix nanoseconds)
	// at each Begin: the gateway reads its cache-lifetime clock from it
	// (GATEWAY_SIM_CLOCK_FILE), so that its view of Anthropic's 5-minute
	// and 1-hour lifetimes runs on the trace's time, as the fakes' do.
	ClockFile string

	mu    sync.Mutex
	now   time.Time
	cur   int
	calls []Call
	seq   int
	srvs  []*fasthttp.Server
}

// StartUpstreams starts the fakes on 127.0.0.1.
func StartUpstreams(tok *Tokenizer) (*Upstreams, error) {
	u := &Upstreams{Tok: tok, OpenAI: NewOpenAICache(), Anthropic: NewAnthropicCache(), Gemini: NewGeminiCache(), DeepSeek: NewDeepSeekCache(),
		cur: -1, now: time.Unix(1767225600, 0)}
	var urls [4]string
	for i, h := range []fasthttp.RequestHandler{u.handleChat("openai"), u.handleAnthropic, u.handleGemini, u.handleChat("deepseek")} {
		url, err := u.serve(h)
		if err != nil {
			u.Close()
			return nil, err
		}
		urls[i] = url
	}
	u.OpenAIURL, u.AnthropicURL, u.GeminiURL, u.DeepSeekURL = urls[0]+"/v1", urls[1], urls[2], urls[3]+"/v1"
	return u, nil
}

func (u *Upstreams) serve(h fasthttp.RequestHandler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s := &fasthttp.Server{Handler: h, MaxRequestBodySize: 256 << 20, ReadTimeout: time.Minute, Name: "costbench-fake"}
	u.srvs = append(u.srvs, s)
	go func() { _ = s.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// Close stops the fakes.
func (u *Upstreams) Close() {
	for _, s := range u.srvs {
		_ = s.Shutdown()
	}
}

// Reset forgets the calls and both provider caches, for a new replay.
func (u *Upstreams) Reset() {
	u.mu.Lock()
	u.calls, u.cur = nil, -1
	u.mu.Unlock()
	u.OpenAI.Reset()
	u.Anthropic.Reset()
	u.Gemini.Reset()
	u.DeepSeek.Reset()
}

// Begin sets the simulated time and the trace request that the next calls
// belong to.
func (u *Upstreams) Begin(req int, now time.Time) {
	u.mu.Lock()
	u.cur, u.now = req, now
	u.mu.Unlock()
	if u.ClockFile != "" {
		// Written whole, then renamed: the gateway never reads half a time.
		tmp := u.ClockFile + ".tmp"
		if os.WriteFile(tmp, []byte(strconv.FormatInt(now.UnixNano(), 10)), 0o644) == nil {
			_ = os.Rename(tmp, u.ClockFile)
		}
	}
}

// Calls returns the calls received since the last Reset.
func (u *Upstreams) Calls() []Call {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Call(nil), u.calls...)
}

func (u *Upstreams) record(c Call, body []byte) {
	u.mu.Lock()
	if u.KeepBodies {
		c.Body = append([]byte(nil), body...)
	}
	c.Req = u.cur
	u.calls = append(u.calls, c)
	u.mu.Unlock()
}

func (u *Upstreams) clock() (time.Time, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.seq++
	return u.now, u.seq
}

func fail(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(body)
}

// Pseudo token ids for the chat template's framing (never real ids).
const (
	tokSep = -2 - iota
	tokEnd
	tokPrime
	tokTools
	tokRole // tokRole - roleIndex
)

func roleToken(role string) int {
	switch role {
	case "system":
		return tokRole
	case "developer":
		return tokRole - 1
	case "user":
		return tokRole - 2
	case "assistant":
		return tokRole - 3
	case "tool":
		return tokRole - 4
	}
	return tokRole - 5
}

// OpenAISegments renders a Chat Completions request as the model's token
// sequence, one segment per part: the tool definitions, then each message
// framed by its role (three tokens of framing per message and three to
// prime the reply, as OpenAI counts).
func OpenAISegments(t *Tokenizer, r *oaRequest) [][]int {
	var segs [][]int
	if len(r.Tools) > 0 {
		var b strings.Builder
		for _, tl := range r.Tools {
			schema, _ := canonicalJSON(tl.Function.Parameters)
			b.WriteString(tl.Function.Name + "\n" + tl.Function.Description + "\n" + schema + "\n")
		}
		segs = append(segs, []int{tokTools}, t.Encode(b.String()))
	}
	for _, m := range r.Messages {
		segs = append(segs, []int{roleToken(m.Role), tokSep})
		texts, images, _ := oaContent(m.Content)
		for _, s := range texts {
			segs = append(segs, t.Encode(s))
		}
		for range images {
			segs = append(segs, make([]int, 765)) // a high-detail 512px tile set
		}
		for _, tc := range m.ToolCalls {
			segs = append(segs, t.Encode(tc.Function.Name), t.Encode(tc.Function.Arguments))
		}
		segs = append(segs, []int{tokEnd})
	}
	return append(segs, []int{tokPrime, roleToken("assistant"), tokSep})
}

// handleChat serves Chat Completions for provider "openai" (OpenAI's
// automatic prompt caching and usage) or "deepseek" (DeepSeek's context
// cache and its prompt_cache_hit_tokens / prompt_cache_miss_tokens usage).
func (u *Upstreams) handleChat(provider string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) { u.handleOpenAI(ctx, provider) }
}

func (u *Upstreams) handleOpenAI(ctx *fasthttp.RequestCtx, provider string) {
	if !strings.HasSuffix(string(ctx.Path()), "/chat/completions") {
		fail(ctx, 404, `{"error":{"message":"Invalid URL","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	if !bytes.HasPrefix(ctx.Request.Header.Peek("Authorization"), []byte("Bearer ")) {
		fail(ctx, 401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
		return
	}
	body := ctx.PostBody()
	now, seq := u.clock()
	var r oaRequest
	if err := json.Unmarshal(body, &r); err != nil {
		u.record(Call{Provider: provider, Status: 400, Err: err.Error()}, body)
		fail(ctx, 400, `{"error":{"message":"We could not parse the JSON body of your request.","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	conv, digest, err := Meaning(FormatOpenAI, body)
	if err != nil {
		u.record(Call{Provider: provider, Model: r.Model, Status: 400, Err: err.Error()}, body)
		fail(ctx, 400, `{"error":{"message":`+strconv.Quote(err.Error())+`,"type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	segs := OpenAISegments(u.Tok, &r)
	prompt := 0
	for _, s := range segs {
		prompt += len(s)
	}
	var cached int
	if provider == "deepseek" {
		cached = u.DeepSeek.Process(r.Model, now, segs)
	} else {
		cached = u.OpenAI.Process(r.Model, now, segs, r.PromptCacheKey)
	}
	a := AnswerFor(provider, r.Model, conv, digest)
	out := a.OutputTokens(u.Tok)
	u.record(Call{Provider: provider, Model: r.Model, Stream: r.Stream, Digest: digest, PromptTokens: prompt, CachedTokens: cached, OutputTokens: out, CacheKey: r.PromptCacheKey, Answer: a, Status: 200}, body)
	usage := map[string]any{
		"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
		"prompt_tokens_details":     map[string]int{"cached_tokens": cached, "audio_tokens": 0},
		"completion_tokens_details": map[string]int{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
	if provider == "deepseek" {
		// https://api-docs.deepseek.com/api/create-chat-completion: the
		// context cache's hits and misses add up to prompt_tokens.
		usage = map[string]any{"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
			"prompt_cache_hit_tokens": cached, "prompt_cache_miss_tokens": prompt - cached,
			"completion_tokens_details": map[string]int{"reasoning_tokens": 0}}
	}
	id := "chatcmpl-fake" + strconv.Itoa(seq)
	created := now.Unix()
	finish := "stop"
	if a.Finish == "tool" {
		finish = "tool_calls"
	}
	var calls []map[string]any
	for _, tc := range a.ToolCalls {
		calls = append(calls, map[string]any{"id": tc.ID, "type": "function", "function": map[string]string{"name": tc.Name, "arguments": tc.Args}})
	}
	if !r.Stream {
		msg := map[string]any{"role": "assistant", "content": nil, "refusal": nil, "annotations": []any{}}
		if a.Text != "" || len(calls) == 0 {
			msg["content"] = a.Text
		}
		if len(calls) > 0 {
			msg["tool_calls"] = calls
		}
		b, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": r.Model,
			"choices":            []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
			"usage":              usage,
			"service_tier":       "default",
			"system_fingerprint": "fp_costbench",
		})
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
		return
	}
	includeUsage := bytes.Contains(r.StreamOptions, []byte(`"include_usage":true`)) || bytes.Contains(r.StreamOptions, []byte(`"include_usage": true`))
	var sse bytes.Buffer
	chunk := func(delta any, finish any, withUsage bool) {
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": r.Model, "system_fingerprint": "fp_costbench",
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}}
		if includeUsage {
			c["usage"] = nil
		}
		b, _ := json.Marshal(c)
		sse.WriteString("data: ")
		sse.Write(b)
		sse.WriteString("\n\n")
	}
	chunk(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil, false)
	for _, piece := range splitWords(a.Text, 4) {
		chunk(map[string]any{"content": piece}, nil, false)
	}
	for i, tc := range a.ToolCalls {
		chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": tc.ID, "type": "function", "function": map[string]string{"name": tc.Name, "arguments": ""}}}}, nil, false)
		for _, part := range splitN(tc.Args, 3) {
			chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]string{"arguments": part}}}}, nil, false)
		}
	}
	chunk(map[string]any{}, finish, false)
	if includeUsage {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": r.Model, "system_fingerprint": "fp_costbench", "choices": []any{}, "usage": usage})
		sse.WriteString("data: ")
		sse.Write(b)
		sse.WriteString("\n\n")
	}
	sse.WriteString("data: [DONE]\n\n")
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBody(sse.Bytes())
}

// splitWords cuts s into pieces of n words (spaces kept).
func splitWords(s string, n int) []string {
	if s == "" {
		return nil
	}
	words := strings.SplitAfter(s, " ")
	var out []string
	for i := 0; i < len(words); i += n {
		out = append(out, strings.Join(words[i:min(i+n, len(words))], ""))
	}
	return out
}

// splitN cuts s into n pieces (byte-wise; the arguments here are ASCII).
func splitN(s string, n int) []string {
	if len(s) < n {
		return []string{s}
	}
	var out []string
	step := (len(s) + n - 1) / n
	for i := 0; i < len(s); i += step {
		out = append(out, s[i:min(i+step, len(s))])
	}
	return out
}

func blockHash(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p))))
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// AnthropicBlocks lists a Messages request's prompt blocks in cache order
// (tools, system, messages) with their tokens and breakpoints, and the
// number of breakpoints. A block's tokens are its text's plus three of
// framing, and four more for the first block of each message. A top-level
// cache_control (automatic caching) marks the last block.
func AnthropicBlocks(t *Tokenizer, body []byte) ([]Block, int, error) {
	var r struct {
		anRequest
		CacheControl json.RawMessage `json:"cache_control"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, 0, err
	}
	var out []Block
	bps := 0
	add := func(b Block) {
		if b.Breakpoint {
			bps++
		}
		out = append(out, b)
	}
	for _, tl := range r.Tools {
		schema, _ := canonicalJSON(tl.InputSchema)
		add(Block{Hash: blockHash("tool", tl.Name, tl.Description, schema),
			Tokens:     t.Count(tl.Name) + t.Count(tl.Description) + t.Count(schema) + 3,
			Breakpoint: hasCacheControl(tl.CacheControl), Hour: hourTTL(tl.CacheControl)})
	}
	sys, err := anBlocks(r.System)
	if err != nil {
		return nil, 0, err
	}
	for _, b := range sys {
		add(Block{Hash: blockHash("system", b.Text), Tokens: t.Count(b.Text) + 3, Breakpoint: hasCacheControl(b.CacheControl), Hour: hourTTL(b.CacheControl)})
	}
	for _, m := range r.Messages {
		bs, err := anBlocks(m.Content)
		if err != nil {
			return nil, 0, err
		}
		for i, b := range bs {
			first := "0"
			frame := 3
			if i == 0 {
				first, frame = "1", 7
			}
			blk := Block{Breakpoint: hasCacheControl(b.CacheControl), Hour: hourTTL(b.CacheControl)}
			switch b.Type {
			case "text":
				blk.Hash, blk.Tokens = blockHash("text", m.Role, first, b.Text), t.Count(b.Text)+frame
			case "tool_use":
				in, _ := canonicalJSON(b.Input)
				blk.Hash, blk.Tokens = blockHash("tool_use", m.Role, first, b.ID, b.Name, in), t.Count(b.Name)+t.Count(in)+frame
			case "tool_result":
				txt, _ := anText(b.Content)
				blk.Hash, blk.Tokens = blockHash("tool_result", m.Role, first, b.ToolUseID, txt), t.Count(txt)+frame
				if inner, err := anBlocks(b.Content); err == nil {
					for _, ib := range inner {
						if hasCacheControl(ib.CacheControl) {
							blk.Breakpoint = true
							blk.Hour = blk.Hour || hourTTL(ib.CacheControl)
						}
					}
				}
			default:
				src, _ := canonicalJSON(b.Source)
				blk.Hash, blk.Tokens = blockHash(b.Type, m.Role, first, src, b.Text), 1600+frame
			}
			add(blk)
		}
	}
	if hasCacheControl(r.CacheControl) && len(out) > 0 && !out[len(out)-1].Breakpoint {
		out[len(out)-1].Breakpoint = true
		out[len(out)-1].Hour = hourTTL(r.CacheControl)
		bps++
	}
	return out, bps, nil
}

func (u *Upstreams) handleAnthropic(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) != "/v1/messages" {
		fail(ctx, 404, `{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}`)
		return
	}
	if len(ctx.Request.Header.Peek("anthropic-version")) == 0 {
		fail(ctx, 400, `{"type":"error","error":{"type":"invalid_request_error","message":"anthropic-version: header is required"}}`)
		return
	}
	if len(ctx.Request.Header.Peek("x-api-key")) == 0 {
		fail(ctx, 401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
		return
	}
	body := ctx.PostBody()
	now, seq := u.clock()
	var r anRequest
	if err := json.Unmarshal(body, &r); err != nil || r.MaxTokens <= 0 {
		msg := "max_tokens: Field required"
		if err != nil {
			msg = err.Error()
		}
		u.record(Call{Provider: "anthropic", Model: r.Model, Status: 400, Err: msg}, body)
		fail(ctx, 400, `{"type":"error","error":{"type":"invalid_request_error","message":`+strconv.Quote(msg)+`}}`)
		return
	}
	conv, digest, err := Meaning(FormatAnthropic, body)
	var blocks []Block
	var bps int
	if err == nil {
		blocks, bps, err = AnthropicBlocks(u.Tok, body)
	}
	if err == nil && bps > 4 {
		err = errorString("A maximum of 4 blocks with cache_control may be provided. Found " + strconv.Itoa(bps) + ".")
	}
	if err == nil {
		if msg := TTLOrderError(blocks); msg != "" {
			err = errorString(msg)
		}
	}
	if err != nil {
		u.record(Call{Provider: "anthropic", Model: r.Model, Status: 400, Err: err.Error()}, body)
		fail(ctx, 400, `{"type":"error","error":{"type":"invalid_request_error","message":`+strconv.Quote(err.Error())+`}}`)
		return
	}
	usage := u.Anthropic.Process(r.Model, now, blocks)
	a := AnswerFor("anthropic", r.Model, conv, digest)
	out := a.OutputTokens(u.Tok)
	u.record(Call{Provider: "anthropic", Model: r.Model, Stream: r.Stream, Digest: digest, PromptTokens: usage.Total(), CachedTokens: usage.CacheRead,
		CacheWriteTokens: usage.CacheCreation, CacheWrite1hTokens: usage.CacheCreation1h, OutputTokens: out, Breakpoints: bps, Answer: a, Status: 200}, body)
	id := "msg_costbench" + strconv.Itoa(seq)
	stop := "end_turn"
	if a.Finish == "tool" {
		stop = "tool_use"
	}
	var content []any
	if a.Text != "" {
		content = append(content, map[string]any{"type": "text", "text": a.Text})
	}
	for _, tc := range a.ToolCalls {
		content = append(content, map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": json.RawMessage(tc.Args)})
	}
	usageObj := func(output int) map[string]any {
		// The usage object of https://docs.anthropic.com/en/api/messages:
		// cache_creation splits the write by TTL.
		return map[string]any{"input_tokens": usage.Input, "cache_creation_input_tokens": usage.CacheCreation,
			"cache_read_input_tokens": usage.CacheRead, "output_tokens": output, "service_tier": "standard",
			"cache_creation": map[string]any{"ephemeral_5m_input_tokens": usage.CacheCreation - usage.CacheCreation1h,
				"ephemeral_1h_input_tokens": usage.CacheCreation1h}}
	}
	if !r.Stream {
		b, _ := json.Marshal(map[string]any{"id": id, "type": "message", "role": "assistant", "model": r.Model, "content": content,
			"stop_reason": stop, "stop_sequence": nil, "usage": usageObj(out)})
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
		return
	}
	var sse bytes.Buffer
	event := func(name string, data any) {
		b, _ := json.Marshal(data)
		sse.WriteString("event: " + name + "\ndata: ")
		sse.Write(b)
		sse.WriteString("\n\n")
	}
	event("message_start", map[string]any{"type": "message_start", "message": map[string]any{"id": id, "type": "message", "role": "assistant", "model": r.Model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil, "usage": usageObj(1)}})
	idx := 0
	if a.Text != "" {
		event("content_block_start", map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{"type": "text", "text": ""}})
		event("ping", map[string]any{"type": "ping"})
		for _, piece := range splitWords(a.Text, 4) {
			event("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "text_delta", "text": piece}})
		}
		event("content_block_stop", map[string]any{"type": "content_block_stop", "index": idx})
		idx++
	}
	for _, tc := range a.ToolCalls {
		event("content_block_start", map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": map[string]any{}}})
		for _, part := range splitN(tc.Args, 3) {
			event("content_block_delta", map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "input_json_delta", "partial_json": part}})
		}
		event("content_block_stop", map[string]any{"type": "content_block_stop", "index": idx})
		idx++
	}
	event("message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": out}})
	event("message_stop", map[string]any{"type": "message_stop"})
	ctx.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBody(sse.Bytes())
}

type errorString string

func (e errorString) Error() string { return string(e) }
