package cache

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeStored: stored bytes come from Redis, which other processes
// write; any input must decode or fail cleanly, and what decodes must encode
// back to an equivalent entry.
func FuzzDecodeStored(f *testing.F) {
	k := Key{Project: "p", Provider: "openai", Model: "gpt-4o"}
	for _, e := range goldenEntries() {
		e := rebuild(f, e)
		f.Add(appendStored(nil, e, &k, 99, 0))
		f.Add(appendStored(nil, e, &k, 99, 1))
	}
	f.Add([]byte{magic, version, flagS2})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeStored(append([]byte(nil), b...))
		if err != nil {
			return
		}
		again, err := decodeStored(appendStored(nil, e, &Key{Project: e.Project, Provider: e.Provider, Model: e.UpstreamModel, Sum: e.sum}, e.Expires, 64))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if answerOf(again).Content != answerOf(e).Content || len(again.ToolCalls) != len(e.ToolCalls) {
			t.Fatal("round trip changed the entry")
		}
		if !json.Valid(e.AppendCompletion(nil, "x")) {
			t.Fatal("a decoded entry renders invalid JSON")
		}
	})
}

// FuzzAssembler: upstream streams are untrusted; whatever they contain, the
// assembler must not panic, and an entry it accepts must render valid JSON
// and replay as a stream that assembles to the same entry.
func FuzzAssembler(f *testing.F) {
	f.Add([]byte(openAIStream), 7)
	f.Add([]byte(contentChunk+argsChunk+"data: [DONE]\n\n"), 3)
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\\ud83d\\ude00\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"), 1)
	f.Fuzz(func(t *testing.T, b []byte, split int) {
		var a Assembler
		if split > 0 && split < len(b) {
			a.Write(b[:split])
			a.Write(b[split:])
		} else {
			a.Write(b)
		}
		e, err := a.Entry("m")
		if err != nil {
			return
		}
		if !json.Valid(e.AppendCompletion(nil, "x")) {
			t.Fatalf("accepted entry renders invalid JSON")
		}
		r := AcquireReplay(e, "x", true)
		sse := drain(t, r)
		ReleaseReplay(r)
		var back Assembler
		back.Write(sse)
		e2, err := back.Entry("m")
		if err != nil {
			t.Fatalf("replay does not assemble: %v\n%s", err, sse)
		}
		if string(e2.Content) != string(e.Content) || string(e2.Reasoning) != string(e.Reasoning) || len(e2.ToolCalls) != len(e.ToolCalls) {
			t.Fatalf("replay changed the entry")
		}
	})
}
