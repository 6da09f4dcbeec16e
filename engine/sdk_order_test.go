package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// messagesFirst is an HTTP transport that re-orders a JSON request body so
// that "messages" leads and "model" comes last, as the OpenAI Python SDK
// and many hand-written clients send it.
type messagesFirst struct{ seen []byte }

func (t *messagesFirst) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		b = reorderMembers(b, "messages", "model")
		t.seen = b
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return http.DefaultTransport.RoundTrip(r)
}

// member is one top-level member of a JSON object, its value's bytes as
// they were.
type member struct {
	key string
	val json.RawMessage
}

// topMembers returns the top-level members of a JSON object, in order.
func topMembers(b []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object (%v)", err)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{tok.(string), v})
	}
	return out, nil
}

// reorderMembers moves first to the front and last to the end of a JSON
// object, keeping every member's bytes.
func reorderMembers(b []byte, first, last string) []byte {
	ms, err := topMembers(b)
	if err != nil {
		return b
	}
	var head, mid, tail []member
	for _, m := range ms {
		switch m.key {
		case first:
			head = append(head, m)
		case last:
			tail = append(tail, m)
		default:
			mid = append(mid, m)
		}
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for i, m := range append(append(head, mid...), tail...) {
		if i > 0 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(m.val)
	}
	out.WriteByte('}')
	return out.Bytes()
}

// The official Go SDK's request, re-ordered messages-first on the wire,
// through every default request edit (stripper, dedup, a skill).
func TestSDKMessagesFirstThroughEdits(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	tr := &messagesFirst{}
	c := g.client(option.WithHTTPClient(&http.Client{Transport: tr}), option.WithHeader("X-Gateway-Skill", "code-review"))
	for _, stream := range []bool{false, true} {
		params := openai.ChatCompletionNewParams{
			Model: "mock/echo",
			Messages: []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage("You are Continue.\n<|im_end|>You are a helpful assistant."),
				openai.UserMessage("func add(a, b int) int { return a - b }"),
			},
			Temperature: openai.Float(0),
		}
		if !stream {
			resp, err := c.Chat.Completions.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Model != "echo" || resp.Choices[0].Message.Content != "func add(a, b int) int { return a - b }" {
				t.Fatalf("model %q answer %q", resp.Model, resp.Choices[0].Message.Content)
			}
		} else {
			s := c.Chat.Completions.NewStreaming(context.Background(), params)
			var text strings.Builder
			for s.Next() {
				for _, ch := range s.Current().Choices {
					text.WriteString(ch.Delta.Content)
				}
			}
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if text.String() != "func add(a, b int) int { return a - b }" {
				t.Fatalf("streamed %q", text.String())
			}
		}
		if !bytes.HasPrefix(tr.seen, []byte(`{"messages":`)) || !bytes.Contains(tr.seen, []byte(`"model":"mock/echo"}`)) {
			t.Fatalf("the transport did not re-order the body: %s", tr.seen)
		}
	}
}
