package responses

import (
	"errors"
	"testing"

	"github.com/aigateway/gateway/providers"
)

func TestParseRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, param string
	}{
		{"not json", `{"model":`, ""},
		{"not an object", `[1]`, ""},
		{"no input", `{"model":"m"}`, "input"},
		{"input number", `{"model":"m","input":3}`, "input"},
		{"duplicate member", `{"model":"m","input":"a","input":"b"}`, "input"},
		{"hosted tool", `{"model":"m","input":"a","tools":[{"type":"web_search"}]}`, "tools[0].type"},
		{"bad tool_choice", `{"model":"m","input":"a","tool_choice":{"type":"web_search"}}`, "tool_choice"},
		{"bad role", `{"model":"m","input":[{"role":"tool","content":"x"}]}`, "input[0].role"},
		{"unknown item", `{"model":"m","input":[{"type":"item_reference","id":"x"}]}`, "input[0].type"},
		{"call without name", `{"model":"m","input":[{"type":"function_call","call_id":"c","arguments":"{}"}]}`, "input[0]"},
		{"bad part", `{"model":"m","input":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "input[0].content[0].type"},
		{"schema missing", `{"model":"m","input":"a","text":{"format":{"type":"json_schema","name":"x"}}}`, "text.format.schema"},
		{"max_output_tokens zero", `{"model":"m","input":"a","max_output_tokens":0}`, "max_output_tokens"},
		{"background", `{"model":"m","input":"a","background":true}`, "background"},
		{"stream string", `{"model":"m","input":"a","stream":"yes"}`, "stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.body))
			re, ok := errors.AsType[*providers.RequestError](err)
			if !ok || re.Param != tt.param {
				t.Fatalf("got %v (%#v), want a RequestError on %q", err, re, tt.param)
			}
		})
	}
}

// TestMemberOrder: the same request with its members (and its items'
// members) in another order translates to the same chat request.
func TestMemberOrder(t *testing.T) {
	a := `{"model":"m","instructions":"I","input":[{"type":"message","role":"user","content":"hi"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"max_output_tokens":9,"text":{"format":{"type":"json_schema","name":"n","schema":{"type":"object"}}},"stream":true}`
	b := `{"stream":true,"text":{"format":{"schema":{"type":"object"},"name":"n","type":"json_schema"}},"max_output_tokens":9,"tools":[{"parameters":{"type":"object"},"name":"f","type":"function"}],"input":[{"content":"hi","role":"user","type":"message"},{"arguments":"{}","name":"f","call_id":"c","type":"function_call"},{"output":"ok","call_id":"c","type":"function_call_output"}],"instructions":"I","model":"m"}`
	var got [2]string
	for i, body := range []string{a, b} {
		r, err := Parse([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		chat, err := r.AppendChat(nil, r.Input)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = string(chat)
	}
	if got[0] != got[1] {
		t.Fatalf("member order changed the translation:\n%s\n%s", got[0], got[1])
	}
}
