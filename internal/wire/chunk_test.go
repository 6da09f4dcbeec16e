package wire

import (
	"testing"
)

func TestNextChunk(t *testing.T) {
	type step struct {
		chunk string
		done  bool
	}
	tests := []struct {
		name string
		ev   string
		want []step
	}{
		{"one chunk", "data: {\"a\":1}\n", []step{{`{"a":1}`, false}}},
		{"no trailing newline", `data: {"a":1}`, []step{{`{"a":1}`, false}}},
		{"crlf and spaces", "data:  {\"a\":1} \r\n", []step{{`{"a":1}`, false}}},
		{"comment, id and event lines skipped", ": keep-alive\nid: 3\nevent: x\ndata: {\"b\":2}\n", []step{{`{"b":2}`, false}}},
		{"done", "data: [DONE]\n", []step{{"", true}}},
		{"chunk then done", "data: {\"a\":1}\ndata: [DONE]\n", []step{{`{"a":1}`, false}, {"", true}}},
		{"invalid and non-object data skipped", "data: {\"a\":\ndata: [1,2]\ndata: \"s\"\ndata: {\"c\":3}\n", []step{{`{"c":3}`, false}}},
		{"two chunks", "data: {\"a\":1}\n\ndata: {\"a\":2}\n", []step{{`{"a":1}`, false}, {`{"a":2}`, false}}},
		{"empty", "", nil},
		{"data without a space", "data:{\"a\":1}\n", []step{{`{"a":1}`, false}}},
		{"not data", "datum: {\"a\":1}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := []byte(tt.ev)
			var got []step
			for {
				chunk, rest, done := NextChunk(ev)
				if chunk == nil && !done {
					break
				}
				got = append(got, step{string(chunk), done})
				if done {
					break
				}
				ev = rest
			}
			if len(got) != len(tt.want) {
				t.Fatalf("steps %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("step %d: %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestNextChunkAllocs(t *testing.T) {
	ev := []byte(": ping\ndata: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n")
	n := testing.AllocsPerRun(100, func() {
		rest := ev
		for {
			chunk, r, done := NextChunk(rest)
			if done || chunk == nil {
				return
			}
			rest = r
		}
	})
	if n != 0 {
		t.Fatalf("NextChunk allocates %.1f times per event", n)
	}
}
