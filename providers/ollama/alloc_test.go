package ollama

import (
	"testing"

	"github.com/aigateway/gateway/providers"
)

// loopReader replays data forever: an upstream that never finishes.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

// steadyLines is a realistic mix of content deltas: plain, escaped (the
// scratch path) and thinking.
const steadyLines = `{"model":"llama3.2","created_at":"2025-07-07T20:22:19.184789Z","message":{"role":"assistant","content":" the"},"done":false}
{"model":"llama3.2","created_at":"2025-07-07T20:22:19.194789Z","message":{"role":"assistant","content":" \u003cquick\u003e \"fox\"\n"},"done":false}
{"model":"llama3.2","created_at":"2025-07-07T20:22:19.204789Z","message":{"role":"assistant","content":"","thinking":" hmm"},"done":false}
{"model":"llama3.2","created_at":"2025-07-07T20:22:19.214789Z","message":{"role":"assistant","content":""},"done":false}
`

func newSteadyStream(tb testing.TB) *Stream {
	tb.Helper()
	r := decode(tb, []byte(`{"model":"llama3.2","messages":[{"role":"user","content":"x"}],"stream":true}`))
	s := new(Stream)
	s.Reset(&loopReader{data: []byte(steadyLines)}, &providers.Call{Req: r, Model: "llama3.2", ID: "chatcmpl-alloc", Created: 1751919739}, "ollama")
	// Warm up: the role chunk and buffer growth happen here.
	for range 100 {
		if _, err := s.Next(); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// TestStreamNextAllocs: Next allocates nothing per chunk in steady state.
func TestStreamNextAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := newSteadyStream(t)
	allocs := testing.AllocsPerRun(1000, func() {
		b, err := s.Next()
		if err != nil || len(b) == 0 {
			t.Fatalf("Next = %q, %v", b, err)
		}
	})
	if allocs != 0 {
		t.Errorf("Next allocates %.1f times per chunk, want 0", allocs)
	}
}

// TestAppendRequestAllocs: translating a request into a reused buffer
// allocates nothing.
func TestAppendRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := decode(t, []byte(`{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]},`+
		`{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"x\": 1}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}],`+
		`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"temperature":0.3,"stop":["x"],"max_tokens":9,"options":{"top_k":5},"keep_alive":"5m"}`))
	call := &providers.Call{Req: r, Model: "llama3.2"}
	buf, err := appendRequest(nil, call, 4096)
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = appendRequest(buf[:0], call, 4096)
	})
	if allocs != 0 {
		t.Errorf("appendRequest allocates %.1f times, want 0", allocs)
	}
}
