package messages

import (
	"errors"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
)

// msgBody wraps members into a valid Messages request.
func msgBody(members string) string {
	b := `{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","content":"hi"}]`
	if members != "" {
		b += "," + members
	}
	return b + "}"
}

func TestCheckNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, param, code string
	}{
		{"model twice", `{"model":"cheap","model":"claude-opus","messages":[]}`, "model", providers.CodeDuplicateMember},
		{"model escaped", `{"model":"cheap","mod\u0065l":"claude-opus","messages":[]}`, "model", providers.CodeDuplicateMember},
		{"model escaped alone", `{"mod\u0065l":"claude-opus","messages":[]}`, "model", providers.CodeAmbiguousMember},
		{"stream escaped", msgBody(`"str\u0065am":true`), "stream", providers.CodeAmbiguousMember},
		{"stream in upper case", msgBody(`"stream":false,"STREAM":true`), "stream", providers.CodeDuplicateMember},
		{"messages twice", msgBody(`"messages":[]`), "messages", providers.CodeDuplicateMember},
		{"message role escaped", `{"messages":[{"role":"user","content":"x"},{"role":"user","r\u006fle":"assistant","content":"y"}]}`,
			"messages[1].role", providers.CodeDuplicateMember},
		{"message content twice", `{"messages":[{"role":"user","content":"x","content":"a@b.c"}]}`, "messages[0].content", providers.CodeDuplicateMember},
		{"block text twice", `{"messages":[{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}]}`,
			"messages[0].content[0].text", providers.CodeDuplicateMember},
		{"tool result's block text escaped", `{"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","t\u0065xt":"b"}]}]}]}`,
			"messages[0].content[0].content[0].text", providers.CodeAmbiguousMember},
		{"tool_use name twice", `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"a","name":"b","input":{}}]}]}`,
			"messages[0].content[0].name", providers.CodeDuplicateMember},
		{"image source data twice", `{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA","data":"BB"}}]}]}`,
			"messages[0].content[0].source.data", providers.CodeDuplicateMember},
		{"system block escaped", msgBody(`"system":[{"type":"text","text":"a","c\u0061che_control":{"type":"ephemeral"}}]`),
			"system[0].cache_control", providers.CodeAmbiguousMember},
		{"cache_control ttl twice", msgBody(`"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral","ttl":"5m","ttl":"1h"}}]`),
			"system[0].cache_control.ttl", providers.CodeDuplicateMember},
		{"tool name escaped", msgBody(`"tools":[{"name":"a","input_schema":{}},{"n\u0061me":"b","input_schema":{}}]`),
			"tools[1].name", providers.CodeAmbiguousMember},
		{"tool_choice type twice", msgBody(`"tool_choice":{"type":"auto","type":"any"}`), "tool_choice.type", providers.CodeDuplicateMember},
		{"metadata user_id escaped", msgBody(`"metadata":{"user_id":"a","user\u005fid":"b"}`), "metadata.user_id", providers.CodeDuplicateMember},
		{"max_tokens twice", msgBody(`"max_tokens":1`), "max_tokens", providers.CodeDuplicateMember},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := jsonscan.Validate([]byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			for fn, check := range map[string]func([]byte) error{
				"CheckNames":      CheckNames,
				"RequestToOpenAI": func(b []byte) error { _, err := RequestToOpenAI(nil, b, Target{}); return err },
			} {
				var re *providers.RequestError
				if err := check([]byte(tc.body)); !errors.As(err, &re) || re.Param != tc.param || re.Code != tc.code {
					t.Fatalf("%s = %v (%#v); want param %q, code %q", fn, err, re, tc.param, tc.code)
				}
			}
		})
	}
}

func TestCheckNamesAccepts(t *testing.T) {
	t.Parallel()
	for _, b := range []string{
		msgBody(""),
		msgBody(`"top\u005fk":5,"thinking":{"type":"enabled","budget_tokens":1024},"x":1,"x":2`),
		// Tool input and input_schema are the client's own JSON.
		`{"max_tokens":9,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"name":1,"name":2,"n\u0061me":3}}]}],` +
			`"tools":[{"name":"f","input_schema":{"type":"object","properties":{"type":{},"t\u0079pe":{}}}}]}`,
		// Unread block members: citations, a server tool's fields.
		`{"max_tokens":9,"messages":[{"role":"user","content":[{"type":"text","text":"a","citations":[],"cit\u0061tions":[]}]}]}`,
		`{"max_tokens":9,"messages":[{"role":"user","content":"x"}],"metadata":{"user_id":"u","\ud83d\ude00":1}}`,
	} {
		if err := CheckNames([]byte(b)); err != nil {
			t.Errorf("CheckNames(%s) = %v", b, err)
		}
		if _, err := RequestToOpenAI(nil, []byte(b), Target{}); err != nil {
			t.Errorf("RequestToOpenAI(%s) = %v", b, err)
		}
	}
}

func TestCheckNamesAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	b := []byte(msgBody(`"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}}],"tools":[{"name":"f","input_schema":{}}],"stream":true`))
	if n := testing.AllocsPerRun(1000, func() {
		if err := CheckNames(b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("CheckNames allocates %.1f times", n)
	}
}

// TestRequestNamesCoverReads keeps requestNames in step with the code that
// reads the client's Messages body.
func TestRequestNamesCoverReads(t *testing.T) {
	t.Parallel()
	providertest.SchemaCoversReads(t, requestNames, "inbound.go", "RequestToOpenAI")
	providertest.SchemaCoversReads(t, requestNames, "inbound_content.go",
		"appendUserIn", "appendImageIn", "appendAssistantIn", "appendToolsIn")
	// The passthrough places breakpoints in the client's bytes, which
	// CheckNames has checked (engine/messages.go).
	providertest.SchemaCoversReads(t, requestNames, "../../../providers/anthropic/cachecontrol.go",
		"block", "clientMark", "run", "tools", "system", "messages", "content")
}
