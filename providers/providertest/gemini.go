package providertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// Gemini is a fake Gemini API upstream. Its answers follow
// https://ai.google.dev/api/generate-content (GenerateContentResponse,
// pretty-printed as the real API sends it; streams as "data: {…}\r\n\r\n"
// events of compact GenerateContentResponse chunks, every one carrying
// usageMetadata, modelVersion and responseId, the last one the finishReason),
// https://ai.google.dev/gemini-api/docs/function-calling (functionCall parts
// with args objects, thoughtSignature beside them) and
// https://ai.google.dev/api/embeddings#method:-models.batchembedcontents.
//
// It plays both halves of a tool-use turn: when ToolCall is set and the last
// content holds no functionResponse part, it calls the tool; otherwise it
// answers with Reply.
type Gemini struct {
	// Reply is the model's text; streams send it one word per chunk.
	Reply string
	// Thought, when set, is a thought part (thought: true) before the answer.
	Thought string
	// ToolCall, when set, makes the first turn a functionCall with ToolArgs
	// (a JSON object) after a text part holding ToolText when that is set.
	ToolCall  string
	ToolArgs  string
	ToolText  string
	Signature string // thoughtSignature sent with the functionCall
	// FinishReason overrides the final finishReason (e.g. "MAX_TOKENS").
	FinishReason string
	// APIKey, when set, must arrive in x-goog-api-key or the answer is
	// Gemini's 400 API_KEY_INVALID.
	APIKey string
	// Pace is the delay between stream chunks; Delay is waited before the
	// response headers.
	Pace, Delay time.Duration
	// Status, when not 0 or 200, makes every answer an error with this
	// status and ErrorBody (default: Gemini's error envelope).
	Status    int
	ErrorBody string
	// ErrorAfter, when > 0, sends an {"error":…} chunk after that many text
	// chunks and ends the stream.
	ErrorAfter int
	// StallAfter, when > 0, stops after that many text chunks and holds the
	// connection open until the client goes away.
	StallAfter int
	// PromptTokens, CachedTokens and ThoughtsTokens are reported in usage.
	PromptTokens, CachedTokens, ThoughtsTokens int
	// Dimensions is the length of every embedding (default 4).
	Dimensions int

	srv *Server
	n   atomic.Int64
}

// StartGemini starts the fake on loopback.
func StartGemini(g *Gemini) (*Server, error) {
	s, err := Start(g.handle)
	g.srv = s
	return s, err
}

// GeminiErrorBody is the error envelope Gemini sends for status.
func GeminiErrorBody(status int) string {
	code, msg := "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	switch status {
	case 400:
		code, msg = "INVALID_ARGUMENT", "Request contains an invalid argument."
	case 403:
		code, msg = "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
	case 404:
		code, msg = "NOT_FOUND", "models/gemini-nonexistent is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."
	case 429:
		code, msg = "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
	case 503:
		code, msg = "UNAVAILABLE", "The model is overloaded. Please try again later."
	case 504:
		code, msg = "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."
	}
	return "{\n  \"error\": {\n    \"code\": " + strconv.Itoa(status) + ",\n    \"message\": " + quote(msg) + ",\n    \"status\": \"" + code + "\"\n  }\n}\n"
}

const geminiKeyInvalid = `{
  "error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {
          "service": "generativelanguage.googleapis.com"
        }
      }
    ]
  }
}
`

