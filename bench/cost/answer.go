package cost

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Wire formats of a request.
const (
	FormatOpenAI    = "openai"
	FormatAnthropic = "anthropic"
)

// Answer is a model's answer, independent of the wire format.
type Answer struct {
	Text      string
	ToolCalls []ToolCall
	// Finish is "stop", "tool" or "length".
	Finish string
}

// ToolCall is one tool call of an answer; Args is canonical JSON.
type ToolCall struct {
	ID, Name, Args string
}

// answerWords is the fake model's vocabulary: mostly one token each with
// the leading space, like English prose about code.
var answerWords = strings.Fields(`the a to of and in is for that this it with on as be we can use
function file test error value return call change code line should will if not now type
handler request cache key model token update add remove fix check run build field method
struct config path read write new old first next then also here there when because so`)

// AnswerFor is the fake model: a deterministic function of the provider, the
// model and the request's meaning. With tools and the turn on the model, it
// calls a tool about two times in three; otherwise it writes text whose
// length depends on max_tokens (between a sixteenth and a fifth of it, in
// words), prefixed with the digest so that a wrong answer shows whose it is.
func AnswerFor(provider, model string, c *Conv, digest [32]byte) Answer {
	seed := sha256.Sum256(append([]byte(provider+"/"+model+"\x00"), digest[:]...))
	rng := rand.New(rand.NewPCG(
		uint64(seed[0])|uint64(seed[1])<<8|uint64(seed[2])<<16|uint64(seed[3])<<24|uint64(seed[4])<<32|uint64(seed[5])<<40|uint64(seed[6])<<48|uint64(seed[7])<<56,
		uint64(seed[8])|uint64(seed[9])<<8|uint64(seed[10])<<16|uint64(seed[11])<<24|uint64(seed[12])<<32|uint64(seed[13])<<40|uint64(seed[14])<<48|uint64(seed[15])<<56))
	lastUser := len(c.Items) == 0 || c.Items[len(c.Items)-1].Role == "user"
	if len(c.Tools) > 0 && lastUser && rng.IntN(3) < 2 {
		t := c.Tools[rng.IntN(len(c.Tools))]
		prefix := "call_"
		if provider == "anthropic" {
			prefix = "toolu_01"
		}
		args, _ := json.Marshal(map[string]string{"path": "src/" + answerWords[rng.IntN(len(answerWords))] + ".go", "reason": hex.EncodeToString(seed[16:20])})
		return Answer{ToolCalls: []ToolCall{{ID: prefix + hex.EncodeToString(seed[20:32]), Name: t.Name, Args: string(args)}}, Finish: "tool"}
	}
	mt := c.MaxTokens
	if mt <= 0 {
		mt = 1024
	}
	lo := max(4, mt/16)
	hi := max(lo+1, mt/5)
	n := lo + rng.IntN(hi-lo)
	var b strings.Builder
	b.WriteString("[" + hex.EncodeToString(digest[:6]) + "]")
	for i := 0; i < n; i++ {
		b.WriteByte(' ')
		b.WriteString(answerWords[rng.IntN(len(answerWords))])
		if rng.IntN(12) == 0 {
			b.WriteByte('.')
		}
	}
	return Answer{Text: b.String(), Finish: "stop"}
}

// OutputTokens counts an answer's tokens.
func (a Answer) OutputTokens(t *Tokenizer) int {
	n := t.Count(a.Text)
	for _, tc := range a.ToolCalls {
		n += t.Count(tc.Name) + t.Count(tc.Args) + 3
	}
	return n
}

