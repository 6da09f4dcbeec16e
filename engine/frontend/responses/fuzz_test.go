package responses

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// FuzzParse: any body either parses or fails with a RequestError (the
// client's 400, never a 500 or a panic); a body that parses has input items
// that are JSON objects, and its chat translation is valid JSON or a
// RequestError too.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/request/*.in.json")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"model":"mock/echo","input":"hello"}`))
	f.Add([]byte(`{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":"x"}],"store":false}`))
	f.Add([]byte(`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"data:image/png;base64,AA"}]}]}`))
	f.Add([]byte(`{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"s","schema":{"type":"object"}}},"tools":[{"type":"function","name":"f","parameters":{}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := Parse(body)
		if err != nil {
			var re *providers.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error is not a RequestError: %T %v", err, err)
			}
			return
		}
		for i, it := range r.Input {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(it, &obj); err != nil {
				t.Fatalf("input item %d is not an object: %s", i, it)
			}
		}
		out, err := r.AppendChat(nil, r.Input)
		if err != nil {
			var re *providers.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("translation error is not a RequestError: %T %v", err, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid chat JSON from %q: %s", body, out)
		}
	})
}
