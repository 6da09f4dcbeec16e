package main

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/internal/policytest"
	"github.com/aigateway/gateway/wasm"
)

// agentRequest returns an OpenAI request body of about size bytes: an agent
// session that reads files with a tool and re-sends them in user messages,
// so that about two thirds of it is repeated; with unique, every copy differs by
// a line, so nothing is.
func agentRequest(size int, unique bool) []byte {
	file := func(n int) string {
		var b strings.Builder
		for i := 0; b.Len() < 4096; i++ {
			b.WriteString("func handler" + strconv.Itoa(n) + "_" + strconv.Itoa(i) + "(w http.ResponseWriter, r *http.Request) {\n\tw.WriteHeader(200)\n}\n")
		}
		return b.String()
	}
	msgs := []map[string]any{{"role": "system", "content": "You are a coding agent. Use the tools to read and edit files."}}
	total, n := 0, 0
	for total < size-6000 {
		f := file(n)
		read, again := f, f
		if unique {
			read, again = f+"// read\n", f+"// sent again\n"
		}
		path := "server/handler" + strconv.Itoa(n) + ".go"
		id := "call_" + strconv.Itoa(n)
		msgs = append(msgs,
			map[string]any{"role": "user", "content": "Look at " + path + ":\n\n```go " + path + "\n" + f + "```"},
			map[string]any{"role": "assistant", "content": nil, "tool_calls": []map[string]any{{"id": id, "type": "function",
				"function": map[string]any{"name": "read_file", "arguments": `{"path":"` + path + `"}`}}}},
			map[string]any{"role": "tool", "tool_call_id": id, "content": read},
			map[string]any{"role": "user", "content": "Again:\n\n```go " + path + "\n" + again + "```\nWhat does it do?"},
		)
		total += 3*len(f) + 200
		n++
	}
	body, _ := json.Marshal(map[string]any{"model": "auto", "messages": msgs})
	return body
}

func benchInput(b *testing.B, size int, unique bool) (*wasm.Input, int) {
	body := agentRequest(size, unique)
	return policytest.RequestInput(b, body), len(body)
}

// BenchmarkDedupHost runs the committed module through the Wasm host on a
// 64 KiB agent request (the figure the engine pays per request): with two
// thirds of it repeated, and with nothing repeated (the cost of looking).
func BenchmarkDedupHost(b *testing.B) {
	ctx := context.Background()
	h := newHost(b, "")
	for _, unique := range []bool{false, true} {
		name := "repeats"
		if unique {
			name = "unique"
		}
		b.Run(name, func(b *testing.B) {
			in, n := benchInput(b, 64<<10, unique)
			var out wasm.Output
			if err := h.Run(ctx, abi.StageRequest, in, &out); err != nil || out.Failed() || (len(out.Edits) == 0) != unique {
				b.Fatalf("warm-up: %v %s", err, out.AppendText(nil))
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				if err := h.Run(ctx, abi.StageRequest, in, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDedupNative runs the same request through the Go code
// in-process, for comparison.
func BenchmarkDedupNative(b *testing.B) {
	configure(nil)
	for _, unique := range []bool{false, true} {
		name := "repeats"
		if unique {
			name = "unique"
		}
		b.Run(name, func(b *testing.B) {
			in, n := benchInput(b, 64<<10, unique)
			var out wasm.Output
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				wasm.RunNative("dedup", abi.StageRequest, nil, in, &out, onRequest)
			}
		})
	}
}

// BenchmarkFindBlocks scans a 64 KiB message of path-hinted blocks, and one
// of unclosed tags (the linear-time guard).
func BenchmarkFindBlocks(b *testing.B) {
	for _, tc := range []struct {
		name string
		unit string
	}{
		{"blocks", "src/a.go\n```go\nfunc a() {}\n```\n"},
		{"unclosed-tags", "<file_content path=\"a.go\">\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			text := []byte(strings.Repeat(tc.unit, (64<<10)/len(tc.unit)))
			var blocks []block
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				blocks = findBlocks(text, blocks)
			}
		})
	}
}
