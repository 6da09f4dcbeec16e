package anthropic

import (
	"io"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// cycleReader serves a message_start once and then the same event forever.
type cycleReader struct {
	head, ev []byte
	off      int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(c.head) > 0 {
			k := copy(p[n:], c.head)
			c.head = c.head[k:]
			n += k
			continue
		}
		k := copy(p[n:], c.ev[c.off:])
		c.off = (c.off + k) % len(c.ev)
		n += k
	}
	return n, nil
}

var _ io.Reader = (*cycleReader)(nil)

const (
	startEvent = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-20250514\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n"
	textEvent = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello \\\"world\\\", how are you today?\"}}\n\n"
	argsEvent = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\": \\\"San\"}}\n\n"
)

func newCycling(ev string) *Translator {
	var tr Translator
	tr.Reset(&cycleReader{head: []byte(startEvent), ev: []byte(ev)}, "anthropic", "chatcmpl-1", 1, "claude", false)
	return &tr
}

// TestDeltaAllocs proves the steady-state text and argument delta paths
// allocate nothing.
func TestDeltaAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, tt := range []struct{ name, ev string }{{"text", textEvent}, {"args", argsEvent}} {
		t.Run(tt.name, func(t *testing.T) {
			tr := newCycling(tt.ev)
			for range 10 { // role chunk, buffers warm
				if _, err := tr.Next(); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(1000, func() {
				if _, err := tr.Next(); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per delta, want 0", allocs)
			}
		})
	}
}

func BenchmarkStreamTextDelta(b *testing.B) {
	benchDelta(b, textEvent)
}

func BenchmarkStreamArgsDelta(b *testing.B) {
	benchDelta(b, argsEvent)
}

func benchDelta(b *testing.B, ev string) {
	tr := newCycling(ev)
	for range 10 {
		_, _ = tr.Next()
	}
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	body := []byte(`{"model":"claude","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"What's the weather in Paris?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},` +
		`{"role":"tool","tool_call_id":"toolu_1","content":"18C"}],"tools":` + weatherTool + `,"temperature":0.5,"max_tokens":100}`)
	r := providers.AcquireRequest()
	if err := r.Decode(body); err != nil {
		b.Fatal(err)
	}
	call := testCall(r)
	var dst []byte
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, _, err = appendRequest(dst[:0], call); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResponse(b *testing.B) {
	body := []byte(`{"id":"msg_01Aq9w938a90dw8q","model":"claude-sonnet-4-20250514","stop_reason":"tool_use","role":"assistant","type":"message","content":[{"type":"text","text":"I'll check the current weather in San Francisco for you."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA"}}],"usage":{"input_tokens":472,"output_tokens":89}}`)
	var rb respBuf
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c := providers.Completion{}
		if err := parseMessage(body, &c, reqInfo{}, &rb); err != nil {
			b.Fatal(err)
		}
		rb.out = c.AppendJSON(rb.out[:0])
	}
}
