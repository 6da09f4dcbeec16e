package engine

import (
	"bytes"
	"encoding/json"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// The legacy OpenAI Completions API
// (https://platform.openai.com/docs/api-reference/completions/create),
// still used by editor autocomplete (Continue) and client.completions.create
// in the OpenAI SDKs. POST /v1/completions is translated to a chat request
// with one user message holding the prompt, then served by serve, the chat
// pipeline itself (policies, routing, the cache, budgets, retries, breakers
// and the ledger), as the Responses API is; render turns the chat answer
// into a text_completion object or its event stream. Not on the hot path:
// the request is decoded with encoding/json, once.

// completionsDefaultMaxTokens is the reference's default for max_tokens.
const completionsDefaultMaxTokens = 16

// fimInstruction is the system message sent with a suffix: a chat model
// has no fill-in-the-middle mode, so the gap is stated as a task.
const fimInstruction = "You complete text. The user message holds a prefix between <prefix> tags and a suffix between <suffix> tags. " +
	"Reply with only the text that goes between the prefix and the suffix: no tags, no commentary, no repetition of either."

// completionsPassed are the members copied to the chat request as they are:
// they mean the same thing there.
var completionsPassed = [...]string{"model", "temperature", "top_p", "n", "stream", "stream_options", "stop", "user", "seed",
	"presence_penalty", "frequency_penalty", "logit_bias"}

// handleCompletions serves POST /v1/completions.
func (s *Server) handleCompletions(ctx *fasthttp.RequestCtx) {
	x := s.acquireExchange(ctx)
	x.format = formatCompletions
	if s.draining.Load() {
		ctx.SetConnectionClose()
	}
	if err := s.admit(ctx, x); err != nil { // key, project, rate limits (tenancy.go)
		x.fail(ctx, err)
		return
	}
	b, model, err := completionsToChat(x.scratch[:0], ctx.PostBody())
	if !x.decodeTranslated(ctx, b, err) {
		return
	}
	s.serve(ctx, x, model)
}

// completionsParamError is a 400 naming the member at fault.
func completionsParamError(param, msg string) error {
	return &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: param, Msg: param + ": " + msg}
}

// completionsToChat appends to dst the chat request that body, a
// Completions request, stands for, and returns it with the model's name.
func completionsToChat(dst, body []byte) ([]byte, string, error) {
	obj, err := bodyObject(body)
	if err != nil {
		return dst, "", err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return dst, "", &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Msg: "request body is not valid JSON: " + err.Error()}
	}
	model, err := modelOf(obj)
	if err != nil {
		return dst, "", err
	}
	if model == "" {
		return dst, "", completionsParamError("model", "is required")
	}
	prompt, err := completionsPrompt(m["prompt"])
	if err != nil {
		return dst, "", err
	}
	var suffix string
	if v := m["suffix"]; !isNull(v) {
		if err := json.Unmarshal(v, &suffix); err != nil {
			return dst, "", completionsParamError("suffix", "expected a string")
		}
	}
	if v := m["echo"]; !isNull(v) && !bytes.Equal(v, []byte("false")) {
		return dst, "", completionsParamError("echo", "is not supported by this gateway; send echo: false and prepend the prompt yourself")
	}
	// logprobs 0 still asks for the sampled tokens' logprobs: only null is
	// an answer the gateway can give.
	if v := m["logprobs"]; !isNull(v) {
		return dst, "", completionsParamError("logprobs", "is not supported by this gateway; omit it or send null")
	}
	if v := m["best_of"]; !isNull(v) && !bytes.Equal(v, []byte("1")) {
		return dst, "", completionsParamError("best_of", "is not supported by this gateway; use n for several completions")
	}
	dst = append(dst, '{')
	for _, k := range completionsPassed {
		if v, ok := m[k]; ok {
			dst = jsonscan.AppendQuote(dst, k)
			dst = append(dst, ':')
			dst = append(dst, v...)
			dst = append(dst, ',')
		}
	}
	dst = append(dst, `"max_tokens":`...)
	if v := m["max_tokens"]; !isNull(v) {
		dst = append(dst, v...)
	} else {
		dst = append(dst, '1', '6') // completionsDefaultMaxTokens
	}
	dst = append(dst, `,"messages":[`...)
	if suffix == "" {
		dst = append(dst, `{"role":"user","content":`...)
		dst = jsonscan.AppendQuote(dst, prompt)
	} else {
		dst = append(dst, `{"role":"system","content":`...)
		dst = jsonscan.AppendQuote(dst, fimInstruction)
		dst = append(dst, `},{"role":"user","content":`...)
		dst = jsonscan.AppendQuote(dst, "<prefix>"+prompt+"</prefix>\n<suffix>"+suffix+"</suffix>")
	}
	return append(dst, "}]}"...), model, nil
}

