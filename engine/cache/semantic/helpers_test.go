package semantic

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/providers"
	"github.com/redis/go-redis/v9"
)

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// TestMain silences go-redis's own logging: the outage tests make it print
// a line per failed dial.
func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

// msg is one chat message for chatReq.
type msg struct {
	Role       string `json:"role"`
	Content    any    `json:"content,omitempty"`
	ToolCallID string `json:"tool_call_id,omitempty"`
	Name       string `json:"name,omitempty"`
}

// chatReq decodes an OpenAI chat request built from messages and extra
// top-level members.
func chatReq(t testing.TB, msgs []msg, extra map[string]any) *providers.Request {
	t.Helper()
	body := map[string]any{"model": "gpt-4o", "temperature": 0, "messages": msgs}
	for k, v := range extra {
		body[k] = v
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r := new(providers.Request)
	if err := r.Decode(b); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return r
}

// turn is a request whose final user turn is text, after the given system
// prompt (none when "").
func turn(t testing.TB, system, text string) *providers.Request {
	var msgs []msg
	if system != "" {
		msgs = append(msgs, msg{Role: "system", Content: system})
	}
	return chatReq(t, append(msgs, msg{Role: "user", Content: text}), nil)
}

// answer is a complete chat.completion entry with the given content.
func answer(t testing.TB, content string) *cache.Entry {
	t.Helper()
	b, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": content}}},
		"usage": map[string]any{"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46},
	})
	e, err := cache.ParseCompletion(b, "gpt-4o")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newTestCache(t testing.TB, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// b64floats is the base64 encoding_format of an OpenAI embedding.
func b64floats(v []float32) string {
	b := make([]byte, 0, 4*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}
