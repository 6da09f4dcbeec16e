package policyinput

import (
	"bufio"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
	"github.com/valyala/fasthttp"
)

// header parses a request head holding lines, as the server does off the
// wire (names normalised, values trimmed).
func header(t testing.TB, lines ...string) *fasthttp.RequestHeader {
	t.Helper()
	var b strings.Builder
	b.WriteString("POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	h := new(fasthttp.RequestHeader)
	if err := h.Read(bufio.NewReader(strings.NewReader(b.String()))); err != nil {
		t.Fatal(err)
	}
	return h
}

// decode decodes body as the server does.
func decode(t testing.TB, body string) *providers.Request {
	t.Helper()
	r := new(providers.Request)
	if err := r.Decode([]byte(body)); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r
}

type msg struct {
	role, text string
	flags      uint64
}

func messagesOf(in *wasm.Input) []msg {
	out := make([]msg, len(in.Messages))
	for i, m := range in.Messages {
		out[i] = msg{string(m.Role), string(m.Text), m.Flags}
	}
	return out
}

func TestFill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		headers []string
		project string

		model, skill string
		msgs         []msg
		tools        []string
		flags        uint64
		gotHeaders   []string // "Name: value", in request order
	}{
		{
			name: "everything",
			body: `{
			 "model": "auto", "stream": true, "skill": "code-review", "response_format": {"type": "json_object"},
			 "messages": [
			  {"role": "system", "content": "sys \"quoted\" \u00e9"},
			  {"role": "user", "content": [{"type": "text", "text": "part one"}, {"type": "image_url", "image_url": {"url": "data:x"}}, {"type": "text", "text": "part\ntwo"}]},
			  {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
			  {"role": "tool", "tool_call_id": "c1", "content": "result"},
			  {"role": "user", "content": [{"type": "text", "text": "single"}]}
			 ],
			 "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {}}}, {"type": "function", "function": {"name": "write_file"}}]
			}`,
			headers: []string{"Authorization: Bearer sk-secret", "X-Gateway-Skill: quick-fix", "x-gateway-cache: bypass", "X-Gateway-Smart-Routing: 1", "Content-Type: application/json"},
			project: "acme",
			model:   "auto",
			skill:   "code-review",
			msgs: []msg{
				{"system", `sys "quoted" é`, 0},
				{"user", "part one\npart\ntwo", abi.MsgParts | abi.MsgImage},
				{"assistant", "", abi.MsgToolCalls},
				{"tool", "result", abi.MsgToolResult},
				{"user", "single", abi.MsgParts},
			},
			tools:      []string{"read_file", "write_file"},
			flags:      abi.FlagStream | abi.FlagJSON | abi.FlagTools | abi.FlagImages | abi.FlagSmartRouting,
			gotHeaders: []string{"X-Gateway-Skill: quick-fix", "X-Gateway-Cache: bypass", "X-Gateway-Smart-Routing: 1"},
		},
		{
			name:  "no headers",
			body:  `{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}`,
			model: "gpt-4o",
			msgs:  []msg{{"user", "hi", 0}},
		},
		{
			// The separator goes between texts, as providers.Message.Text
			// joins them: an empty first part adds none.
			name: "text parts joined",
			body: `{"messages": [
			  {"role": "user", "content": [{"type": "text", "text": ""}, {"type": "text", "text": "b"}, {"type": "text", "text": "c"}]},
			  {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": ""}]},
			  {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
			  {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, {"type": "text", "text": "what is this?"}]}
			]}`,
			msgs: []msg{
				{"user", "b\nc", abi.MsgParts},
				{"user", "a\n", abi.MsgParts},
				{"user", "", abi.MsgParts | abi.MsgImage},
				{"user", "what is this?", abi.MsgParts},
			},
			flags: abi.FlagImages,
		},
		{
			// The Wasm ABI reads the "skill" body field and the
			// X-Gateway-Smart-Routing header only (docs/contract.md).
			name:    "seed-only body fields are not read",
			body:    `{"model": "gpt-4o", "gateway_skill": "brainstorming", "smart_routing": true, "messages": [{"role": "user", "content": "hi"}]}`,
			headers: []string{"X-Gateway-Smart-Routing: 0", "X-Gateway-: empty name"},
			model:   "gpt-4o",
			msgs:    []msg{{"user", "hi", 0}},

			gotHeaders: []string{"X-Gateway-Smart-Routing: 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := decode(t, tt.body)
			var h *fasthttp.RequestHeader
			if tt.headers != nil {
				h = header(t, tt.headers...)
			}
			var in wasm.Input
			for range 2 { // a reused Input gives the same view
				Fill(&in, r, tt.project, h)
				if string(in.Model) != tt.model || string(in.Skill) != tt.skill || string(in.Project) != tt.project {
					t.Fatalf("model %q skill %q project %q, want %q %q %q", in.Model, in.Skill, in.Project, tt.model, tt.skill, tt.project)
				}
				if got := messagesOf(&in); !slices.Equal(got, tt.msgs) {
					t.Fatalf("messages\n%+v, want\n%+v", got, tt.msgs)
				}
				var tools []string
				for _, n := range in.Tools {
					tools = append(tools, string(n))
				}
				if !slices.Equal(tools, tt.tools) {
					t.Fatalf("tools %q, want %q", tools, tt.tools)
				}
				if in.Flags != tt.flags {
					t.Fatalf("flags %b, want %b", in.Flags, tt.flags)
				}
				var hdrs []string
				for _, hd := range in.Headers {
					hdrs = append(hdrs, string(hd.Name)+": "+string(hd.Value))
				}
				if !slices.Equal(hdrs, tt.gotHeaders) {
					t.Fatalf("headers %q, want %q", hdrs, tt.gotHeaders)
				}
				if &in.Body[0] != &r.Body[0] || len(in.Body) != len(r.Body) {
					t.Fatal("Body does not alias the decoded request's body")
				}
			}
		})
	}
}

