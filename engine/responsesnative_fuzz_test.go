package engine

import (
	"encoding/json"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
)

// FuzzPassthroughBody: for any JSON object, the plain-names check never
// panics, and the body with a conversation expanded into input is valid
// JSON without previous_response_id.
func FuzzPassthroughBody(f *testing.F) {
	f.Add([]byte(`{"model":"gpt-4o","input":"hi","previous_response_id":"resp_1"}`))
	f.Add([]byte(`{"input":[{"role":"user","content":"a"}],"previous_response_id":"r","tools":[]}`))
	f.Add([]byte(`{"mod\u0065l":"x","input":[{"cont\u00e9nt":1,"a":{"a":1,"a":2}}]}`))
	f.Add([]byte(` { } `))
	prev := [][]byte{
		[]byte(`{"id":"msg_1","type":"message","role":"user","content":[{"type":"input_text","text":"q"}]}`),
		[]byte(`{"id":"rs_1","type":"reasoning","summary":[]}`),
		[]byte(`{"id":"msg_2","type":"message","role":"assistant","content":[{"type":"output_text","text":"a"}]}`),
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if jsonscan.Validate(body) != nil || jsonscan.KindOf(body[jsonscan.SkipSpace(body, 0):]) != jsonscan.Object {
			return // the handler refuses these before
		}
		_ = checkPlainNames(body, 0)
		out := expandConversation(nil, body, prev)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %s from %s", out, body)
		}
		if jsonscan.Get(out, "previous_response_id") != nil {
			t.Fatalf("previous_response_id kept: %s", out)
		}
	})
}