// completionsPrompt reads prompt: a string, or an array of one string.
// Several prompts in one request, and token arrays, are refused: a chat
// request has one conversation, and token ids belong to one tokenizer.
func completionsPrompt(v json.RawMessage) (string, error) {
	if isNull(v) {
		return "", completionsParamError("prompt", "is required")
	}
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(v, &list); err != nil {
		return "", completionsParamError("prompt", "expected a string or an array of one string")
	}
	if len(list) != 1 {
		return "", completionsParamError("prompt", "an array of several prompts is not supported; send one request per prompt")
	}
	if err := json.Unmarshal(list[0], &s); err != nil {
		return "", completionsParamError("prompt", "token arrays are not supported; send the prompt as text")
	}
	return s, nil
}

// isNull reports an absent member or a JSON null.
func isNull(v json.RawMessage) bool { return len(v) == 0 || bytes.Equal(v, []byte("null")) }

// completionsID is the text_completion id: the request's, like chatcmpl-.
func (x *exchange) completionsID() []byte {
	return append([]byte("cmpl-"), x.reqID...)
}

// completionsBody is render's body for a Completions client: the chat
// completion's choices as text, its usage as it is.
func completionsBody(x *exchange, completion []byte) ([]byte, error) {
	b := x.scratch[:0]
	b = append(b, `{"id":`...)
	b = jsonscan.AppendQuoteBytes(b, x.completionsID())
	b = append(b, `,"object":"text_completion","created":`...)
	b = appendInt(b, int(x.start.Unix()))
	b = append(b, `,"model":`...)
	if v := jsonscan.Get(completion, "model"); jsonscan.KindOf(v) == jsonscan.String {
		b = append(b, v...)
	} else {
		b = jsonscan.AppendQuote(b, x.model.Upstream)
	}
	b = append(b, `,"choices":[`...)
	n := 0
	err := jsonscan.ArrayEach(jsonscan.Get(completion, "choices"), func(i int, c []byte) error {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		var err error
		b, err = appendTextChoice(b, i, c, jsonscan.Get(jsonscan.Get(c, "message"), "content"))
		return err
	})
	if err != nil {
		return nil, &apiError{Status: 502, Type: typeUpstream, Code: "bad_upstream_response", Msg: "upstream answer could not be translated: " + err.Error()}
	}
	b = append(b, ']')
	if u := jsonscan.Get(completion, "usage"); jsonscan.KindOf(u) == jsonscan.Object {
		b = append(b, `,"usage":`...)
		b = append(b, u...)
	}
	b = append(b, '}')
	x.scratch = b
	return b, nil
}

