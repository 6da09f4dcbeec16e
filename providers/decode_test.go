package providers

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aigateway/gateway/bench/payload"
)

// decodedView prints everything a decode exposes except the addresses of
// the buffers it aliases.
func decodedView(r *Request) string {
	c := *r
	c.Body, c.parts, c.toolCalls, c.ranges, c.scratch, c.retired, c.spare = nil, nil, nil, nil, nil, nil, nil
	return fmt.Sprintf("%+v", c)
}

// FuzzDecodeOnePass checks the one-pass decode against the two-step one
// that defines the decoder's answers: every body one accepts the other
// accepts, with the same result. The one pass refusing a body the checked
// decode accepts would not be wrong (decode falls back) but would make
// every such request pay twice, so it fails the test too.
func FuzzDecodeOnePass(f *testing.F) {
	f.Add([]byte(codingRequest))
	f.Add(payload.Chat("m", true, 2000))
	f.Add([]byte(`{"messages":[{"role":"user","content":"a\ud83d\ude00b\ud800c\u00e9\/\b\f\n\r\t\"\\"}]}`))
	f.Add([]byte(`{"model":"x","messages":[{"role":"user","content":[{"type":"text","text":"hi\n"}]},{"role":"assistant","tool_calls":[{"id":"1","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"1","content":"ok"}],"tools":[{"type":"function","function":{"name":"f"}}],"stop":["\n"]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":"x"}],"messages":[]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":"unterminated\u12`))
	f.Add([]byte(` {"messages" : [ {"content" : "x\"y" , "role" : "user" } ] } `))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"text":"a\n\u00e9\"b","type":"text","extra":1},{"type":"image_url","image_url":{"url":"data:x","detail":"low"}},{"type":"te\u0078t","text":"c"}]}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"text"},{"type":"image_url","image_url":"u"},{"type":1}]}]}`))
	f.Add(partsRequest(payload.Code(300)))
	if seeds, err := os.ReadDir("testdata"); err == nil {
		for _, e := range seeds {
			if b, err := os.ReadFile("testdata/" + e.Name()); err == nil && strings.HasSuffix(e.Name(), ".json") {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		one, two := AcquireRequest(), AcquireRequest()
		defer ReleaseRequest(one)
		defer ReleaseRequest(two)
		one.Body = append(one.Body[:0], body...)
		two.Body = append(two.Body[:0], body...)
		err1, err2 := one.decodeWalk(), two.decodeChecked()
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("one pass: %v, checked: %v, body %q", err1, err2, body)
		}
		if err1 == nil {
			if v1, v2 := decodedView(one), decodedView(two); v1 != v2 {
				t.Fatalf("body %q\none pass %s\nchecked  %s", body, v1, v2)
			}
		}
	})
}

// TestDecodeLargePromptAllocs decodes the benchmark harness's 100 KiB
// prompt, whose one string holds an escape every ten bytes, as a string
// content and as a text content part: the one-pass decode copies it into
// the request's own scratch buffer, which a pooled request keeps, so
// steady state allocates nothing.
func TestDecodeLargePromptAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"string", payload.Chat("mock/lorem", false, 100<<10)},
		{"parts", partsRequest(payload.Code(100 << 10))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			r := AcquireRequest()
			defer ReleaseRequest(r)
			if err := r.Decode(body); err != nil {
				t.Fatal(err)
			}
			n := testing.AllocsPerRun(50, func() {
				r.Reset()
				if err := r.Decode(body); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Fatalf("Decode of a 100 KiB prompt allocates %.1f times per request in steady state", n)
			}
			// The scratch buffer holds the decoded text and no more than
			// the body's length again.
			if c := cap(r.scratch); c > 2*len(body) {
				t.Fatalf("scratch grew to %d bytes for a %d-byte body", c, len(body))
			}
		})
	}
}
