package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, r *Reader) []string {
	t.Helper()
	var out []string
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(ev.Name)+"|"+string(ev.Data))
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     []string
	}{
		{"openai", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []string{`|{"a":1}`, "|[DONE]"}},
		{"crlf", "data: x\r\n\r\ndata: y\r\n\r\n", []string{"|x", "|y"}},
		{"anthropic names", "event: message_start\ndata: {}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n", []string{"message_start|{}", `ping|{"type": "ping"}`}},
		{"multi-line data", "data: a\ndata: b\n\n", []string{"|a\nb"}},
		{"comments and unknown fields", ": hi\nid: 3\nretry: 10\ndata:nospace\n\n", []string{"|nospace"}},
		{"no trailing blank line", "data: last", []string{"|last"}},
		{"name without data is dropped", "event: x\n\ndata: y\n\n", []string{"|y"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// One byte at a time too: framing must not depend on read sizes.
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				got := readAll(t, NewReader(r, 0))
				if strings.Join(got, "\x00") != strings.Join(tc.want, "\x00") {
					t.Fatalf("got %q want %q", got, tc.want)
				}
			}
		})
	}
}

func TestReaderLimit(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("data: "+strings.Repeat("x", 10000)+"\n\n"), 4096)
	if _, err := r.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestLines(t *testing.T) {
	t.Parallel()
	l := NewLines(iotest.HalfReader(strings.NewReader("{\"a\":1}\n\n  \n{\"b\":2}\r\n{\"c\":3}")), 0)
	var got []string
	for {
		ln, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(ln))
	}
	if strings.Join(got, "|") != `{"a":1}|{"b":2}|{"c":3}` {
		t.Fatalf("got %q", got)
	}
}

// loopReader replays the same stream forever without allocating.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

const chunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"hello"},"logprobs":null,"finish_reason":null}]}` + "\n\n"

func TestReaderAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	r := NewReader(&loopReader{data: []byte(strings.Repeat(chunk, 10))}, 0)
	for range 20 {
		_, _ = r.Next()
	}
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Next allocates %.1f per event", n)
	}
}

func BenchmarkReader(b *testing.B) {
	r := NewReader(&loopReader{data: []byte(strings.Repeat(chunk, 10))}, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte(chunk+"data: [DONE]\n\n"), uint16(0))
	f.Add([]byte("event: a\r\ndata: b\r\n\r\n:c\n"), uint16(7))
	f.Fuzz(func(t *testing.T, in []byte, max uint16) {
		r := NewReader(bytes.NewReader(in), int(max))
		for range len(in) + 2 {
			if _, err := r.Next(); err != nil {
				break
			}
		}
		l := NewLines(bytes.NewReader(in), int(max))
		for range len(in) + 2 {
			if _, err := l.Next(); err != nil {
				break
			}
		}
	})
}

// eventReader returns one event per Read, as a slow upstream's stream does
// (events tens of milliseconds apart), forever.
type eventReader struct{ data []byte }

func (e eventReader) Read(p []byte) (int, error) { return copy(p, e.data), nil }

// TestLineBufferBytes: a stream read one event per read keeps the small
// starting buffer (what a thousand slow streams hold at once), a stream
// whose reads fill the buffer (data waiting) grows it to growBuffer and no
// further, and an event longer than that grows it to its size.
func TestLineBufferBytes(t *testing.T) {
	t.Parallel()
	long := "data: " + strings.Repeat("x", 3*growBuffer) + "\n\n"
	for _, tc := range []struct {
		name string
		r    io.Reader
		want int
	}{
		{name: "one event per read", r: eventReader{[]byte(chunk)}, want: startBuffer},
		{name: "reads fill the buffer", r: &loopReader{data: []byte(strings.Repeat(chunk, 100))}, want: growBuffer},
		{name: "an event longer than growBuffer", r: &loopReader{data: []byte(long)}, want: 4 * growBuffer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.r, 0)
			for range 200 {
				if _, err := r.Next(); err != nil {
					t.Fatal(err)
				}
			}
			if got := cap(r.lr.buf); got != tc.want {
				t.Fatalf("line buffer %d bytes after 200 events, want %d", got, tc.want)
			}
		})
	}
}
