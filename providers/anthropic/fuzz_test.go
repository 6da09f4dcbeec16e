package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
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

// FuzzInboundRequest: any Anthropic body translates to valid JSON or fails
// with a RequestError, and a body it accepts has no object in which two
// members decode (encoding/json) to a name the gateway reads there,
// ignoring case.
func FuzzInboundRequest(f *testing.F) {
	addFiles(f, "testdata/inbound_request/*.in.json")
	f.Add([]byte(`{"model":"a","mod\u0065l":"b","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x","TEXT":"y"}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := RequestToOpenAI(nil, body, Target{})
		if err != nil {
			return
		}
		if !jsonValid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := namesOnce(dec, requestNames); err != nil {
			t.Fatalf("accepted %q: %v", body, err)
		}
	})
}

// namesOnce walks the next value of dec, described by s (nil: not read),
// and fails when an object s describes has two members whose decoded names
// equal, ignoring case, one of s's names.
func namesOnce(dec *json.Decoder, s *jsonscan.Schema) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('['):
		for dec.More() {
			if err := namesOnce(dec, s); err != nil {
				return err
			}
		}
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key := kt.(string)
			var sub *jsonscan.Schema
			for i := 0; s != nil && i < s.Names.Len(); i++ {
				if n := s.Names.Name(i); strings.EqualFold(key, n) {
					if seen[n] {
						return fmt.Errorf("two members named %q", n)
					}
					seen[n] = true
					if key == n {
						sub = s.Sub(i)
					}
				}
			}
			if err := namesOnce(dec, sub); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token()
	return err
}

// FuzzMessageFromCompletion: any completion body translates to valid JSON
// or fails.
func FuzzMessageFromCompletion(f *testing.F) {
	addFiles(f, "testdata/inbound_response/*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := MessageFromCompletion(nil, body)
		if err == nil && !jsonValid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
	})
}

// FuzzMessageStream: arbitrary source bytes end the stream, every data line
// valid JSON.
func FuzzMessageStream(f *testing.F) {
	addFiles(f, "testdata/inbound_stream/*.sse")
	f.Fuzz(func(t *testing.T, in []byte) {
		out := drain(t, NewMessageStream(newSliceStream(in, len(in)%2 == 0), "m"))
		validSSE(t, out)
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
