package anthropic

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
	f.Add([]byte(`{"messages":[{"role":"assistant","tool_calls":[{"id":"x","function":{"name":"f","arguments":"{"}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := providers.AcquireRequest()
		defer providers.ReleaseRequest(r)
		if r.Decode(body) != nil {
			return
		}
		out, _, err := appendRequest(nil, testCall(r))
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
		if parseMessage(body, &c, reqInfo{jsonTool: len(body)%2 == 0}, &b) == nil {
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
		tr.Reset(bytes.NewReader(in), "anthropic", "id", 1, "m", true)
		tr.info.jsonTool = len(in)%2 == 0
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

// FuzzRelay: arbitrary upstream bytes relay without panicking and end.
func FuzzRelay(f *testing.F) {
	addFiles(f, "testdata/stream/*.sse")
	f.Fuzz(func(t *testing.T, in []byte) {
		var r Relay
		r.Reset(bytes.NewReader(in), "anthropic")
		drain(t, &r)
	})
}

// FuzzAppendWithModel: the body changes only in the model value.
func FuzzAppendWithModel(f *testing.F) {
	f.Add([]byte(`{"model":"a","messages":[]}`), "b")
	f.Fuzz(func(t *testing.T, body []byte, model string) {
		out, err := AppendWithModel(nil, body, model)
		if err == nil && !jsonValid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
	})
}
