package providertest

import (
	"bufio"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// Ollama is a fake Ollama server. Its answers follow
// https://github.com/ollama/ollama/blob/main/docs/api.md and the JSON
// encoding of api.ChatResponse (encoding/json, so "<", ">" and "&" are
// escaped as \u003c, \u003e, \u0026; empty fields omitted):
//
//   - POST /api/chat with "stream":false: one object,
//     {"model","created_at","message":{"role":"assistant","content"[,"thinking"][,"tool_calls"]},
//     "done_reason","done":true,"total_duration","load_duration",
//     "prompt_eval_count","prompt_eval_duration","eval_count","eval_duration"};
//   - POST /api/chat streaming (the default): Content-Type
//     application/x-ndjson, one such object per line with "done":false and a
//     content delta (one word per line), a tool call as one whole line with
//     "content":"", then the final line with "content":"", done_reason,
//     "done":true and the counts;
//   - errors as {"error":"…"} with the status (404 for an unknown model,
//     400 for a missing one), or as a line mid-stream;
//   - GET /api/tags: {"models":[{"name","model","modified_at","size","digest","details"}]}.
type Ollama struct {
	// Reply is the assistant's text; streams send it one word per line.
	Reply string
	// Thinking, when set, is sent as message.thinking (one word per line
	// before the content when streaming).
	Thinking string
	// ToolCall, when set, makes the answer a call of this function with
	// ToolArgs (a JSON object) as arguments.
	ToolCall string
	ToolArgs string
	// DoneReason is the final done_reason (default "stop").
	DoneReason string
	// Models, when set, is the /api/tags list, and a chat request for any
	// other model gets Ollama's 404.
	Models []string
	// PromptTokens is reported as prompt_eval_count.
	PromptTokens int
	// Pace is the delay before each streamed line.
	Pace time.Duration
	// Delay is waited before the response headers.
	Delay time.Duration
	// Status, when not 0 or 200, makes every chat answer an error with this
	// status and ErrorBody (default: {"error":"ErrorMessage"}).
	Status       int
	ErrorBody    string
	ErrorMessage string
	// ErrorAfter, when > 0, sends an {"error":ErrorMessage} line after that
	// many content lines and ends the stream.
	ErrorAfter int
	// StallAfter, when > 0, stops after that many content lines and holds
	// the connection silently, writing a lone "\n" every StallProbe
	// (default 1s) to notice when the client has gone.
	StallAfter int
	StallProbe time.Duration

	srv *Server
	n   atomic.Int64
}

// StartOllama starts the fake on loopback.
func StartOllama(o *Ollama) (*Server, error) {
	s, err := Start(o.handle)
	o.srv = s
	return s, err
}

// ollamaCreatedAt is a fixed created_at, in Go's RFC 3339 nanosecond form.
const ollamaCreatedAt = "2025-07-07T20:22:19.184789Z"

func (o *Ollama) handle(ctx *fasthttp.RequestCtx) {
	switch path := string(ctx.Path()); {
	case path == "/api/tags" && ctx.IsGet():
		o.tags(ctx)
	case path == "/api/chat" && ctx.IsPost():
		o.chat(ctx)
	case path == "/api/embed" && ctx.IsPost():
		o.embed(ctx)
	default:
		// Gin's default 404.
		ctx.SetStatusCode(404)
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("404 page not found")
	}
}

func (o *Ollama) tags(ctx *fasthttp.RequestCtx) {
	var b strings.Builder
	b.WriteString(`{"models":[`)
	for i, m := range o.Models {
		if i > 0 {
			b.WriteByte(',')
		}
		family := m
		if j := strings.IndexAny(family, ":0123456789."); j > 0 {
			family = family[:j]
		}
		b.WriteString(`{"name":` + goQuote(m) + `,"model":` + goQuote(m) +
			`,"modified_at":"2025-06-30T11:03:12.421592135+02:00","size":2019393189,"digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72","details":{"parent_model":"","format":"gguf","family":` +
			goQuote(family) + `,"families":[` + goQuote(family) + `],"parameter_size":"3.2B","quantization_level":"Q4_K_M"}}`)
	}
	b.WriteString(`]}`)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBodyString(b.String())
}

func (o *Ollama) fail(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBodyString(`{"error":` + goQuote(msg) + `}`)
}

func (o *Ollama) chat(ctx *fasthttp.RequestCtx) {
	if o.Delay > 0 {
		time.Sleep(o.Delay)
	}
	o.n.Add(1)
	// A conversation whose last message is a tool result gets the final
	// answer; any other gets the tool call.
	toolTurn := o.ToolCall != "" && !lastIsTool(ctx.PostBody())
	if o.Status != 0 && o.Status != 200 {
		if o.ErrorBody != "" {
			ctx.SetStatusCode(o.Status)
			ctx.SetContentType("application/json; charset=utf-8")
			ctx.SetBodyString(o.ErrorBody)
			return
		}
		msg := o.ErrorMessage
		if msg == "" {
			msg = "an error was encountered while running the model"
		}
		o.fail(ctx, o.Status, msg)
		return
	}
	body := ctx.PostBody()
	if jsonscan.Validate(body) != nil {
		o.fail(ctx, 400, "invalid character in request body")
		return
	}
	model := ""
	if v := jsonscan.Get(body, "model"); jsonscan.KindOf(v) == jsonscan.String {
		s, _, _ := jsonscan.Unquote(v, nil)
		model = string(s)
	}
	if model == "" {
		o.fail(ctx, 400, "model is required")
		return
	}
	if len(o.Models) > 0 && !o.known(model) {
		o.fail(ctx, 404, `model "`+model+`" not found, try pulling it first`)
		return
	}
	stream := string(jsonscan.Get(body, "stream")) != "false"
	doneReason := o.DoneReason
	if doneReason == "" {
		doneReason = "stop"
	}
	words := splitWords(o.Reply)
	head := `{"model":` + goQuote(model) + `,"created_at":"` + ollamaCreatedAt + `","message":{"role":"assistant","content":`
	// The counts are omitempty in api.Metrics.
	counts := ""
	if o.PromptTokens > 0 {
		counts += `,"prompt_eval_count":` + strconv.Itoa(o.PromptTokens) + `,"prompt_eval_duration":342546000`
	}
	if len(words) > 0 {
		counts += `,"eval_count":` + strconv.Itoa(len(words)) + `,"eval_duration":4535599000`
	}
	final := func(content, extra string) string {
		return head + goQuote(content) + extra + `},"done_reason":"` + doneReason + `","done":true,"total_duration":4883583458,"load_duration":1334875` + counts + `}`
	}
	if !stream {
		extra := ""
		if o.Thinking != "" {
			extra += `,"thinking":` + goQuote(o.Thinking)
		}
		content := o.Reply
		if toolTurn {
			extra += `,"tool_calls":[` + o.toolCallJSON() + `]`
			content = ""
		}
		ctx.SetContentType("application/json; charset=utf-8")
		ctx.SetBodyString(final(content, extra))
		return
	}
	ctx.SetContentType("application/x-ndjson")
	srv := o.srv
	thinking := splitWords(o.Thinking)
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		if srv != nil {
			srv.Active.Add(1)
			defer srv.Active.Add(-1)
		}
		gone := func() {
			if srv != nil {
				srv.Closed.Add(1)
			}
		}
		send := func(line string) bool {
			if o.Pace > 0 {
				time.Sleep(o.Pace)
			}
			if _, err := w.WriteString(line + "\n"); err != nil {
				return false
			}
			return w.Flush() == nil
		}
		for _, t := range thinking {
			if !send(head + `"","thinking":` + goQuote(t) + `},"done":false}`) {
				gone()
				return
			}
		}
		for i, word := range words {
			if o.ErrorAfter > 0 && i >= o.ErrorAfter {
				msg := o.ErrorMessage
				if msg == "" {
					msg = "an error was encountered while running the model"
				}
				send(`{"error":` + goQuote(msg) + `}`)
				return
			}
			if o.StallAfter > 0 && i >= o.StallAfter {
				o.stall(w, gone)
				return
			}
			if !send(head + goQuote(word) + `},"done":false}`) {
				gone()
				return
			}
		}
		if toolTurn {
			if !send(head + `"","tool_calls":[` + o.toolCallJSON() + `]},"done":false}`) {
				gone()
				return
			}
		}
		if !send(final("", "")) {
			gone()
		}
	})
}

