package providers

import (
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
)

// ChunkWriter builds OpenAI chat.completion.chunk SSE events for translating
// providers, appending into one reused buffer.
//
// The format is OpenAI's "The chat completion chunk object"
// (https://platform.openai.com/docs/api-reference/chat-streaming/streaming):
// every chunk repeats id, object, created and model; the first delta carries
// the role; tool calls stream as deltas keyed by index, the first with id,
// type and function.name, the rest with function.arguments fragments; the
// chunk with finish_reason has an empty delta; with
// stream_options.include_usage a last chunk has "choices":[] and the usage;
// the stream ends with "data: [DONE]".
//
// # Notes
//
// Each method resets the buffer and returns it: the result is valid until the
// next call. A ChunkWriter is not safe for concurrent use.
type ChunkWriter struct {
	ID      string
	Created int64
	Model   string
	buf     []byte
}

// Reset prepares w for a new stream.
func (w *ChunkWriter) Reset(id string, created int64, model string) {
	w.ID, w.Created, w.Model, w.buf = id, created, model, w.buf[:0]
}

func (w *ChunkWriter) head(dst []byte) []byte {
	dst = append(dst, `data: {"id":`...)
	dst = jsonscan.AppendQuote(dst, w.ID)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = strconv.AppendInt(dst, w.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = jsonscan.AppendQuote(dst, w.Model)
	return dst
}

func (w *ChunkWriter) choiceHead(dst []byte) []byte {
	dst = w.head(dst)
	return append(dst, `,"choices":[{"index":0,"delta":{`...)
}

func (w *ChunkWriter) choiceTail(dst []byte, finish string) []byte {
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	if finish == "" {
		dst = append(dst, "null"...)
	} else {
		dst = jsonscan.AppendQuote(dst, finish)
	}
	return append(dst, "}]}\n\n"...)
}

// Role returns the opening chunk: the assistant role with empty content.
func (w *ChunkWriter) Role() []byte {
	b := w.choiceHead(w.buf[:0])
	b = append(b, `"role":"assistant","content":""`...)
	w.buf = w.choiceTail(b, "")
	return w.buf
}

// Content returns a chunk carrying a text delta.
func (w *ChunkWriter) Content(text []byte) []byte {
	b := w.choiceHead(w.buf[:0])
	b = append(b, `"content":`...)
	b = jsonscan.AppendQuoteBytes(b, text)
	w.buf = w.choiceTail(b, "")
	return w.buf
}

// Reasoning returns a chunk carrying a reasoning delta ("reasoning_content",
// the field OpenAI-compatible servers such as DeepSeek and vLLM use).
func (w *ChunkWriter) Reasoning(text []byte) []byte {
	b := w.choiceHead(w.buf[:0])
	b = append(b, `"reasoning_content":`...)
	b = jsonscan.AppendQuoteBytes(b, text)
	w.buf = w.choiceTail(b, "")
	return w.buf
}

// ToolCallStart returns the chunk that opens tool call index with its id and
// name; args may carry the first argument bytes (or be empty).
func (w *ChunkWriter) ToolCallStart(index int, id, name string, args []byte) []byte {
	b := w.choiceHead(w.buf[:0])
	b = append(b, `"tool_calls":[{"index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"id":`...)
	b = jsonscan.AppendQuote(b, id)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = jsonscan.AppendQuote(b, name)
	b = append(b, `,"arguments":`...)
	b = jsonscan.AppendQuoteBytes(b, args)
	b = append(b, "}}]"...)
	w.buf = w.choiceTail(b, "")
	return w.buf
}

// ToolCallArgs returns a chunk with an arguments fragment for tool call index.
func (w *ChunkWriter) ToolCallArgs(index int, args []byte) []byte {
	b := w.choiceHead(w.buf[:0])
	b = append(b, `"tool_calls":[{"index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	b = append(b, `,"function":{"arguments":`...)
	b = jsonscan.AppendQuoteBytes(b, args)
	b = append(b, "}}]"...)
	w.buf = w.choiceTail(b, "")
	return w.buf
}

// Finish returns the chunk with the finish_reason and an empty delta.
func (w *ChunkWriter) Finish(reason string) []byte {
	w.buf = w.choiceTail(w.choiceHead(w.buf[:0]), reason)
	return w.buf
}

// UsageChunk returns the include_usage chunk: no choices, only usage.
func (w *ChunkWriter) UsageChunk(u Usage) []byte {
	b := w.head(w.buf[:0])
	b = append(b, `,"choices":[],"usage":`...)
	b = u.AppendJSON(b)
	w.buf = append(b, "}\n\n"...)
	return w.buf
}

// End returns the closing events: the usage chunk when asked for, then
// [DONE].
func (w *ChunkWriter) End(u Usage, includeUsage bool) []byte {
	w.buf = w.buf[:0]
	if includeUsage {
		w.UsageChunk(u)
	}
	w.buf = append(w.buf, "data: [DONE]\n\n"...)
	return w.buf
}

// ErrorEvent returns an in-stream OpenAI error event followed by [DONE]: the
// shape OpenAI itself sends when a stream fails after it started.
func (w *ChunkWriter) ErrorEvent(typ, code, msg string) []byte {
	w.buf = AppendErrorEvent(w.buf[:0], typ, code, msg)
	return w.buf
}

// AppendErrorEvent appends an in-stream error event and [DONE].
func AppendErrorEvent(dst []byte, typ, code, msg string) []byte {
	dst = append(dst, "data: "...)
	dst = AppendError(dst, typ, code, "", msg)
	return append(dst, "\n\ndata: [DONE]\n\n"...)
}

// AppendError appends the OpenAI error envelope
// {"error":{"message","type","param","code"}}.
func AppendError(dst []byte, typ, code, param, msg string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = jsonscan.AppendQuote(dst, msg)
	dst = append(dst, `,"type":`...)
	dst = jsonscan.AppendQuote(dst, typ)
	dst = append(dst, `,"param":`...)
	if param == "" {
		dst = append(dst, "null"...)
	} else {
		dst = jsonscan.AppendQuote(dst, param)
	}
	dst = append(dst, `,"code":`...)
	if code == "" {
		dst = append(dst, "null"...)
	} else {
		dst = jsonscan.AppendQuote(dst, code)
	}
	return append(dst, "}}"...)
}

// Completion is a complete non-streaming answer, for translating providers.
type Completion struct {
	ID        string
	Created   int64
	Model     string
	Content   []byte
	Reasoning []byte
	ToolCalls []ToolCall
	Finish    string
	Usage     Usage
	// Refusal is set when the model refused (content_filter answers).
	Refusal []byte
}

// AppendJSON appends c as an OpenAI chat.completion object
// (https://platform.openai.com/docs/api-reference/chat/object).
func (c *Completion) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonscan.AppendQuote(dst, c.ID)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = strconv.AppendInt(dst, c.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = jsonscan.AppendQuote(dst, c.Model)
	dst = append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if len(c.Content) == 0 && len(c.ToolCalls) > 0 {
		dst = append(dst, "null"...)
	} else {
		dst = jsonscan.AppendQuoteBytes(dst, c.Content)
	}
	if len(c.Reasoning) > 0 {
		dst = append(dst, `,"reasoning_content":`...)
		dst = jsonscan.AppendQuoteBytes(dst, c.Reasoning)
	}
	if len(c.Refusal) > 0 {
		dst = append(dst, `,"refusal":`...)
		dst = jsonscan.AppendQuoteBytes(dst, c.Refusal)
	} else {
		dst = append(dst, `,"refusal":null`...)
	}
	if len(c.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i, tc := range c.ToolCalls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = jsonscan.AppendQuote(dst, tc.ID)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = jsonscan.AppendQuote(dst, tc.Name)
			dst = append(dst, `,"arguments":`...)
			dst = jsonscan.AppendQuote(dst, tc.Arguments)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	finish := c.Finish
	if finish == "" {
		finish = "stop"
	}
	dst = jsonscan.AppendQuote(dst, finish)
	dst = append(dst, `}],"usage":`...)
	dst = c.Usage.AppendJSON(dst)
	return append(dst, '}')
}

// ParseUsage reads an OpenAI usage object.
func ParseUsage(v []byte) Usage { return parseUsage(v, &chatUsageKeys) }

// usageKeys names the members of a usage object: Chat Completions' and the
// Responses API's say the same things under other names.
type usageKeys struct{ prompt, completion, promptDetails, completionDetails string }

var (
	chatUsageKeys      = usageKeys{"prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"}
	responsesUsageKeys = usageKeys{"input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"}
)

// parseUsage reads a usage object whose members k names; the details
// objects carry cached_tokens and reasoning_tokens. DeepSeek's
// OpenAI-compatible API reports its context cache's hits as
// prompt_cache_hit_tokens (beside prompt_cache_miss_tokens; the two add up
// to prompt_tokens: https://api-docs.deepseek.com/guides/kv_cache and
// https://api-docs.deepseek.com/api/create-chat-completion); they count as
// cached tokens (the larger of the two where both are given).
func parseUsage(v []byte, k *usageKeys) Usage {
	var u Usage
	if jsonscan.KindOf(v) != jsonscan.Object {
		return u
	}
	u.Set = true
	hit := 0
	_ = jsonscan.ObjectEach(v, func(key, val []byte) error {
		switch string(key) {
		case "prompt_cache_hit_tokens":
			hit = intOf(val)
		case k.prompt:
			u.PromptTokens = intOf(val)
		case k.completion:
			u.CompletionTokens = intOf(val)
		case k.promptDetails:
			if c := jsonscan.Get(val, "cached_tokens"); c != nil {
				u.CachedTokens = intOf(c)
			}
		case k.completionDetails:
			if c := jsonscan.Get(val, "reasoning_tokens"); c != nil {
				u.ReasoningTokens = intOf(c)
			}
		}
		return nil
	})
	u.CachedTokens = max(u.CachedTokens, hit)
	return u
}

func intOf(v []byte) int {
	if jsonscan.KindOf(v) != jsonscan.Number {
		return 0
	}
	n, err := jsonscan.ParseInt(v)
	if err != nil {
		f, ferr := jsonscan.ParseFloat(v)
		if ferr != nil {
			return 0
		}
		return int(f)
	}
	return int(n)
}

// ParseResponsesUsage reads a Responses API usage object
// (https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage):
// input_tokens (cached ones included, as prompt_tokens are),
// input_tokens_details.cached_tokens, output_tokens (reasoning included)
// and output_tokens_details.reasoning_tokens.
func ParseResponsesUsage(v []byte) Usage { return parseUsage(v, &responsesUsageKeys) }
