package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// fixedIDs makes NewID deterministic for the golden files: the n-th id's
// bytes are all n. Tests that use it do not run in parallel.
func fixedIDs(t *testing.T) {
	n := byte(0)
	randRead = func(b []byte) (int, error) {
		n++
		for i := range b {
			b[i] = n
		}
		return len(b), nil
	}
	t.Cleanup(func() { randRead = defaultRandRead })
}

var defaultRandRead = randRead

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenRequest: Responses request in → normalised input items and
// the canonical chat request out.
func TestGoldenRequest(t *testing.T) {
	for name, path := range providertest.Inputs(t, "request", ".in.json") {
		t.Run(name, func(t *testing.T) {
			fixedIDs(t)
			r, err := Parse(read(t, path))
			if err != nil {
				t.Fatal(err)
			}
			chat, err := r.AppendChat(nil, r.Input)
			if err != nil {
				t.Fatal(err)
			}
			var req providers.Request
			if err := req.Decode(chat); err != nil {
				t.Fatalf("the canonical request refuses the translation: %v\n%s", err, chat)
			}
			out := append([]byte(`{"input_items":[`), bytes.Join(r.Input, []byte(","))...)
			out = append(append(append(out, `],"chat":`...), chat...), '}')
			providertest.Golden(t, strings.TrimSuffix(path, ".in.json")+".golden.json", providertest.IndentJSON(t, out), *update)
		})
	}
}

func testMeta(t *testing.T) *Meta {
	r, err := Parse([]byte(`{"model":"m","input":"x","instructions":"Be brief.","max_output_tokens":100}`))
	if err != nil {
		t.Fatal(err)
	}
	return &Meta{ID: "resp_test", CreatedAt: 1741569952, Model: "fallback-model", Req: r}
}

// TestGoldenResponse: chat completion in → response object out.
func TestGoldenResponse(t *testing.T) {
	for name, path := range providertest.Inputs(t, "response", ".in.json") {
		t.Run(name, func(t *testing.T) {
			fixedIDs(t)
			got, err := FromCompletion(nil, read(t, path), testMeta(t))
			if err != nil {
				t.Fatal(err)
			}
			providertest.Golden(t, strings.TrimSuffix(path, ".in.json")+".golden.json", providertest.IndentJSON(t, got), *update)
		})
	}
}

// eventStream replays OpenAI SSE bytes one event per Next.
type eventStream struct {
	events [][]byte
	closed bool
}

func (s *eventStream) Next() ([]byte, error) {
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return ev, nil
}
func (s *eventStream) Usage() providers.Usage { return providers.Usage{} }
func (s *eventStream) Close() error           { s.closed = true; return nil }

func newEventStream(b []byte) *eventStream {
	s := &eventStream{}
	for _, ev := range bytes.SplitAfter(b, []byte("\n\n")) {
		if len(ev) > 0 {
			s.events = append(s.events, ev)
		}
	}
	return s
}

// TestGoldenStream: chunk stream in → Responses events out; every event's
// data is a JSON object whose type is its event name and whose
// sequence_number counts from 0.
func TestGoldenStream(t *testing.T) {
	for name, path := range providertest.Inputs(t, "stream", ".in.sse") {
		t.Run(name, func(t *testing.T) {
			fixedIDs(t)
			var final []byte
			s := NewStream(newEventStream(read(t, path)), testMeta(t))
			s.OnComplete = func(r []byte) { final = append([]byte(nil), r...) }
			var out []byte
			for {
				b, err := s.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, b...)
			}
			seq := 0
			for _, ev := range strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n") {
				name, data, ok := strings.Cut(ev, "\n")
				var v struct {
					Type string `json:"type"`
					Seq  int    `json:"sequence_number"`
				}
				if !ok || json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &v) != nil ||
					"event: "+v.Type != name || v.Seq != seq {
					t.Fatalf("bad event %d: %q", seq, ev)
				}
				seq++
			}
			if (final != nil) != (name == "text" || name == "tools" || name == "length") || (final != nil && !bytes.Equal(final, s.Final())) {
				t.Fatalf("OnComplete got %s", final)
			}
			providertest.Golden(t, filepath.Join("testdata", "stream", name+".golden.sse"), out, *update)
		})
	}
}
