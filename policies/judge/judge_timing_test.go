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

// longConversation returns an OpenAI request body of about size bytes
// whose last user message asks for code, and a 4 KiB answer with prose, a
// list and a code block.
func longConversation(size int) (request, response []byte) {
	msgs := []map[string]any{{"role": "system", "content": "You are a senior Go engineer."}}
	turn := strings.Repeat("The handler reads the id, loads the order and encodes it as JSON. ", 30)
	for i := 0; len(turn)*len(msgs) < size-2000; i++ {
		msgs = append(msgs, map[string]any{"role": "user", "content": "Turn " + strconv.Itoa(i) + ": " + turn},
			map[string]any{"role": "assistant", "content": "Noted (" + strconv.Itoa(i) + ")."})
	}
	msgs = append(msgs, map[string]any{"role": "user", "content": "Now write a function that validates the order id and returns a typed error."})
	request, _ = json.Marshal(map[string]any{"model": "ollama/qwen2.5-coder", "messages": msgs})
	var b strings.Builder
	b.WriteString("Validation belongs at the edge, before the store is touched:\n\n")
	for i := 0; b.Len() < 1500; i++ {
		b.WriteString("- Check number " + strconv.Itoa(i) + " rejects a malformed id before any query runs.\n")
	}
	b.WriteString("\n```go\n")
	for i := 0; b.Len() < 4000; i++ {
		b.WriteString("\tif id <= 0 {\n\t\treturn ErrInvalidID\n\t}\n")
	}
	b.WriteString("```\n\nEach error is a sentinel the handler maps to a 400.")
	response = chat(b.String(), "stop")
	return request, response
}

func benchInput(b *testing.B) (*wasm.Input, int) {
	req, resp := longConversation(64 << 10)
	in := policytest.RequestInput(b, req)
	in.Response = resp
	return in, len(req) + len(resp)
}

// BenchmarkJudgeHost runs the committed module through the Wasm host on a
// 64 KiB request and a 4 KiB answer.
func BenchmarkJudgeHost(b *testing.B) {
	ctx := context.Background()
	h := newHost(b, "")
	in, n := benchInput(b)
	var out wasm.Output
	if err := h.Run(ctx, abi.StageResponse, in, &out); err != nil || !out.Verdict.Set || out.Verdict.Escalate {
		b.Fatalf("warm-up: %v %s", err, out.AppendText(nil))
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		if err := h.Run(ctx, abi.StageResponse, in, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJudgeNative runs the same call through the Go code in-process.
func BenchmarkJudgeNative(b *testing.B) {
	configure(nil)
	in, n := benchInput(b)
	var out wasm.Output
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		wasm.RunNative("judge", abi.StageResponse, nil, in, &out, onResponse)
	}
}
