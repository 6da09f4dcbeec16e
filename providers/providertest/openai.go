package providertest

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// OpenAI is a fake Chat Completions upstream. Its answers follow
// https://platform.openai.com/docs/api-reference/chat/object and, for
// streams, https://platform.openai.com/docs/api-reference/chat-streaming
// ("data: {chunk}\n\n" events, the role in the first delta, an empty delta
// with finish_reason, with stream_options.include_usage a last chunk with
// "choices":[] and usage while every other chunk has "usage":null, then
// "data: [DONE]\n\n").
type OpenAI struct {
	// Reply is the assistant's text; streams send it one word per chunk.
	Reply string
	// ToolCall, when set, makes the answer a call of this function with
	// ToolArgs as arguments (streamed in ArgChunks pieces), unless the last
	// message is a tool result: then the answer is Reply, so that an agent
	// loop (call → result → answer) ends.
	ToolCall  string
	ToolArgs  string
	ArgChunks int
	// Pace is the delay between stream chunks.
	Pace time.Duration
	// Status, when not 0 or 200, makes every answer an error with this
	// status and ErrorBody (default: an OpenAI error envelope).
	Status    int
	ErrorBody string
	// StallAfter, when > 0, stops sending after that many content chunks
	// and holds the connection open, silent, for StallFor.
	StallAfter int
	// StallFor is how long a stall lasts (default 3s).
	StallFor time.Duration
	// Delay is waited before the response headers.
	Delay time.Duration
	// FailFirst makes the first FailFirst chat requests fail with Status
	// (default 503); later ones succeed.
	FailFirst int
	// PromptTokens and CachedTokens are reported in usage.
	PromptTokens, CachedTokens int
	// ReasoningTokens are reported in a Responses answer's usage.
	ReasoningTokens int
	// MaxTokens, when > 0, is the model's output limit: a max_tokens or
	// max_completion_tokens above it is refused as OpenAI refuses it (400
	// invalid_request_error, code invalid_value, "max_tokens is too large:
	// N. This model supports at most M completion tokens, whereas you
	// provided N.", param naming the member).
	MaxTokens int
	// BatchHold keeps batches in progress until they are cancelled
	// (openaibatches.go).
	BatchHold bool

	srv    *Server
	stored responsesState // ids of stored Responses API responses
	// files and batches are the Files and Batch APIs' objects
	// (openaibatches.go); BatchCreates counts the batches created,
	// BatchCancels the cancels.
	files, batches responsesState
	BatchCreates   atomic.Int64
	BatchCancels   atomic.Int64
	n              atomic.Int64
	calls          atomic.Int64
}

// StartOpenAI starts the fake on loopback.
func StartOpenAI(o *OpenAI) (*Server, error) {
	s, err := Start(o.handle)
	o.srv = s
	return s, err
}

