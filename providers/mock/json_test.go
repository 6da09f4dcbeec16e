package mock

import (
	"encoding/json"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

func TestJSONAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format string // response_format
		text   string
		want   string
	}{
		{name: "no format", format: ``, text: "hi there", want: "hi there"},
		{name: "text format", format: `{"type":"text"}`, text: "hi there", want: "hi there"},
		{name: "json_object wraps text", format: `{"type":"json_object"}`, text: `say "hi"`, want: `{"text":"say \"hi\""}`},
		{name: "json_object keeps an object", format: `{"type":"json_object"}`, text: `{"a":[1,2]}`, want: `{"a":[1,2]}`},
		{name: "json_object wraps an array", format: `{"type":"json_object"}`, text: `[1]`, want: `{"text":"[1]"}`},
		{name: "json_object wraps broken JSON", format: `{"type":"json_object"}`, text: `{"a":`, want: `{"text":"{\"a\":"}`},
		{name: "json_schema instance", format: `{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object",` +
			`"properties":{"city":{"type":"string"},"days":{"type":"integer"},"ok":{"type":"boolean"},"unit":{"type":"string","enum":["c","f"]},` +
			`"tags":{"type":"array","items":{"type":"string"},"minItems":2},"note":{"type":["string","null"]},"v":{"const":3},` +
			`"pos":{"anyOf":[{"type":"object","properties":{"lat":{"type":"number"}}},{"type":"null"}]},"e\u0301":{"type":"number"}},` +
			`"required":["city","days","ok","unit","tags","note","v","pos"],"additionalProperties":false}}}`,
			text: "Paris", want: `{"city":"Paris","days":0,"ok":false,"unit":"c","tags":["Paris","Paris"],"note":"Paris","v":3,"pos":{"lat":0},"e\u0301":0}`},
		{name: "json_schema keeps an object", format: `{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}`, text: `{"a":"b"}`, want: `{"a":"b"}`},
		{name: "json_schema without schema", format: `{"type":"json_schema","json_schema":{"name":"x"}}`, text: "t", want: `{"text":"t"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &providers.Request{}
			if tt.format != "" {
				r.ResponseFormat = []byte(tt.format)
			}
			if got := jsonAnswer(r, tt.text); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// FuzzJSONSchemaInstance checks that any schema, however deep, odd or
// cyclic-looking, gives valid JSON of bounded size (nested minItems once
// made 16^16 elements).
func FuzzJSONSchemaInstance(f *testing.F) {
	f.Add(`{"type":"object","properties":{"a":{"type":"array","items":{"$ref":"#"},"minItems":99}}}`, "x\"y")
	f.Add(`{"anyOf":[{"enum":[]},{"type":["null","integer"]}]}`, "")
	f.Add(`{"type":"array","minItems":16,"items":{"type":"array","minItems":16,"items":{"type":"array","minItems":16,"items":{"type":"array","minItems":16,"items":{"type":"array","minItems":16,"items":{"type":"array","minItems":16,"items":{"type":"string"}}}}}}}`, "some text")
	f.Add(`{"type":"object","properties":{"\\"q":{"const":{"k":[1]}}}}`, "\x00\u2028")
	f.Fuzz(func(t *testing.T, schema, text string) {
		if jsonscan.Validate([]byte(schema)) != nil {
			return
		}
		out := instance(nil, []byte(schema), text, 0)
		// Past the budget only closing brackets and the schema's own
		// bytes (keys, consts, one element per level) are added.
		if len(out) > maxInstanceBytes+(maxSchemaDepth+2)*(len(schema)+len(text)+8) {
			t.Fatalf("schema %s gave %d bytes", schema, len(out))
		}
		if !json.Valid(out) {
			t.Fatalf("schema %s gave invalid JSON %s", schema, out)
		}
	})
}