// stall holds the connection without sending anything the client could
// take for progress; a lone newline now and then is the only way to learn
// that the client closed it.
func (o *Ollama) stall(w *bufio.Writer, gone func()) {
	probe := o.StallProbe
	if probe <= 0 {
		probe = time.Second
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(probe)
		if _, err := w.WriteString("\n"); err != nil || w.Flush() != nil {
			gone()
			return
		}
	}
}

func (o *Ollama) known(model string) bool {
	for _, m := range o.Models {
		if m == model || strings.TrimSuffix(m, ":latest") == model {
			return true
		}
	}
	return false
}

// toolCallJSON is one api.ToolCall as Ollama encodes it: arguments is a
// map, so encoding/json writes its keys sorted.
func (o *Ollama) toolCallJSON() string {
	args := map[string]any{}
	if o.ToolArgs != "" {
		_ = json.Unmarshal([]byte(o.ToolArgs), &args)
	}
	a, _ := json.Marshal(args)
	return `{"function":{"name":` + goQuote(o.ToolCall) + `,"arguments":` + string(a) + `}}`
}

// splitWords splits s after each space, keeping the spaces, as a model's
// tokens would arrive.
func splitWords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.SplitAfter(s, " ")
}

// goQuote quotes s as encoding/json does (HTML-escaping included).
func goQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// embed answers POST /api/embed as Ollama does
// (https://github.com/ollama/ollama/blob/main/docs/api.md#generate-embeddings):
// one vector per input, {"model","embeddings":[[…]],"total_duration",
// "load_duration","prompt_eval_count"}. Vectors are deterministic: 4
// dimensions derived from each input's length, the first dimensions of
// them when the request sets dimensions.
func (o *Ollama) embed(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	model := jsonscan.Get(body, "model")
	in := jsonscan.Get(body, "input")
	var inputs [][]byte
	switch jsonscan.KindOf(in) {
	case jsonscan.String:
		inputs = append(inputs, in)
	case jsonscan.Array:
		_ = jsonscan.ArrayEach(in, func(_ int, e []byte) error { inputs = append(inputs, e); return nil })
	default:
		ctx.SetStatusCode(400)
		ctx.SetContentType("application/json; charset=utf-8")
		ctx.SetBodyString(`{"error":"invalid input type"}`)
		return
	}
	// dimensions truncates the vectors (api.EmbedRequest.Dimensions).
	dims := 0
	if d := jsonscan.Get(body, "dimensions"); d != nil {
		if v, err := jsonscan.ParseInt(d); err == nil {
			dims = int(v)
		}
	}
	var b strings.Builder
	b.WriteString(`{"model":`)
	b.Write(model)
	b.WriteString(`,"embeddings":[`)
	tokens := 0
	for i, s := range inputs {
		if i > 0 {
			b.WriteByte(',')
		}
		n := len(s) - 2
		tokens += (n + 3) / 4
		vec := []string{strconv.FormatFloat(float64(n)/100, 'f', -1, 64), "0.5", "-0.25", strconv.Itoa(i)}
		if dims > 0 && dims < len(vec) {
			vec = vec[:dims]
		}
		b.WriteString("[" + strings.Join(vec, ",") + "]")
	}
	b.WriteString(`],"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":` + strconv.Itoa(tokens) + `}`)
	ctx.SetContentType("application/json; charset=utf-8")
	ctx.SetBodyString(b.String())
}

func lastIsTool(body []byte) bool {
	last := ""
	_ = jsonscan.ArrayEach(jsonscan.Get(body, "messages"), func(_ int, m []byte) error {
		last = string(jsonscan.Get(m, "role"))
		return nil
	})
	return last == `"tool"`
}
