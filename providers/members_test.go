package providers

import (
	"errors"
	"strings"
	"testing"
)

// body wraps members (a JSON fragment) into a valid request.
func body(members string) string {
	if members == "" {
		return `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	}
	return `{"model":"m","messages":[{"role":"user","content":"hi"}],` + members + `}`
}

// msgs is a request whose messages array is ms.
func msgs(ms string) string { return `{"model":"m","messages":[` + ms + `]}` }

func TestDecodeRefusesAmbiguousMembers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, param, code string
		msg                     string // a substring of the message, when set
	}{
		// Top level.
		{name: "model twice", body: `{"model":"a","model":"b","messages":[{"role":"user","content":"x"}]}`,
			param: "model", code: CodeDuplicateMember, msg: "duplicate member `model` in the request body"},
		{name: "model escaped after plain", body: `{"model":"cheap","mod\u0065l":"pricey-model","messages":[{"role":"user","content":"x"}]}`,
			param: "model", code: CodeDuplicateMember, msg: "duplicate member `model` in the request body (also sent as `mod\\u0065l`)"},
		{name: "model escaped alone", body: `{"mod\u0065l":"pricey-model","messages":[{"role":"user","content":"x"}]}`,
			param: "model", code: CodeAmbiguousMember, msg: "member `mod\\u0065l` in the request body is `model` spelled"},
		{name: "model in another case", body: `{"model":"cheap","Model":"pricey","messages":[{"role":"user","content":"x"}]}`,
			param: "model", code: CodeDuplicateMember},
		{name: "stream escaped", body: body(`"str\u0065am":true`), param: "stream", code: CodeAmbiguousMember},
		{name: "stream with a long s", body: body(`"stream":false,"ſtream":true`), param: "stream", code: CodeDuplicateMember},
		{name: "messages escaped", body: body(`"messag\u0065s":[{"role":"user","content":"a@b.c"}]`), param: "messages", code: CodeDuplicateMember},
		{name: "messages twice", body: body(`"messages":[{"role":"user","content":"a@b.c"}]`), param: "messages", code: CodeDuplicateMember},
		{name: "unread-here name escaped", body: body(`"prompt_cache_k\u0065y":"k"`), param: "prompt_cache_key", code: CodeAmbiguousMember},
		{name: "logprobs twice", body: body(`"logprobs":false,"logprobs":true`), param: "logprobs", code: CodeDuplicateMember},
		{name: "escaped underscore", body: body(`"max\u005ftokens":5`), param: "max_tokens", code: CodeAmbiguousMember},
		// stream_options.
		{name: "include_usage twice", body: body(`"stream":true,"stream_options":{"include_usage":false,"include_usage":true}`),
			param: "stream_options.include_usage", code: CodeDuplicateMember, msg: "in stream_options"},
		{name: "include_usage escaped", body: body(`"stream":true,"stream_options":{"include\u005fusage":true}`),
			param: "stream_options.include_usage", code: CodeAmbiguousMember},
		// response_format.
		{name: "response_format type twice", body: body(`"response_format":{"type":"text","type":"json_object"}`),
			param: "response_format.type", code: CodeDuplicateMember},
		{name: "json_schema schema escaped", body: body(`"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{},"sch\u0065ma":{}}}`),
			param: "response_format.json_schema.schema", code: CodeDuplicateMember},
		// A message.
		{name: "role twice", body: msgs(`{"role":"user","content":"x","role":"system"}`), param: "messages[0].role", code: CodeDuplicateMember},
		{name: "role escaped", body: msgs(`{"role":"user","content":"x"},{"r\u006fle":"system","role":"user","content":"y"}`),
			param: "messages[1].role", code: CodeAmbiguousMember, msg: "in messages[1]"},
		{name: "content twice", body: msgs(`{"role":"user","content":"redact me","content":"a@b.c"}`), param: "messages[0].content", code: CodeDuplicateMember},
		{name: "content escaped", body: msgs(`{"role":"user","content":"x","cont\u0065nt":"a@b.c"}`), param: "messages[0].content", code: CodeDuplicateMember},
		{name: "tool_call_id in upper case", body: msgs(`{"role":"tool","tool_call_id":"a","TOOL_CALL_ID":"b","content":"x"}`),
			param: "messages[0].tool_call_id", code: CodeDuplicateMember},
		// A content part and its image_url.
		{name: "part text twice", body: msgs(`{"role":"user","content":[{"type":"text","text":"a","text":"b"}]}`),
			param: "messages[0].content[0].text", code: CodeDuplicateMember},
		{name: "part type escaped", body: msgs(`{"role":"user","content":[{"type":"text","text":"a"},{"t\u0079pe":"text","type":"text","text":"b"}]}`),
			param: "messages[0].content[1].type", code: CodeAmbiguousMember},
		{name: "image url twice", body: msgs(`{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://a","url":"http://b"}}]}`),
			param: "messages[0].content[0].image_url.url", code: CodeDuplicateMember},
		{name: "part cache_control escaped", body: msgs(`{"role":"user","content":[{"type":"text","text":"a","cache\u005fcontrol":{"type":"ephemeral"}}]}`),
			param: "messages[0].content[0].cache_control", code: CodeAmbiguousMember},
		// Tool calls.
		{name: "tool call name twice", body: msgs(`{"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"a","name":"b","arguments":"{}"}}]}`),
			param: "messages[0].tool_calls[0].function.name", code: CodeDuplicateMember},
		{name: "tool call arguments escaped", body: msgs(`{"role":"assistant","tool_calls":[{"id":"1","function":{"name":"a","arguments":"{}","\u0061rguments":"{\"x\":1}"}}]}`),
			param: "messages[0].tool_calls[0].function.arguments", code: CodeDuplicateMember},
		{name: "tool call id escaped", body: msgs(`{"role":"assistant","tool_calls":[{"\u0069d":"1","function":{"name":"a","arguments":"{}"}}]}`),
			param: "messages[0].tool_calls[0].id", code: CodeAmbiguousMember},
		// Tools.
		{name: "tool function name twice", body: body(`"tools":[{"type":"function","function":{"name":"a","name":"b"}}]`),
			param: "tools[0].function.name", code: CodeDuplicateMember},
		{name: "tool function name escaped", body: body(`"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"n\u0061me":"b","name":"c"}}]`),
			param: "tools[1].function.name", code: CodeAmbiguousMember},
		{name: "tool function twice", body: body(`"tools":[{"type":"function","function":{"name":"a"},"function":{"name":"b"}}]`),
			param: "tools[0].function", code: CodeDuplicateMember},
		{name: "tool parameters escaped", body: body(`"tools":[{"type":"function","function":{"name":"a","parameters":{},"p\u0061rameters":{}}}]`),
			param: "tools[0].function.parameters", code: CodeDuplicateMember},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := AcquireRequest()
			defer ReleaseRequest(r)
			err := r.Decode([]byte(tc.body))
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("Decode(%s) = %v, want a *RequestError", tc.body, err)
			}
			if re.Param != tc.param || re.Code != tc.code {
				t.Fatalf("param, code = %q, %q; want %q, %q (%v)", re.Param, re.Code, tc.param, tc.code, err)
			}
			if !strings.Contains(re.Msg, tc.msg) {
				t.Fatalf("message %q does not contain %q", re.Msg, tc.msg)
			}
		})
	}
}

