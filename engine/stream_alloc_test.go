package engine

import (
	"io"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/openai"
)

// replayBody yields the same upstream SSE event left times, then [DONE].
type replayBody struct {
	chunk []byte
	left  int
	off   int
}

var doneEvent = []byte("data: [DONE]\n\n")

func (r *replayBody) Read(p []byte) (int, error) {
	if r.left < 0 {
		return 0, io.EOF
	}
	src := r.chunk
	if r.left == 0 {
		src = doneEvent
	}
	n := copy(p, src[r.off:])
	r.off += n
	if r.off == len(src) {
		r.off = 0
		r.left--
	}
	return n, nil
}

const relayChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}` + "\n\n"

// TestStreamRelayAllocs drives the engine's stream body (the event loop of
// the WriteTo fasthttp calls for every streamed answer; the accounting at
// its end is the handler's, measured with it) over the OpenAI relay:
// relaying 200 chunks must not allocate at all.
func TestStreamRelayAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	var relay openai.Relay
	body := &replayBody{chunk: []byte(relayChunk)}
	x := &exchange{resp: &providers.Response{Stream: &relay}, relay: &relay}
	var sb streamBody
	run := func() {
		body.left, body.off = 200, 0
		relay.Reset(body, false, "openai")
		sb.reset(x)
		if _, err := sb.relayTo(io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Fatalf("relaying 200 chunks allocates %.1f times", n)
	}
}

func BenchmarkStreamRelayChunk(b *testing.B) {
	var relay openai.Relay
	body := &replayBody{chunk: []byte(strings.Repeat(relayChunk, 1))}
	x := &exchange{resp: &providers.Response{Stream: &relay}, relay: &relay}
	var sb streamBody
	b.ReportAllocs()
	b.SetBytes(int64(len(relayChunk)))
	body.left = b.N + 1
	relay.Reset(body, false, "openai")
	sb.reset(x)
	b.ResetTimer()
	if _, err := sb.relayTo(io.Discard); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStreamRelayChunkPeeked is the relay as the engine runs it since
// the one call path: behind the peekedStream that replays the first event.
func BenchmarkStreamRelayChunkPeeked(b *testing.B) {
	var relay openai.Relay
	body := &replayBody{chunk: []byte(relayChunk)}
	body.left = b.N + 2
	relay.Reset(body, false, "openai")
	var p peekedStream
	if err := p.open(&providers.Response{Stream: &relay}); err != nil {
		b.Fatal(err)
	}
	x := &exchange{resp: &providers.Response{Stream: &p}, relay: &p}
	var sb streamBody
	b.ReportAllocs()
	b.SetBytes(int64(len(relayChunk)))
	sb.reset(x)
	b.ResetTimer()
	if _, err := sb.relayTo(io.Discard); err != nil {
		b.Fatal(err)
	}
}

// TestStreamCoalescesBufferedEvents: events that arrived together leave in
// one write; the bytes are the same as event by event.
func TestStreamCoalescesBufferedEvents(t *testing.T) {
	var relay openai.Relay
	// The upstream delivered every event at once.
	relay.Reset(strings.NewReader(strings.Repeat(relayChunk, 50)+"data: [DONE]\n\n"), false, "openai")
	x := &exchange{resp: &providers.Response{Stream: &relay}, relay: &relay}
	var sb streamBody
	sb.reset(x)
	var w countingWriter
	if _, err := sb.relayTo(&w); err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat(relayChunk, 50) + "data: [DONE]\n\n"
	if w.buf.String() != want {
		t.Fatalf("bytes differ from event-by-event relay")
	}
	if w.writes > 5 {
		t.Fatalf("%d writes for 51 events already buffered together", w.writes)
	}
	// Delivered one by one, each event is flushed on its own.
	relay.Reset(&replayBody{chunk: []byte(relayChunk), left: 50}, false, "openai")
	sb.reset(x)
	w = countingWriter{}
	if _, err := sb.relayTo(&w); err != nil {
		t.Fatal(err)
	}
	if w.writes != 51 || w.buf.String() != want {
		t.Fatalf("paced events: %d writes", w.writes)
	}
}

type countingWriter struct {
	buf    strings.Builder
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes++
	return c.buf.Write(p)
}
