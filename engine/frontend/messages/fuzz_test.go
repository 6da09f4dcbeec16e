package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
)

func addFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(glob)
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
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
		if !json.Valid(out) {
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
		out, err := FromCompletion(nil, body)
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON out: %s", out)
		}
	})
}

// FuzzMessageStream: arbitrary source bytes end the stream, every data line
// valid JSON.
func FuzzMessageStream(f *testing.F) {
	addFiles(f, "testdata/inbound_stream/*.sse")
	f.Fuzz(func(t *testing.T, in []byte) {
		out := drain(t, NewStream(newSliceStream(in, len(in)%2 == 0), "m"))
		validSSE(t, out)
	})
}