// Diff describes how got differs from want ("" when equal). Tool-call
// arguments compare as JSON values.
func Diff(want, got Answer) string {
	var d []string
	if want.Finish != got.Finish {
		d = append(d, fmt.Sprintf("finish %q, want %q", got.Finish, want.Finish))
	}
	if want.Text != got.Text {
		d = append(d, fmt.Sprintf("text %q, want %q", clip(got.Text), clip(want.Text)))
	}
	if len(want.ToolCalls) != len(got.ToolCalls) {
		d = append(d, fmt.Sprintf("%d tool calls, want %d", len(got.ToolCalls), len(want.ToolCalls)))
	} else {
		for i, w := range want.ToolCalls {
			g := got.ToolCalls[i]
			ga, _ := canonicalJSON([]byte(g.Args))
			wa, _ := canonicalJSON([]byte(w.Args))
			if g.ID != w.ID || g.Name != w.Name || ga != wa {
				d = append(d, fmt.Sprintf("tool call %d %s %s(%s), want %s %s(%s)", i, g.ID, g.Name, g.Args, w.ID, w.Name, w.Args))
			}
		}
	}
	return strings.Join(d, "; ")
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ParseOpenAIAnswer reads a chat.completion body, or an SSE stream of
// chat.completion.chunk events, into an Answer and its usage.
func ParseOpenAIAnswer(body []byte, stream bool) (Answer, *OpenAIUsage, error) {
	if stream {
		return parseOpenAIStream(body)
	}
	var r struct {
		Choices []struct {
			Message struct {
				Content   *string      `json:"content"`
				ToolCalls []oaToolCall `json:"tool_calls"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage *OpenAIUsage `json:"usage"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Answer{}, nil, err
	}
	if len(r.Choices) != 1 {
		return Answer{}, nil, fmt.Errorf("%d choices", len(r.Choices))
	}
	ch := r.Choices[0]
	a := Answer{Finish: openAIFinish(ch.FinishReason)}
	if ch.Message.Content != nil {
		a.Text = *ch.Message.Content
	}
	for _, tc := range ch.Message.ToolCalls {
		a.ToolCalls = append(a.ToolCalls, ToolCall{ID: tc.ID, Name: tc.Function.Name, Args: tc.Function.Arguments})
	}
	return a, r.Usage, nil
}

func openAIFinish(s string) string {
	switch s {
	case "tool_calls", "function_call":
		return "tool"
	case "stop", "length":
		return s
	}
	return "other:" + s
}

// OpenAIUsage is the usage object of a Chat Completions answer.
type OpenAIUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func parseOpenAIStream(body []byte) (Answer, *OpenAIUsage, error) {
	var a Answer
	var usage *OpenAIUsage
	var text strings.Builder
	done := false
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("data:")) {
			continue
		}
		data := bytes.TrimSpace(line[5:])
		if string(data) == "[DONE]" {
			done = true
			continue
		}
		var ch struct {
			Choices []struct {
				Delta struct {
					Content   *string `json:"content"`
					ToolCalls []struct {
						Index    int    `json:"index"`
						ID       string `json:"id"`
						Function struct {
							Name      string `json:"name"`
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *OpenAIUsage `json:"usage"`
			Error json.RawMessage
		}
		if err := json.Unmarshal(data, &ch); err != nil {
			return a, nil, fmt.Errorf("stream chunk: %w", err)
		}
		if len(ch.Error) > 0 {
			return a, nil, fmt.Errorf("stream error event: %s", ch.Error)
		}
		if ch.Usage != nil {
			usage = ch.Usage
		}
		for _, c := range ch.Choices {
			if c.Delta.Content != nil {
				text.WriteString(*c.Delta.Content)
			}
			for _, tc := range c.Delta.ToolCalls {
				for len(a.ToolCalls) <= tc.Index {
					a.ToolCalls = append(a.ToolCalls, ToolCall{})
				}
				t := &a.ToolCalls[tc.Index]
				if tc.ID != "" {
					t.ID = tc.ID
				}
				if tc.Function.Name != "" {
					t.Name = tc.Function.Name
				}
				t.Args += tc.Function.Arguments
			}
			if c.FinishReason != nil && *c.FinishReason != "" {
				a.Finish = openAIFinish(*c.FinishReason)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return a, nil, err
	}
	if !done {
		return a, nil, fmt.Errorf("stream ended without [DONE]")
	}
	a.Text = text.String()
	return a, usage, nil
}

// ParseAnthropicAnswer reads a Messages API response body.
func ParseAnthropicAnswer(body []byte) (Answer, error) {
	var r struct {
		Content    []anBlock `json:"content"`
		StopReason string    `json:"stop_reason"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Answer{}, err
	}
	var a Answer
	var text []string
	for _, b := range r.Content {
		switch b.Type {
		case "text":
			text = append(text, b.Text)
		case "tool_use":
			a.ToolCalls = append(a.ToolCalls, ToolCall{ID: b.ID, Name: b.Name, Args: string(b.Input)})
		}
	}
	a.Text = strings.Join(text, "")
	switch r.StopReason {
	case "end_turn", "stop_sequence":
		a.Finish = "stop"
	case "tool_use":
		a.Finish = "tool"
	case "max_tokens":
		a.Finish = "length"
	default:
		a.Finish = "other:" + r.StopReason
	}
	return a, nil
}
