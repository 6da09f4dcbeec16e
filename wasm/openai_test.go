package wasm

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/providers/providertest"
)

func TestInputFromOpenAI(t *testing.T) {
	t.Parallel()
	body := []byte(`{
	 "model": "auto", "stream": true, "skill": "code-review", "gateway_skill": "ignored",
	 "smart_routing": true, "response_format": {"type": "json_object"},
	 "messages": [
	  {"role": "system", "content": "sys \"quoted\" \u00e9"},
	  {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "image_url", "image_url": {"url": "data:x"}}, {"type": "text", "text": "part\ntwo"}]},
	  {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
	  {"role": "tool", "tool_call_id": "c1", "content": "result"},
	  {"role": "user", "content": [{"type": "text", "text": "single"}]}
	 ],
	 "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {}}}],
	 "functions": [{"name": "legacy"}]
	}`)
	var in Input
	if err := InputFromOpenAI(body, &in); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		role, text string
		flags      uint64
	}{
		{"system", `sys "quoted" é`, 0},
		{"user", "part one\npart\ntwo", abi.MsgParts | abi.MsgImage},
		{"assistant", "", abi.MsgToolCalls},
		{"tool", "result", abi.MsgToolResult},
		{"user", "single", abi.MsgParts},
	}
	if len(in.Messages) != len(want) {
		t.Fatalf("%d messages", len(in.Messages))
	}
	for i, w := range want {
		m := in.Messages[i]
		if string(m.Role) != w.role || string(m.Text) != w.text || m.Flags != w.flags {
			t.Fatalf("message %d = %q %q %b, want %q %q %b", i, m.Role, m.Text, m.Flags, w.role, w.text, w.flags)
		}
	}
	if string(in.Model) != "auto" || string(in.Skill) != "code-review" || len(in.Tools) != 2 || string(in.Tools[1]) != "legacy" {
		t.Fatalf("model %q skill %q tools %q", in.Model, in.Skill, in.Tools)
	}
	wantFlags := abi.FlagStream | abi.FlagSmartRouting | abi.FlagJSON | abi.FlagTools | abi.FlagImages
	if in.Flags != wantFlags {
		t.Fatalf("flags %b, want %b", in.Flags, wantFlags)
	}
	// gateway_skill applies when skill is absent.
	if err := InputFromOpenAI([]byte(`{"gateway_skill":"quick-fix","messages":[]}`), &in); err != nil || string(in.Skill) != "quick-fix" {
		t.Fatalf("gateway_skill: %q %v", in.Skill, err)
	}
}

func TestInputFromOpenAIErrors(t *testing.T) {
	t.Parallel()
	for _, body := range []string{``, `[]`, `{"messages": {}}`, `{"messages": [1]}`, `{"model": 3}`,
		`{"messages":[{"role":"user","content":5}]}`, `{"messages":[{"role":7}]}`, `{"a":`,
		`{"model":"a","mod\u0065l":"b","messages":[]}`, `{"model":"a","model":"b","messages":[]}`,
		`{"messages":[{"role":"user","content":"x","cont\u0065nt":"y"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"a","TEXT":"b"}]}]}`,
		`{"messages":[],"tools":[{"function":{"name":"a","n\u0061me":"b"}}]}`} {
		var in Input
		if err := InputFromOpenAI([]byte(body), &in); !errors.Is(err, ErrRequest) {
			t.Errorf("InputFromOpenAI(%s) = %v, want ErrRequest", body, err)
		}
	}
}

// FuzzInputFromOpenAI checks the decoder against encoding/json on the fields
// it extracts, and that it never panics.
func FuzzInputFromOpenAI(f *testing.F) {
	f.Add([]byte(`{"model":"auto","messages":[{"role":"user","content":"hi \u00e9"}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b\n"}]}],"tools":[{"function":{"name":"x"}}]}`))
	f.Add([]byte(`{"messages":[{"role":"tool","content":null}],"stream":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var in Input
		err := InputFromOpenAI(body, &in)
		if err == nil && !json.Valid(body) && !tooDeepJSON(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		// encoding/json matches keys case-insensitively; the gateway, like
		// OpenAI, does not: look the keys up exactly.
		var top map[string]json.RawMessage
		var ref struct {
			Model    *string
			Messages []map[string]json.RawMessage
		}
		if json.Unmarshal(body, &top) != nil || err != nil {
			return
		}
		if m, ok := top["model"]; ok && json.Unmarshal(m, &ref.Model) != nil {
			return
		}
		if m, ok := top["messages"]; ok && json.Unmarshal(m, &ref.Messages) != nil {
			return
		}
		if ref.Model != nil && *ref.Model != string(in.Model) && !strings.ContainsRune(*ref.Model, 0xFFFD) {
			t.Fatalf("model %q, encoding/json says %q", in.Model, *ref.Model)
		}
		if len(ref.Messages) != len(in.Messages) {
			t.Fatalf("%d messages, encoding/json says %d", len(in.Messages), len(ref.Messages))
		}
		for i, m := range ref.Messages {
			var s string
			if json.Unmarshal(m["content"], &s) == nil && s != string(in.Messages[i].Text) && !strings.ContainsRune(s, 0xFFFD) {
				t.Fatalf("message %d text %q, encoding/json says %q", i, in.Messages[i].Text, s)
			}
		}
	})
}

// tooDeepJSON reports nesting beyond jsonscan.MaxDepth, where the two
// decoders legitimately disagree.
func tooDeepJSON(b []byte) bool {
	d := 0
	for _, c := range b {
		switch c {
		case '[', '{':
			if d++; d >= 256 {
				return true
			}
		case ']', '}':
			d--
		}
	}
	return false
}

// TestInputNamesCoverReads keeps inputNames in step with the code.
func TestInputNamesCoverReads(t *testing.T) {
	t.Parallel()
	providertest.SchemaCoversReads(t, inputNames, "openai.go", "InputFromOpenAI", "addToolAt", "addMessage", "partsText")
}

// TestInputFromOpenAIPassesUnreadMembers: escaped or repeated names the
// decoder does not read are the policies' and upstream's business.
func TestInputFromOpenAIPassesUnreadMembers(t *testing.T) {
	t.Parallel()
	var in Input
	body := `{"model":"m","logit\u005fbias":{},"x":1,"x":2,"messages":[{"role":"user","content":"hi","reasoning\u005fcontent":"r"}]}`
	if err := InputFromOpenAI([]byte(body), &in); err != nil {
		t.Fatal(err)
	}
}
