package gemini

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// completion is the part of an OpenAI answer the tests look at, from a
// chat.completion body or accumulated from chunks.
type completion struct {
	ID        string
	Content   string
	Reasoning string
	Calls     []toolCall
	Finish    string
	Usage     *struct {
		Prompt     int `json:"prompt_tokens"`
		Completion int `json:"completion_tokens"`
		Details    struct {
			Cached int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	}
	Error string
	Done  bool
}

type toolCall struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Fn   struct {
		Name string `json:"name"`
		Args string `json:"arguments"`
	} `json:"function"`
}

type chunkJSON struct {
	ID      string `json:"id"`
	Choices []struct {
		Delta struct {
			Content   *string `json:"content"`
			Reasoning string  `json:"reasoning_content"`
			ToolCalls []struct {
				Index int `json:"index"`
				toolCall
			} `json:"tool_calls"`
		} `json:"delta"`
		Message struct {
			Content   *string    `json:"content"`
			Reasoning string     `json:"reasoning_content"`
			ToolCalls []toolCall `json:"tool_calls"`
		} `json:"message"`
		Finish *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		Prompt     int `json:"prompt_tokens"`
		Completion int `json:"completion_tokens"`
		Details    struct {
			Cached int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

func parseCompletion(t testing.TB, body []byte) completion {
	t.Helper()
	var c chunkJSON
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := completion{ID: c.ID, Usage: c.Usage}
	if len(c.Choices) != 1 {
		t.Fatalf("want one choice: %s", body)
	}
	m := c.Choices[0].Message
	if m.Content != nil {
		out.Content = *m.Content
	}
	out.Reasoning, out.Calls = m.Reasoning, m.ToolCalls
	if c.Choices[0].Finish != nil {
		out.Finish = *c.Choices[0].Finish
	}
	return out
}

// accumulate reads a stream to its end and folds its chunks.
func accumulate(t testing.TB, s providers.Stream) completion {
	t.Helper()
	var out completion
	var raw []byte
	for range 100000 {
		b, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	for _, ev := range strings.Split(string(raw), "\n\n") {
		d, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			continue
		}
		if d == "[DONE]" {
			out.Done = true
			continue
		}
		var c chunkJSON
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("%v: %s", err, d)
		}
		if c.Error != nil {
			out.Error = c.Error.Message
			continue
		}
		out.ID = c.ID
		if c.Usage != nil {
			out.Usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				out.Content += *ch.Delta.Content
			}
			out.Reasoning += ch.Delta.Reasoning
			for _, tc := range ch.Delta.ToolCalls {
				for len(out.Calls) <= tc.Index {
					out.Calls = append(out.Calls, toolCall{})
				}
				c := &out.Calls[tc.Index]
				if tc.ID != "" {
					c.ID, c.Type, c.Fn.Name = tc.ID, tc.Type, tc.Fn.Name
				}
				c.Fn.Args += tc.Fn.Args
			}
			if ch.Finish != nil {
				out.Finish = *ch.Finish
			}
		}
	}
	return out
}