// appendTextChoice appends a text_completion choice: content (a JSON
// string, or null for none) as text, c's index (i when absent) and
// finish_reason.
func appendTextChoice(b []byte, i int, c, content []byte) ([]byte, error) {
	b = append(b, `{"text":`...)
	if jsonscan.KindOf(content) == jsonscan.String {
		b = append(b, content...)
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"index":`...)
	if v := jsonscan.Get(c, "index"); jsonscan.KindOf(v) == jsonscan.Number {
		b = append(b, v...)
	} else {
		b = appendInt(b, i)
	}
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if v := jsonscan.Get(c, "finish_reason"); jsonscan.KindOf(v) == jsonscan.String {
		b = append(b, v...)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}'), nil
}

// completionsStream is render's relay for a Completions client: each chat
// chunk becomes a text_completion chunk; the usage chunk, error events and
// [DONE] keep their place.
type completionsStream struct {
	src   providers.Stream
	id    []byte
	model string
	// head is `{"id":…,"object":"text_completion","created":…,"model":`.
	head []byte
	out  []byte
}

var _ providers.Stream = (*completionsStream)(nil)

func newCompletionsStream(x *exchange, src providers.Stream) *completionsStream {
	h := append([]byte(`{"id":`), jsonscan.AppendQuoteBytes(nil, x.completionsID())...)
	h = append(h, `,"object":"text_completion","created":`...)
	h = appendInt(h, int(x.start.Unix()))
	h = append(h, `,"model":`...)
	return &completionsStream{src: src, model: x.model.Upstream, head: h}
}

// Usage is the source's usage.
func (s *completionsStream) Usage() providers.Usage { return s.src.Usage() }

// Close closes the source.
func (s *completionsStream) Close() error { return s.src.Close() }

// Pending is the source's, when it can tell.
func (s *completionsStream) Pending() bool {
	p, ok := s.src.(providers.Pender)
	return ok && p.Pending()
}

// Next translates the source's next events; an event with nothing to say
// (the role-only first chunk) is dropped, and a batch of only those reads
// on.
func (s *completionsStream) Next() ([]byte, error) {
	for {
		in, err := s.src.Next()
		if err != nil {
			return nil, err
		}
		s.out = s.out[:0]
		for len(in) > 0 {
			ev := in
			if i := bytes.Index(in, []byte("\n\n")); i >= 0 {
				ev, in = in[:i], in[i+2:]
			} else {
				in = nil
			}
			s.event(ev)
		}
		if len(s.out) > 0 {
			return s.out, nil
		}
	}
}

// event translates one SSE event.
func (s *completionsStream) event(ev []byte) {
	data, ok := bytes.CutPrefix(bytes.TrimLeft(ev, "\n"), []byte("data: "))
	if !ok {
		return
	}
	if bytes.Equal(data, []byte("[DONE]")) || jsonscan.Get(data, "error") != nil {
		s.out = append(append(append(s.out, "data: "...), data...), "\n\n"...)
		return
	}
	choices := jsonscan.Get(data, "choices")
	_ = jsonscan.ArrayEach(choices, func(i int, c []byte) error {
		content := jsonscan.Get(jsonscan.Get(c, "delta"), "content")
		fin := jsonscan.Get(c, "finish_reason")
		if jsonscan.KindOf(fin) != jsonscan.String && (jsonscan.KindOf(content) != jsonscan.String || len(content) == 2) {
			return nil
		}
		s.start(data)
		s.out = append(s.out, `,"choices":[`...)
		s.out, _ = appendTextChoice(s.out, i, c, content)
		s.out = append(s.out, "]}\n\n"...)
		return nil
	})
	if u := jsonscan.Get(data, "usage"); jsonscan.KindOf(u) == jsonscan.Object {
		s.start(data)
		s.out = append(s.out, `,"choices":[],"usage":`...)
		s.out = append(s.out, u...)
		s.out = append(s.out, "}\n\n"...)
	}
}

// start opens a chunk up to its choices.
func (s *completionsStream) start(chunk []byte) {
	s.out = append(s.out, "data: "...)
	s.out = append(s.out, s.head...)
	if v := jsonscan.Get(chunk, "model"); jsonscan.KindOf(v) == jsonscan.String {
		s.out = append(s.out, v...)
	} else {
		s.out = jsonscan.AppendQuote(s.out, s.model)
	}
}