func (o *OpenAI) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	if strings.HasSuffix(path, "/embeddings") {
		o.embeddings(ctx)
		return
	}
	if strings.Contains(path, "/files") || strings.Contains(path, "/batches") {
		o.filesAndBatches(ctx, path)
		return
	}
	if i := strings.Index(path, "/responses/"); i >= 0 && ctx.IsDelete() {
		o.deleteResponse(ctx, path[i+len("/responses/"):])
		return
	}
	if strings.HasSuffix(path, "/responses/input_tokens") {
		o.inputTokens(ctx)
		return
	}
	if strings.HasSuffix(path, "/responses") {
		if o.Delay > 0 {
			time.Sleep(o.Delay)
		}
		o.responses(ctx)
		return
	}
	if !strings.HasSuffix(path, "/chat/completions") {
		ctx.SetStatusCode(404)
		ctx.SetBodyString(`{"error":{"message":"Invalid URL (POST ` + path + `)","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	if o.Delay > 0 {
		time.Sleep(o.Delay)
	}
	failing := o.Status != 0 && o.Status != 200
	if o.FailFirst > 0 {
		failing = o.calls.Add(1) <= int64(o.FailFirst)
	}
	if failing {
		status := o.Status
		if status == 0 || status == 200 {
			status = 503
		}
		ctx.SetStatusCode(status)
		ctx.SetContentType("application/json")
		if o.ErrorBody != "" {
			ctx.SetBodyString(o.ErrorBody)
		} else {
			ctx.SetBodyString(`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`)
		}
		return
	}
	body := ctx.PostBody()
	model := "gpt-4o-mini"
	if v := jsonscan.Get(body, "model"); jsonscan.KindOf(v) == jsonscan.String {
		model = string(v[1 : len(v)-1])
	}
	for _, member := range []string{"max_tokens", "max_completion_tokens"} {
		n, err := jsonscan.ParseInt(jsonscan.Get(body, member))
		if err != nil || o.MaxTokens <= 0 || n <= int64(o.MaxTokens) {
			continue
		}
		given := strconv.FormatInt(n, 10)
		ctx.SetStatusCode(400)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":{"message":"` + member + ` is too large: ` + given + `. This model supports at most ` + strconv.Itoa(o.MaxTokens) +
			` completion tokens, whereas you provided ` + given + `.","type":"invalid_request_error","param":"` + member + `","code":"invalid_value"}}`)
		return
	}
	stream := string(jsonscan.Get(body, "stream")) == "true"
	toolTurn := o.ToolCall != "" && !lastIsTool(body)
	includeUsage := false
	if so := jsonscan.Get(body, "stream_options"); so != nil {
		includeUsage = string(jsonscan.Get(so, "include_usage")) == "true"
	}
	id := "chatcmpl-fake" + strconv.FormatInt(o.n.Add(1), 10)
	words := strings.SplitAfter(o.Reply, " ")
	completion := len(words)
	usage := `{"prompt_tokens":` + strconv.Itoa(o.PromptTokens) + `,"completion_tokens":` + strconv.Itoa(completion) +
		`,"total_tokens":` + strconv.Itoa(o.PromptTokens+completion) + `,"prompt_tokens_details":{"cached_tokens":` + strconv.Itoa(o.CachedTokens) +
		`,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`
	if !stream {
		ctx.SetContentType("application/json")
		msg := `{"role":"assistant","content":` + quote(o.Reply) + `,"refusal":null,"annotations":[]}`
		finish := "stop"
		if toolTurn {
			msg = `{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123","type":"function","function":{"name":` + quote(o.ToolCall) + `,"arguments":` + quote(o.ToolArgs) + `}}],"refusal":null,"annotations":[]}`
			finish = "tool_calls"
		}
		ctx.SetBodyString(`{"id":"` + id + `","object":"chat.completion","created":1741569952,"model":"` + model + `","choices":[{"index":0,"message":` + msg +
			`,"logprobs":null,"finish_reason":"` + finish + `"}],"usage":` + usage + `,"service_tier":"default","system_fingerprint":"fp_fake"}`)
		return
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	srv := o.srv
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		if srv != nil {
			srv.Active.Add(1)
			defer srv.Active.Add(-1)
		}
		u := ""
		if includeUsage {
			u = `,"usage":null`
		}
		head := `data: {"id":"` + id + `","object":"chat.completion.chunk","created":1741569952,"model":"` + model + `","service_tier":"default","system_fingerprint":"fp_fake","choices":[{"index":0,"delta":`
		send := func(s string) bool {
			if _, err := w.WriteString(s); err != nil {
				return false
			}
			return w.Flush() == nil
		}
		gone := func() {
			if srv != nil {
				srv.Closed.Add(1)
			}
		}
		if !send(head + `{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]` + u + "}\n\n") {
			gone()
			return
		}
		finish := "stop"
		if toolTurn {
			finish = "tool_calls"
			if !send(head + `{"tool_calls":[{"index":0,"id":"call_abc123","type":"function","function":{"name":` + quote(o.ToolCall) + `,"arguments":""}}]},"logprobs":null,"finish_reason":null}]` + u + "}\n\n") {
				gone()
				return
			}
			for _, part := range splitN(o.ToolArgs, max(o.ArgChunks, 1)) {
				if !send(head + `{"tool_calls":[{"index":0,"function":{"arguments":` + quote(part) + `}}]},"logprobs":null,"finish_reason":null}]` + u + "}\n\n") {
					gone()
					return
				}
			}
		} else {
			for i, word := range words {
				if o.StallAfter > 0 && i >= o.StallAfter {
					// Go silent (no bytes at all) for up to StallFor, then
					// probe the connection to learn whether the client left.
					stall := o.StallFor
					if stall <= 0 {
						stall = 3 * time.Second
					}
					time.Sleep(stall)
					if _, err := w.WriteString(": still here\n\n"); err != nil || w.Flush() != nil {
						gone()
					}
					return
				}
				if o.Pace > 0 {
					time.Sleep(o.Pace)
				}
				if !send(head + `{"content":` + quote(word) + `},"logprobs":null,"finish_reason":null}]` + u + "}\n\n") {
					gone()
					return
				}
			}
		}
		if !send(head + `{},"logprobs":null,"finish_reason":"` + finish + `"}]` + u + "}\n\n") {
			gone()
			return
		}
		if includeUsage {
			if !send(`data: {"id":"` + id + `","object":"chat.completion.chunk","created":1741569952,"model":"` + model + `","service_tier":"default","system_fingerprint":"fp_fake","choices":[],"usage":` + usage + "}\n\n") {
				gone()
				return
			}
		}
		send("data: [DONE]\n\n")
	})
}