func (g *Gemini) handle(ctx *fasthttp.RequestCtx) {
	fail := func(status int, body string) {
		ctx.SetStatusCode(status)
		ctx.SetContentType("application/json; charset=UTF-8")
		ctx.SetBodyString(body)
	}
	path := string(ctx.Path())
	rest, ok := strings.CutPrefix(path, "/v1beta/models/")
	model, method, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || model == "" {
		fail(404, GeminiErrorBody(404))
		return
	}
	if g.APIKey != "" && string(ctx.Request.Header.Peek("x-goog-api-key")) != g.APIKey {
		fail(400, geminiKeyInvalid)
		return
	}
	if g.Delay > 0 {
		time.Sleep(g.Delay)
	}
	if g.Status != 0 && g.Status != 200 {
		body := g.ErrorBody
		if body == "" {
			body = GeminiErrorBody(g.Status)
		}
		fail(g.Status, body)
		return
	}
	body := ctx.PostBody()
	if jsonscan.Validate(body) != nil {
		fail(400, GeminiErrorBody(400))
		return
	}
	switch method {
	case "generateContent", "streamGenerateContent":
	case "batchEmbedContents":
		g.embed(ctx, body)
		return
	default:
		fail(404, GeminiErrorBody(404))
		return
	}
	contents := jsonscan.Get(body, "contents")
	if jsonscan.KindOf(contents) != jsonscan.Array {
		fail(400, GeminiErrorBody(400))
		return
	}
	stream := method == "streamGenerateContent"
	if stream && string(ctx.QueryArgs().Peek("alt")) != "sse" {
		// Without alt=sse the real API streams a JSON array; the gateway
		// never asks for that.
		fail(400, GeminiErrorBody(400))
		return
	}
	responseID := "mF3VZ9reJ4Ktz7IPpO6vsA" + strconv.FormatInt(g.n.Add(1), 10)
	toolTurn := g.ToolCall != "" && !lastContentHasFunctionResponse(contents)
	finish := "STOP"
	if g.FinishReason != "" {
		finish = g.FinishReason
	}
	words := strings.SplitAfter(g.Reply, " ")
	candTokens := len(words)
	if toolTurn {
		candTokens = 10
	}
	usage := func(final bool) string {
		u := `{"promptTokenCount":` + strconv.Itoa(g.PromptTokens)
		if final {
			u += `,"candidatesTokenCount":` + strconv.Itoa(candTokens)
		}
		total := g.PromptTokens
		if final {
			total += candTokens + g.ThoughtsTokens
		}
		u += `,"totalTokenCount":` + strconv.Itoa(total)
		if g.CachedTokens > 0 {
			u += `,"cachedContentTokenCount":` + strconv.Itoa(g.CachedTokens)
		}
		u += `,"promptTokensDetails":[{"modality":"TEXT","tokenCount":` + strconv.Itoa(g.PromptTokens) + `}]`
		if final && g.ThoughtsTokens > 0 {
			u += `,"thoughtsTokenCount":` + strconv.Itoa(g.ThoughtsTokens)
		}
		return u + "}"
	}
	callPart := func() string {
		p := `{"functionCall":{"name":` + quote(g.ToolCall) + `,"args":` + g.ToolArgs + `}`
		if g.Signature != "" {
			p += `,"thoughtSignature":"` + g.Signature + `"`
		}
		return p + "}"
	}
	thoughtPart := `{"text":` + quote(g.Thought) + `,"thought":true}`
	tail := `,"modelVersion":"` + model + `","responseId":"` + responseID + `"}`
	if !stream {
		var parts []string
		if g.Thought != "" {
			parts = append(parts, thoughtPart)
		}
		if toolTurn {
			if g.ToolText != "" {
				parts = append(parts, `{"text":`+quote(g.ToolText)+`}`)
			}
			parts = append(parts, callPart())
		} else {
			parts = append(parts, `{"text":`+quote(g.Reply)+`}`)
		}
		compact := `{"candidates":[{"content":{"parts":[` + strings.Join(parts, ",") + `],"role":"model"},"finishReason":"` + finish +
			`","avgLogprobs":-0.0123}],"usageMetadata":` + usage(true) + tail
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, []byte(compact), "", "  "); err != nil {
			fail(500, GeminiErrorBody(500))
			return
		}
		pretty.WriteByte('\n')
		ctx.SetContentType("application/json; charset=UTF-8")
		ctx.SetBody(pretty.Bytes())
		return
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Content-Disposition", "attachment")
	srv := g.srv
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		if srv != nil {
			srv.Active.Add(1)
			defer srv.Active.Add(-1)
		}
		ok := true
		send := func(parts string, fin bool) bool {
			if !ok {
				return false
			}
			if g.Pace > 0 {
				time.Sleep(g.Pace)
			}
			c := `{"candidates":[{"content":{"parts":[` + parts + `],"role":"model"}`
			if fin {
				c += `,"finishReason":"` + finish + `"`
			}
			c += `}],"usageMetadata":` + usage(fin) + tail
			if _, err := w.WriteString("data: " + c + "\r\n\r\n"); err != nil || w.Flush() != nil {
				ok = false
				if srv != nil {
					srv.Closed.Add(1)
				}
			}
			return ok
		}
		if g.Thought != "" {
			send(thoughtPart, false)
		}
		if toolTurn {
			parts := callPart()
			if g.ToolText != "" {
				parts = `{"text":` + quote(g.ToolText) + `},` + parts
			}
			send(parts, true)
			return
		}
		for i, word := range words {
			if g.ErrorAfter > 0 && i >= g.ErrorAfter {
				_, _ = w.WriteString("data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded. Please try again later.\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n")
				_ = w.Flush()
				return
			}
			if g.StallAfter > 0 && i >= g.StallAfter {
				for range 600 {
					time.Sleep(50 * time.Millisecond)
					if _, err := w.WriteString("\r\n"); err != nil || w.Flush() != nil {
						if srv != nil {
							srv.Closed.Add(1)
						}
						return
					}
				}
				return
			}
			if !send(`{"text":`+quote(word)+`}`, i == len(words)-1) {
				return
			}
		}
	})
}

func (g *Gemini) embed(ctx *fasthttp.RequestCtx, body []byte) {
	reqs := jsonscan.Get(body, "requests")
	if jsonscan.KindOf(reqs) != jsonscan.Array {
		ctx.SetStatusCode(400)
		ctx.SetBodyString(GeminiErrorBody(400))
		return
	}
	var out []string
	_ = jsonscan.ArrayEach(reqs, func(i int, r []byte) error {
		dim := g.Dimensions
		if dim <= 0 {
			dim = 4
		}
		if d := jsonscan.Get(r, "outputDimensionality"); d != nil {
			if n, err := jsonscan.ParseInt(d); err == nil && n > 0 {
				dim = int(n)
			}
		}
		vals := make([]string, dim)
		for j := range vals {
			vals[j] = strconv.FormatFloat(float64(i+1)*0.01+float64(j)*0.001, 'f', -1, 64)
		}
		out = append(out, "{\n      \"values\": [\n        "+strings.Join(vals, ",\n        ")+"\n      ]\n    }")
		return nil
	})
	ctx.SetContentType("application/json; charset=UTF-8")
	ctx.SetBodyString("{\n  \"embeddings\": [\n    " + strings.Join(out, ",\n    ") + "\n  ]\n}\n")
}

// lastContentHasFunctionResponse reports whether the last entry of a Gemini
// contents array carries a functionResponse part.
func lastContentHasFunctionResponse(contents []byte) bool {
	var last []byte
	_ = jsonscan.ArrayEach(contents, func(_ int, c []byte) error {
		last = c
		return nil
	})
	found := false
	if parts := jsonscan.Get(last, "parts"); jsonscan.KindOf(parts) == jsonscan.Array {
		_ = jsonscan.ArrayEach(parts, func(_ int, p []byte) error {
			found = found || jsonscan.Get(p, "functionResponse") != nil
			return nil
		})
	}
	return found
}
