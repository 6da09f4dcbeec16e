package ollama

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

func addSeeds(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", pattern, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzTranslateRequest: any body the canonical decoder accepts translates
// without panicking, into one valid JSON object or a RequestError.
func FuzzTranslateRequest(f *testing.F) {
	addSeeds(f, "request/*.json")
	f.Add([]byte(`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"a\":[1,{\"b\":\"\\u00e9\"}]}"}}]},{"role":"tool","tool_call_id":"a","content":"x"}],"options":{"a\"b":1}}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:;base64,AAAA"}}]}],"num_ctx":1e3}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := providers.AcquireRequest()
		defer providers.ReleaseRequest(r)
		if r.Decode(body) != nil {
			return
		}
		out, err := appendRequest(nil, &providers.Call{Req: r, Model: "m", ID: "chatcmpl-f"}, 4096)
		if err != nil {
			var re *providers.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a RequestError", err, err)
			}
			return
		}
		if err := jsonscan.Validate(out); err != nil || jsonscan.KindOf(out) != jsonscan.Object {
			t.Fatalf("invalid upstream body (%v): %s", err, out)
		}
		if bytes.ContainsAny(out, "\n\r") {
			t.Fatalf("upstream body is not one line: %q", out)
		}
	})
}

// FuzzStream: arbitrary bytes as an NDJSON body never panic, and always
// come out as well-formed OpenAI SSE ending in [DONE].
func FuzzStream(f *testing.F) {
	addSeeds(f, "stream/*.ndjson")
	addSeeds(f, "response/*.json")
	f.Add([]byte("{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}},1,{\"function\":{}}]},\"done\":true,\"done_reason\":\"length\"}\n"))
	f.Add([]byte("\n\n\r\n{}\n[]\n\"x\"\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := providers.AcquireRequest()
		defer providers.ReleaseRequest(r)
		r.IncludeUsage = len(body)%2 == 0
		var s Stream
		s.Reset(bytes.NewReader(body), &providers.Call{Req: r, Model: "m", ID: "chatcmpl-f", Created: 1}, "ollama")
		var out []byte
		for i := 0; ; i++ {
			b, err := s.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			if i > len(body)+2 {
				t.Fatal("stream does not end")
			}
			out = append(out, b...)
		}
		checkSSE(t, out)
		// The non-streaming translator must survive the same bytes.
		if c, _, _, err := AppendCompletion(nil, body, &providers.Call{Model: "m"}); err == nil {
			if jsonscan.Validate(c) != nil {
				t.Fatalf("invalid completion: %s", c)
			}
		}
	})
}
