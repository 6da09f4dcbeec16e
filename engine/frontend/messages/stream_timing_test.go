package messages

import (
	"testing"

	"github.com/aigateway/gateway/providers"
)

// loopStream yields the same OpenAI chunk forever.
type loopStream struct{ ev []byte }

func (l *loopStream) Next() ([]byte, error)  { return l.ev, nil }
func (l *loopStream) Usage() providers.Usage { return providers.Usage{} }
func (l *loopStream) Close() error           { return nil }

const openAIChunk = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello \"world\", how are you today?"},"logprobs":null,"finish_reason":null}]}` + "\n\n"

// BenchmarkMessageStreamTextDelta measures the inbound direction: one
// OpenAI content chunk in, one Anthropic content_block_delta out.
func BenchmarkMessageStreamTextDelta(b *testing.B) {
	m := NewStream(&loopStream{ev: []byte(openAIChunk)}, "m")
	for range 10 {
		_, _ = m.Next()
	}
	b.SetBytes(int64(len(openAIChunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMessageStreamAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	m := NewStream(&loopStream{ev: []byte(openAIChunk)}, "m")
	for range 10 {
		_, _ = m.Next()
	}
	if a := testing.AllocsPerRun(1000, func() { _, _ = m.Next() }); a != 0 {
		t.Errorf("%v allocations per delta, want 0", a)
	}
}
