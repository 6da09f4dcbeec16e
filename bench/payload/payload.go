// Package payload builds the request bodies the benchmark sends: an OpenAI
// chat request with a short question or a large coding prompt, and the same
// conversation in Anthropic's Messages format.
package payload

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Chat is an OpenAI Chat Completions request body. With promptBytes > 0 the
// user message carries a Go source file of about that many bytes and a
// coding question, as an IDE assistant would send.
func Chat(model string, stream bool, promptBytes int) []byte {
	return chat(model, stream, promptBytes, nil)
}

// ChatDeterministic is Chat with "temperature": 0, the request a response
// cache may answer (the gateway's cache mode "auto" stores only those).
func ChatDeterministic(model string, stream bool) []byte {
	return chat(model, stream, 0, map[string]any{"temperature": 0})
}

func chat(model string, stream bool, promptBytes int, extra map[string]any) []byte {
	msgs := []map[string]string{
		{"role": "system", "content": "You are a helpful assistant."},
		{"role": "user", "content": userText(promptBytes)},
	}
	req := map[string]any{"model": model, "messages": msgs, "max_tokens": 256}
	if stream {
		req["stream"] = true
	}
	for k, v := range extra {
		req[k] = v
	}
	b, _ := json.Marshal(req)
	return b
}

// Messages is the same conversation as an Anthropic Messages API request.
func Messages(model string, stream bool, promptBytes int) []byte {
	req := map[string]any{
		"model":      model,
		"system":     "You are a helpful assistant.",
		"messages":   []map[string]string{{"role": "user", "content": userText(promptBytes)}},
		"max_tokens": 256,
	}
	if stream {
		req["stream"] = true
	}
	b, _ := json.Marshal(req)
	return b
}

func userText(promptBytes int) string {
	if promptBytes <= 0 {
		return "Say hello in one sentence."
	}
	return "Review this file and suggest a fix for the race condition.\n\n```go\n" + Code(promptBytes) + "```\n"
}

// Code returns deterministic Go source of about n bytes.
func Code(n int) string {
	var sb strings.Builder
	sb.WriteString("package server\n\nimport (\n\t\"net/http\"\n\t\"sync\"\n)\n\n")
	for i := 0; sb.Len() < n; i++ {
		id := strconv.Itoa(i)
		sb.WriteString("// handler" + id + " serves /items/" + id + " from the shared cache.\n")
		sb.WriteString("func handler" + id + "(w http.ResponseWriter, r *http.Request) {\n")
		sb.WriteString("\tmu.Lock()\n\tv, ok := cache[\"item-" + id + "\"]\n\tmu.Unlock()\n")
		sb.WriteString("\tif !ok {\n\t\thttp.Error(w, \"not found\", http.StatusNotFound)\n\t\treturn\n\t}\n")
		sb.WriteString("\tw.Header().Set(\"Content-Type\", \"application/json\")\n\t_, _ = w.Write(v)\n}\n\n")
	}
	sb.WriteString("var (\n\tmu    sync.Mutex\n\tcache = map[string][]byte{}\n)\n")
	return sb.String()
}