func quote(s string) string { return string(jsonscan.AppendQuote(nil, s)) }

func splitN(s string, n int) []string {
	if n <= 1 || len(s) < n {
		return []string{s}
	}
	var out []string
	size := (len(s) + n - 1) / n
	for len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	return append(out, s)
}

// embeddings answers POST /embeddings as OpenAI does
// (https://platform.openai.com/docs/api-reference/embeddings/object): one
// 3-dimension vector per input (a string or an array of token ids is one
// input; an array of strings or of token id arrays is one per entry), the
// same vector as base64 of little-endian float32 when encoding_format is
// "base64", as the SDKs decode it.
func (o *OpenAI) embeddings(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	model := jsonscan.Get(body, "model")
	n := 1
	if in := jsonscan.Get(body, "input"); jsonscan.KindOf(in) == jsonscan.Array {
		n = 0
		_ = jsonscan.ArrayEach(in, func(_ int, e []byte) error {
			if k := jsonscan.KindOf(e); k == jsonscan.String || k == jsonscan.Array {
				n++
			}
			return nil
		})
		if n == 0 { // token ids: one input
			n = 1
		}
	}
	vec := []float32{0.0023064255, -0.009327292, -0.0028842222}
	var text, b64 string
	raw := make([]byte, 0, 4*len(vec))
	for i, f := range vec {
		if i > 0 {
			text += ","
		}
		text += strconv.FormatFloat(float64(f), 'g', -1, 32)
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(f))
	}
	text, b64 = "["+text+"]", `"`+base64.StdEncoding.EncodeToString(raw)+`"`
	encoded := string(jsonscan.Get(body, "encoding_format")) == `"base64"`
	var sb strings.Builder
	sb.WriteString(`{"object":"list","data":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"object":"embedding","index":` + strconv.Itoa(i) + `,"embedding":`)
		if encoded {
			sb.WriteString(b64)
		} else {
			sb.WriteString(text)
		}
		sb.WriteString(`}`)
	}
	sb.WriteString(`],"model":`)
	sb.Write(model)
	sb.WriteString(`,"usage":{"prompt_tokens":8,"total_tokens":8}}`)
	ctx.SetContentType("application/json")
	ctx.SetBodyString(sb.String())
}