// multiPart has every kind of value Fill handles: joined text parts, an
// image, tool calls and results, tools, JSON output and headers.
const multiPart = `{"model":"auto","stream":true,"skill":"code-review","response_format":{"type":"json_schema","json_schema":{"name":"x"}},
 "messages":[{"role":"system","content":"s\nx"},
  {"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:x"}},{"type":"text","text":"b \"q\""}]},
  {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
  {"role":"tool","tool_call_id":"c1","content":"ok"}],
 "tools":[{"type":"function","function":{"name":"f"}}]}`

// TestFillAllocs: building the policies' view allocates nothing in steady
// state, alone and together with the decode before it (the whole input path
// of a policy call).
func TestFillAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	body := []byte(multiPart)
	h := header(t, "X-Gateway-Skill: quick-fix", "X-Gateway-Smart-Routing: 1", "Authorization: Bearer k")
	r := new(providers.Request)
	var in wasm.Input
	tests := []struct {
		name string
		run  func()
	}{
		{"fill", func() { Fill(&in, r, "acme", h) }},
		{"decode and fill", func() {
			r.Reset()
			if err := r.Decode(body); err != nil {
				t.Fatal(err)
			}
			Fill(&in, r, "acme", h)
		}},
	}
	if err := r.Decode(body); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run() // grow the buffers
			if n := testing.AllocsPerRun(200, tt.run); n != 0 {
				t.Fatalf("%v allocations per call, want 0", n)
			}
			if len(in.Messages) != 4 || string(in.Messages[1].Text) != "a\nb \"q\"" || len(in.Headers) != 2 {
				t.Fatalf("wrong view: %d messages, %q, %d headers", len(in.Messages), in.Messages[1].Text, len(in.Headers))
			}
		})
	}
}

// FuzzFill checks the view of every body the server's decoder accepts
// against encoding/json, on the fields policies read most: the model, the
// messages' roles and string contents, and the tool names.
func FuzzFill(f *testing.F) {
	f.Add([]byte(multiPart))
	f.Add([]byte(`{"model":"auto","messages":[{"role":"user","content":"hi \u00e9"}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b\n"}]}],"tools":[{"type":"function","function":{"name":"x"}}]}`))
	f.Add([]byte(`{"messages":[{"role":"tool","tool_call_id":"1","content":null}],"stream":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r providers.Request
		if r.Decode(body) != nil {
			return
		}
		var in wasm.Input
		Fill(&in, &r, "p", nil)
		var ref struct {
			Model    *string
			Messages []struct {
				Role    string
				Content json.RawMessage
			}
			Tools []struct {
				Type     *string
				Function struct{ Name string }
			}
		}
		// encoding/json matches keys case-insensitively and takes the last
		// duplicate; skip the bodies where that differs from the gateway.
		if json.Unmarshal(body, &ref) != nil || strings.ContainsRune(string(body), 0xFFFD) || hasFoldedOrDuplicateKeys(body) {
			return
		}
		if ref.Model != nil && *ref.Model != string(in.Model) {
			t.Fatalf("model %q, encoding/json says %q", in.Model, *ref.Model)
		}
		if len(ref.Messages) != len(in.Messages) {
			t.Fatalf("%d messages, encoding/json says %d", len(in.Messages), len(ref.Messages))
		}
		for i, m := range ref.Messages {
			if m.Role != string(in.Messages[i].Role) {
				t.Fatalf("message %d role %q, encoding/json says %q", i, in.Messages[i].Role, m.Role)
			}
			var s string
			if json.Unmarshal(m.Content, &s) == nil && s != string(in.Messages[i].Text) {
				t.Fatalf("message %d text %q, encoding/json says %q", i, in.Messages[i].Text, s)
			}
		}
		if len(ref.Tools) != len(in.Tools) {
			t.Fatalf("%d tools, encoding/json says %d", len(in.Tools), len(ref.Tools))
		}
		for i, tl := range ref.Tools {
			want := tl.Function.Name
			if tl.Type != nil && *tl.Type != "function" {
				want = "" // only function tools have a name
			}
			if want != string(in.Tools[i]) {
				t.Fatalf("tool %d %q, encoding/json says %q", i, in.Tools[i], want)
			}
		}
	})
}

// hasFoldedOrDuplicateKeys reports whether some object in b repeats a key or
// spells one of the fields FuzzFill compares in another case, where
// encoding/json and the gateway's decoder legitimately disagree.
func hasFoldedOrDuplicateKeys(b []byte) bool {
	d := json.NewDecoder(strings.NewReader(string(b)))
	type frame struct {
		obj  bool
		key  bool // the next string is a key
		seen map[string]bool
	}
	var stack []frame
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			top := &stack[len(stack)-1]
			if s, ok := tok.(string); ok && top.key {
				if top.seen[s] {
					return true
				}
				top.seen[s] = true
				switch strings.ToLower(s) {
				case "model", "messages", "role", "content", "tools", "function", "name", "type":
					if strings.ToLower(s) != s {
						return true
					}
				}
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{obj: true, key: true, seen: map[string]bool{}})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].obj {
			stack[len(stack)-1].key = true
		}
	}
}
