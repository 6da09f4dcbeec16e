package cost

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"
)

// The Gemini API's generateContent request and response, as far as the
// trace uses them: https://ai.google.dev/api/generate-content (request:
// contents of parts — text, functionCall, functionResponse —,
// systemInstruction, tools[].functionDeclarations, generationConfig;
// response: candidates[].content.parts, finishReason, usageMetadata with
// promptTokenCount (cached tokens included), cachedContentTokenCount,
// candidatesTokenCount, totalTokenCount). Streams are
// :streamGenerateContent?alt=sse, one GenerateContentResponse per event.

// FormatGemini is a generateContent body (what the Gemini fake receives).
const FormatGemini = "gemini"

type gmPart struct {
	Text         *string `json:"text,omitempty"`
	FunctionCall *struct {
		ID   string          `json:"id,omitempty"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall,omitempty"`
	FunctionResponse *struct {
		ID       string          `json:"id,omitempty"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse,omitempty"`
}

type gmContent struct {
	Role  string   `json:"role"`
	Parts []gmPart `json:"parts"`
}

type gmRequest struct {
	Contents          []gmContent `json:"contents"`
	SystemInstruction *gmContent  `json:"systemInstruction"`
	Tools             []struct {
		FunctionDeclarations []struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	GenerationConfig struct {
		MaxOutputTokens *int     `json:"maxOutputTokens"`
		Temperature     *float64 `json:"temperature"`
	} `json:"generationConfig"`
}

// gmResponseText is a functionResponse's text: the "output" member when it
// is the only one (what a text tool result becomes), else the canonical JSON.
func gmResponseText(raw json.RawMessage) string {
	var o map[string]json.RawMessage
	if json.Unmarshal(raw, &o) == nil && len(o) == 1 {
		var s string
		if v, ok := o["output"]; ok && json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	s, _ := canonicalJSON(raw)
	return s
}

// ConvFromGemini reads a generateContent body. Gemini carries no tool call
// ids (what the model sees), so its Conv has none: compare it with
// WithoutIDs of the client's.
func ConvFromGemini(body []byte) (*Conv, error) {
	var r gmRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("generateContent request: %w", err)
	}
	c := &Conv{Temperature: tempString(r.GenerationConfig.Temperature)}
	if r.GenerationConfig.MaxOutputTokens != nil {
		c.MaxTokens = *r.GenerationConfig.MaxOutputTokens
	}
	for _, t := range r.Tools {
		for _, f := range t.FunctionDeclarations {
			s, err := canonicalJSON(f.Parameters)
			if err != nil {
				return nil, fmt.Errorf("function %s: %w", f.Name, err)
			}
			c.Tools = append(c.Tools, Tool{Name: f.Name, Description: f.Description, Schema: s})
		}
	}
	if r.SystemInstruction != nil {
		var sys []string
		for _, p := range r.SystemInstruction.Parts {
			if p.Text != nil {
				sys = append(sys, *p.Text)
			}
		}
		c.System = strings.Join(sys, "\n\n")
	}
	for i, m := range r.Contents {
		role := "user"
		switch m.Role {
		case "model":
			role = "assistant"
		case "user", "":
		default:
			return nil, fmt.Errorf("contents[%d]: unknown role %q", i, m.Role)
		}
		for _, p := range m.Parts {
			switch {
			case p.Text != nil:
				c.Items = append(c.Items, Item{Role: role, Kind: "text", Text: *p.Text})
			case p.FunctionCall != nil:
				in, err := canonicalJSON(p.FunctionCall.Args)
				if err != nil {
					return nil, err
				}
				if in == "" {
					in = "{}"
				}
				c.Items = append(c.Items, Item{Role: "assistant", Kind: "tool_use", Name: p.FunctionCall.Name, Text: in})
			case p.FunctionResponse != nil:
				c.Items = append(c.Items, Item{Role: "user", Kind: "tool_result", Text: gmResponseText(p.FunctionResponse.Response)})
			}
		}
	}
	return c, nil
}

// WithoutIDs returns the Conv without tool call ids: what a model that is
// not shown them (Gemini) reads.
func (c *Conv) WithoutIDs() *Conv {
	out := *c
	out.Items = make([]Item, len(c.Items))
	for i, it := range c.Items {
		it.ID = ""
		out.Items[i] = it
	}
	return &out
}

// GeminiSegments renders a generateContent request as the model's token
// sequence, one segment per part: the function declarations, the system
// instruction, then each content's role framing and parts.
func GeminiSegments(t *Tokenizer, r *gmRequest) [][]int {
	var segs [][]int
	var b strings.Builder
	for _, tl := range r.Tools {
		for _, f := range tl.FunctionDeclarations {
			schema, _ := canonicalJSON(f.Parameters)
			b.WriteString(f.Name + "\n" + f.Description + "\n" + schema + "\n")
		}
	}
	if b.Len() > 0 {
		segs = append(segs, []int{tokTools}, t.Encode(b.String()))
	}
	if r.SystemInstruction != nil {
		segs = append(segs, []int{roleToken("system"), tokSep})
		for _, p := range r.SystemInstruction.Parts {
			if p.Text != nil {
				segs = append(segs, t.Encode(*p.Text))
			}
		}
		segs = append(segs, []int{tokEnd})
	}
	for _, m := range r.Contents {
		role := "user"
		if m.Role == "model" {
			role = "assistant"
		}
		segs = append(segs, []int{roleToken(role), tokSep})
		for _, p := range m.Parts {
			switch {
			case p.Text != nil:
				segs = append(segs, t.Encode(*p.Text))
			case p.FunctionCall != nil:
				args, _ := canonicalJSON(p.FunctionCall.Args)
				segs = append(segs, t.Encode(p.FunctionCall.Name), t.Encode(args))
			case p.FunctionResponse != nil:
				segs = append(segs, t.Encode(p.FunctionResponse.Name), t.Encode(gmResponseText(p.FunctionResponse.Response)))
			}
		}
		segs = append(segs, []int{tokEnd})
	}
	return segs
}

func (u *Upstreams) handleGemini(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	const pre = "/v1beta/models/"
	model, method, ok := strings.Cut(strings.TrimPrefix(path, pre), ":")
	if !strings.HasPrefix(path, pre) || !ok || (method != "generateContent" && method != "streamGenerateContent") {
		fail(ctx, 404, `{"error":{"code":404,"message":"Method not found.","status":"NOT_FOUND"}}`)
		return
	}
	if len(ctx.Request.Header.Peek("x-goog-api-key")) == 0 {
		fail(ctx, 403, `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`)
		return
	}
	stream := method == "streamGenerateContent"
	if stream && string(ctx.QueryArgs().Peek("alt")) != "sse" {
		fail(ctx, 400, `{"error":{"code":400,"message":"costbench fake: streams need alt=sse","status":"INVALID_ARGUMENT"}}`)
		return
	}
	body := ctx.PostBody()
	now, seq := u.clock()
	var r gmRequest
	err := json.Unmarshal(body, &r)
	var conv *Conv
	if err == nil {
		conv, err = ConvFromGemini(body)
	}
	if err == nil && len(r.Contents) == 0 {
		err = errorString("* GenerateContentRequest.contents: contents is not specified")
	}
	if err != nil {
		u.record(Call{Provider: "gemini", Model: model, Status: 400, Err: err.Error()}, body)
		fail(ctx, 400, `{"error":{"code":400,"message":`+strconv.Quote(err.Error())+`,"status":"INVALID_ARGUMENT"}}`)
		return
	}
	n := conv.Normalized()
	digest := n.Digest()
	segs := GeminiSegments(u.Tok, &r)
	prompt := 0
	for _, s := range segs {
		prompt += len(s)
	}
	cached := u.Gemini.Process(model, now, segs)
	a := AnswerFor("gemini", model, n, digest)
	out := a.OutputTokens(u.Tok)
	u.record(Call{Provider: "gemini", Model: model, Stream: stream, Digest: digest, PromptTokens: prompt, CachedTokens: cached, OutputTokens: out, Answer: a, Status: 200}, body)
	usage := map[string]any{"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out,
		"promptTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": prompt}}}
	if cached > 0 {
		// Present only on a hit, as the API does.
		usage["cachedContentTokenCount"] = cached
		usage["cacheTokensDetails"] = []any{map[string]any{"modality": "TEXT", "tokenCount": cached}}
	}
	var parts []any
	if a.Text != "" {
		parts = append(parts, map[string]any{"text": a.Text})
	}
	for _, tc := range a.ToolCalls {
		parts = append(parts, map[string]any{"functionCall": map[string]any{"id": tc.ID, "name": tc.Name, "args": json.RawMessage(tc.Args)}})
	}
	resp := func(ps []any, finish string, withUsage bool) []byte {
		cand := map[string]any{"content": map[string]any{"role": "model", "parts": ps}, "index": 0}
		if finish != "" {
			cand["finishReason"] = finish
		}
		m := map[string]any{"candidates": []any{cand}, "modelVersion": model, "responseId": "costbench-" + strconv.Itoa(seq)}
		if withUsage {
			m["usageMetadata"] = usage
		}
		b, _ := json.Marshal(m)
		return b
	}
	if !stream {
		ctx.SetContentType("application/json; charset=UTF-8")
		ctx.SetBody(resp(parts, "STOP", true))
		return
	}
	var sse bytes.Buffer
	emit := func(b []byte) {
		sse.WriteString("data: ")
		sse.Write(b)
		sse.WriteString("\r\n\r\n")
	}
	if a.Text != "" {
		pieces := splitWords(a.Text, 24)
		for i, p := range pieces {
			last := i == len(pieces)-1 && len(a.ToolCalls) == 0
			fin := ""
			if last {
				fin = "STOP"
			}
			emit(resp([]any{map[string]any{"text": p}}, fin, true))
		}
	}
	if len(a.ToolCalls) > 0 {
		emit(resp(parts[len(parts)-len(a.ToolCalls):], "STOP", true))
	}
	ctx.SetContentType("text/event-stream")
	ctx.SetBody(sse.Bytes())
}

// ToGemini translates a Chat Completions request into the generateContent
// request a client without the gateway sends to Gemini for the same
// conversation: system messages become systemInstruction parts, tool calls
// functionCall parts (with a signature-skipping marker Google documents
// for calls it did not sign), tool messages functionResponse parts
// ({"output": text}) in a user turn, consecutive same-role messages one
// content; max_tokens and temperature go in generationConfig.
func ToGemini(body []byte) ([]byte, error) {
	var r oaRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	var contents []map[string]any
	add := func(role string, p map[string]any) {
		if n := len(contents); n > 0 && contents[n-1]["role"] == role {
			contents[n-1]["parts"] = append(contents[n-1]["parts"].([]any), p)
			return
		}
		contents = append(contents, map[string]any{"role": role, "parts": []any{p}})
	}
	names := map[string]string{}
	var system []any
	for i, m := range r.Messages {
		texts, _, err := oaContent(m.Content)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		text := strings.Join(texts, "\n")
		switch m.Role {
		case "system", "developer":
			system = append(system, map[string]any{"text": text})
		case "user":
			if text != "" {
				add("user", map[string]any{"text": text})
			}
		case "assistant":
			if text != "" {
				add("model", map[string]any{"text": text})
			}
			for _, tc := range m.ToolCalls {
				args := tc.Function.Arguments
				if strings.TrimSpace(args) == "" {
					args = "{}"
				}
				names[tc.ID] = tc.Function.Name
				add("model", map[string]any{"functionCall": map[string]any{"name": tc.Function.Name, "args": json.RawMessage(args)}, "thoughtSignature": "skip_thought_signature_validator"})
			}
		case "tool", "function":
			add("user", map[string]any{"functionResponse": map[string]any{"name": names[m.ToolCallID], "response": map[string]any{"output": text}}})
		}
	}
	out := map[string]any{"contents": contents}
	if len(system) > 0 {
		out["systemInstruction"] = map[string]any{"parts": system}
	}
	if len(r.Tools) > 0 {
		var fs []map[string]any
		for _, t := range r.Tools {
			fs = append(fs, map[string]any{"name": t.Function.Name, "description": t.Function.Description, "parameters": t.Function.Parameters})
		}
		out["tools"] = []any{map[string]any{"functionDeclarations": fs}}
	}
	gc := map[string]any{}
	if r.MaxCompletionTokens != nil {
		gc["maxOutputTokens"] = *r.MaxCompletionTokens
	} else if r.MaxTokens != nil {
		gc["maxOutputTokens"] = *r.MaxTokens
	}
	if r.Temperature != nil {
		gc["temperature"] = *r.Temperature
	}
	if len(gc) > 0 {
		out["generationConfig"] = gc
	}
	return marshal(out), nil
}

// ParseGeminiAnswer reads a generateContent response, or an SSE stream of
// them.
func ParseGeminiAnswer(body []byte, stream bool) (Answer, error) {
	var a Answer
	var finish string
	read := func(b []byte) error {
		var r struct {
			Candidates []struct {
				Content      gmContent `json:"content"`
				FinishReason string    `json:"finishReason"`
			} `json:"candidates"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		for _, c := range r.Candidates {
			for _, p := range c.Content.Parts {
				switch {
				case p.Text != nil:
					a.Text += *p.Text
				case p.FunctionCall != nil:
					args, _ := canonicalJSON(p.FunctionCall.Args)
					a.ToolCalls = append(a.ToolCalls, ToolCall{ID: p.FunctionCall.ID, Name: p.FunctionCall.Name, Args: args})
				}
			}
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
		}
		return nil
	}
	if !stream {
		if err := read(body); err != nil {
			return a, err
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if d, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				if err := read(d); err != nil {
					return a, err
				}
			}
		}
	}
	switch {
	case len(a.ToolCalls) > 0:
		a.Finish = "tool"
	case finish == "MAX_TOKENS":
		a.Finish = "length"
	default:
		a.Finish = "stop"
	}
	return a, nil
}
