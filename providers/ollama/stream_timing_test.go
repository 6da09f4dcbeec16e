package ollama

import (
	"testing"

	"github.com/aigateway/gateway/providers"
)

// BenchmarkStreamChunk measures one OpenAI chunk out of Ollama's NDJSON:
// steadyLines yields three chunks from four lines (one is an empty delta).
func BenchmarkStreamChunk(b *testing.B) {
	s := newSteadyStream(b)
	b.SetBytes(int64(len(steadyLines) / 3))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendRequest measures translating a short chat request.
func BenchmarkAppendRequest(b *testing.B) {
	body := []byte(`{"model":"llama3.2","messages":[{"role":"system","content":"You are a helpful coding assistant."},{"role":"user","content":"Write a function that reverses a string in Go, with tests."}],"temperature":0.2,"max_tokens":512,"stream":true}`)
	r := decode(b, body)
	call := &providers.Call{Req: r, Model: "llama3.2"}
	buf, _ := appendRequest(nil, call, 0)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		buf, _ = appendRequest(buf[:0], call, 0)
	}
}
