package semantic_test

import (
	"context"
	"fmt"

	"github.com/aigateway/gateway/engine/cache"
	"github.com/aigateway/gateway/engine/cache/semantic"
	"github.com/aigateway/gateway/providers"
)

func decode(body string) *providers.Request {
	r := new(providers.Request)
	if err := r.Decode([]byte(body)); err != nil {
		panic(err)
	}
	return r
}

// The engine's use: a lookup after the exact cache missed, a store once the
// upstream's answer is complete.
func Example() {
	ctx := context.Background()
	sem, err := semantic.New(semantic.Config{}) // the local embedder, threshold 0.95
	if err != nil {
		panic(err)
	}
	defer sem.Close()

	first := decode(`{"model":"gpt-4o","temperature":0,"messages":[
		{"role":"system","content":"You are terse."},
		{"role":"user","content":"What is a goroutine?"}]}`)
	if _, _, ok := sem.Lookup(ctx, first, "acme", "openai", "gpt-4o"); !ok {
		// A miss: the engine goes upstream; the exact cache assembles the answer.
		answer, _ := cache.ParseCompletion([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o",
			"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"A lightweight thread managed by the Go runtime."}}]}`), "gpt-4o")
		_ = sem.Store(ctx, first, "acme", "openai", "gpt-4o", answer)
	}

	for _, text := range []string{"what's a goroutine", "Hi! What is a goroutine, please?", "What is a channel?", "What is not a goroutine?"} {
		req := decode(`{"model":"gpt-4o","temperature":0,"messages":[
			{"role":"system","content":"You are terse."},
			{"role":"user","content":"` + text + `"}]}`)
		if e, sim, ok := sem.Lookup(ctx, req, "acme", "openai", "gpt-4o"); ok {
			fmt.Printf("%-34q X-Gateway-Cache: hit-semantic, similarity %s: %s\n", text, semantic.AppendSimilarity(nil, sim), e.Content)
		} else {
			fmt.Printf("%-34q miss\n", text)
		}
	}
	// Output:
	// "what's a goroutine"               X-Gateway-Cache: hit-semantic, similarity 1.0000: A lightweight thread managed by the Go runtime.
	// "Hi! What is a goroutine, please?" X-Gateway-Cache: hit-semantic, similarity 1.0000: A lightweight thread managed by the Go runtime.
	// "What is a channel?"               miss
	// "What is not a goroutine?"         miss
}
