package engine

import (
	"io"
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkChatHandler measures the gateway's own work for one non-streaming
// request answered by the in-process mock: auth, decode, the Wasm request
// chain, cache decision, provider call, response and access log. It is the
// per-request overhead without the network.
func BenchmarkChatHandler(b *testing.B) {
	for _, tc := range []struct {
		name, toml string
	}{
		{"default", ""},
		{"no-policies", "[optimize]\nstrip_ide_boilerplate = false\nfile_hash_cache = false\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := Defaults()
			if err := decodeStrict(tc.toml, &cfg); err != nil {
				b.Fatal(err)
			}
			cfg.DataDir = sharedDataDir
			if err := cfg.Validate(func(string) string { return "" }); err != nil {
				b.Fatal(err)
			}
			srv, err := New(&cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			srv.SetAccessLog(io.Discard)
			h := srv.Handler()
			body := []byte(`{"model":"mock/lorem","temperature":0.7,"messages":[{"role":"system","content":"You are a helpful coding assistant."},{"role":"user","content":"Write a haiku about goroutines."}]}`)
			var req fasthttp.Request
			req.Header.SetMethod("POST")
			req.SetRequestURI("/v1/chat/completions")
			req.Header.SetContentType("application/json")
			req.SetBody(body)
			var ctx fasthttp.RequestCtx
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ctx.Init(&req, nil, nil)
				h(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
		})
	}
}
