package gemini

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aigateway/gateway/providers"
)

func addFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// FuzzRequest: any body the decoder accepts translates or fails cleanly.
func FuzzRequest(f *testing.F) {
	addFiles(f, "testdata/request/*.in.json")
	f.Add([]byte(`{"messages":[{"role":"assistant","tool_calls":[{"id":"x","function":{"name":"f","arguments":"{"}}]},{"role":"tool","tool_call_id":"x","content":"{}"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"$ref":"#/$defs/a","$defs":{"a":{"type":"object","properties":{"b":{"$ref":"#/$defs/a"}}}}}}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := providers.AcquireRequest()
		defer providers.ReleaseRequest(r)
		if r.Decode(body) != nil {
			return
		}
		out, err := appendRequest(nil, testCall(r))
		if err == nil && !jsonValid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
	})
}

// FuzzResponse: arbitrary upstream bodies never panic.
func FuzzResponse(f *testing.F) {
	addFiles(f, "testdata/response/*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		var c providers.Completion
		var b respBuf
		if parseResponse(body, &c, &b) == nil {
			if out := c.AppendJSON(nil); !jsonValid(out) {
				t.Fatalf("invalid JSON out: %s", out)
			}
		}
	})
}

// FuzzStream: arbitrary stream bytes end in [DONE] and never panic.
func FuzzStream(f *testing.F) {
	addFiles(f, "testdata/stream/*.sse")
	f.Fuzz(func(t *testing.T, in []byte) {
		var tr Translator
		tr.Reset(bytes.NewReader(in), "gemini", "id", 1, "m", true)
		var last []byte
		for range 1 << 16 {
			b, err := tr.Next()
			if err == io.EOF {
				if !bytes.HasSuffix(last, []byte("data: [DONE]\n\n")) {
					t.Fatalf("stream ended without [DONE]: %q", last)
				}
				return
			}
			last = append(last[:0], b...)
		}
		t.Fatal("stream did not end")
	})
}

// FuzzEmbed: arbitrary embeddings requests and answers never panic.
func FuzzEmbed(f *testing.F) {
	addFiles(f, "testdata/embed_request/*.in.json")
	addFiles(f, "testdata/embed_response/*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		if out, _, err := EmbedRequest(nil, body, "m"); err == nil && !jsonValid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
		for _, b64 := range []bool{false, true} {
			if out, _, err := EmbedResponse(nil, body, "m", EmbedInfo{Inputs: 2, Base64: b64}); err == nil && !jsonValid(out) {
				t.Fatalf("invalid JSON out: %s", out)
			}
		}
	})
}
