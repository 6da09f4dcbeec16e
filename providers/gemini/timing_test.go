package gemini

import (
	"testing"

	"github.com/aigateway/gateway/providers"
)

// cycleReader serves the same event forever.
type cycleReader struct {
	ev  []byte
	off int
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.ev[c.off:])
		c.off = (c.off + k) % len(c.ev)
		n += k
	}
	return n, nil
}

const textChunk = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hello \\\"world\\\", how are you today?\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"totalTokenCount\": 9},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"mF3VZ9reJ4Ktz7IPpO6vsAU\"}\r\n\r\n"

func newCycling() *Translator {
	var tr Translator
	tr.Reset(&cycleReader{ev: []byte(textChunk)}, "gemini", "chatcmpl-1", 1, "gemini", false)
	return &tr
}

// TestDeltaAllocs proves the steady-state text chunk path allocates nothing.
func TestDeltaAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	tr := newCycling()
	for range 10 {
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
		t.Errorf("%v allocations per chunk, want 0", allocs)
	}
}

func BenchmarkStreamTextChunk(b *testing.B) {
	tr := newCycling()
	for range 10 {
		_, _ = tr.Next()
	}
	b.SetBytes(int64(len(textChunk)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	body := []byte(`{"model":"gemini-2.0-flash","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"What's the weather in Paris?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"18C"}],"tools":` + weatherTool + `,"temperature":0.5,"max_tokens":100}`)
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
		if dst, err = appendRequest(dst[:0], call); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResponse(b *testing.B) {
	body := []byte(`{"candidates":[{"content":{"parts":[{"text":"Checking."},{"functionCall":{"name":"get_weather","args":{"location":"Paris"}}}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15},"modelVersion":"gemini-2.0-flash","responseId":"abc"}`)
	var rb respBuf
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c := providers.Completion{}
		if err := parseResponse(body, &c, &rb); err != nil {
			b.Fatal(err)
		}
		rb.out = c.AppendJSON(rb.out[:0])
	}
}