func TestDecodeAcceptsUnreadMembers(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, field string }{
		{"unknown escaped", body(`"logit\u005fbias":{"1":2}`), `logit\u005fbias`},
		{"unknown repeated", body(`"x_custom":1,"x_custom":2`), "x_custom"},
		{"unknown with a surrogate pair", body(`"\ud83d\ude00":1`), `\ud83d\ude00`},
		{"unknown with a lone surrogate", body(`"mod\ud800l":1`), `mod\ud800l`},
		{"unknown escaped into a known name's neighbour", body(`"mod\u0065ls":1`), `mod\u0065ls`},
		{"unknown non-ASCII", body(`"mödel":1`), "mödel"},
		{"escaped names inside values the gateway does not read", body(`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"n\u0061me":{},"name":{}}}}}],"metadata":{"a":1,"a":2}`), "metadata"},
		{"unknown message member escaped", msgs(`{"role":"assistant","content":"x","reasoning\u005fcontent":"y","refusal":null,"refusal":null}`), ""},
		{"unknown part member", msgs(`{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"wav"},"x\u0079":1}]}`), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := AcquireRequest()
			defer ReleaseRequest(r)
			if err := r.Decode([]byte(tc.body)); err != nil {
				t.Fatalf("Decode(%s): %v", tc.body, err)
			}
			if tc.field != "" {
				if _, ok := r.Field(tc.field); !ok {
					t.Fatalf("field %q not listed: %+v", tc.field, r.Fields)
				}
			}
		})
	}
}

func TestDecodeRefusesInvalidEscapesInNames(t *testing.T) {
	t.Parallel()
	for _, key := range []string{`mod\x65l`, `mod\u06`, `mod\u00zz`, `mod\`, "mod\x01"} {
		r := AcquireRequest()
		err := r.Decode([]byte(body(`"` + key + `":1`)))
		var re *RequestError
		if !errors.As(err, &re) || re.Code != "" || !strings.Contains(re.Msg, "not valid JSON") {
			t.Errorf("key %q: err = %v, want the invalid JSON error", key, err)
		}
		ReleaseRequest(r)
	}
}

func TestCheckEmbeddingsNames(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, param, code string }{
		{"plain", `{"model":"text-embedding-3-small","input":"x","dimensions":8}`, "", ""},
		{"unread members escaped or repeated", `{"model":"m","input":"x","x\u0078":1,"y":1,"y":2}`, "", ""},
		{"model escaped", `{"model":"text-embedding-3-small","mod\u0065l":"text-embedding-3-large","input":"x"}`, "model", CodeDuplicateMember},
		{"input twice", `{"model":"m","input":"x","input":["y","z"]}`, "input", CodeDuplicateMember},
		{"encoding_format in upper case", `{"model":"m","input":"x","ENCODING_FORMAT":"base64"}`, "encoding_format", CodeAmbiguousMember},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := CheckEmbeddingsNames([]byte(tc.body))
			if tc.param == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var re *RequestError
			if !errors.As(err, &re) || re.Param != tc.param || re.Code != tc.code {
				t.Fatalf("err = %v, want param %q code %q", err, tc.param, tc.code)
			}
		})
	}
}
