package engine

import (
	"io"
	"log/slog"
	"testing"

	"github.com/valyala/fasthttp"
)

func BenchmarkCacheHitHandler(b *testing.B) {
	cfg := Defaults()
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
	body := []byte(`{"model":"mock/lorem","temperature":0,"messages":[{"role":"user","content":"Write a haiku about goroutines."}]}`)
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/v1/chat/completions")
	req.SetBody(body)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	h(&ctx)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ctx.Init(&req, nil, nil)
		h(&ctx)
		if string(ctx.Response.Header.Peek("X-Gateway-Cache")) != "hit-memory" {
			b.Fatalf("not a hit: %s", ctx.Response.Header.Peek("X-Gateway-Cache"))
		}
	}
}

// TestCacheHitAllocs: a non-streaming L1 hit, whole request (auth, decode,
// policies, cache lookup, rendering, metrics, access log), allocates nothing
// in the gateway in steady state; the one allocation measured is
// RequestCtx.Init's, which a real connection does not make.
func TestCacheHitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	cfg := Defaults()
	cfg.DataDir = sharedDataDir
	if err := cfg.Validate(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	srv, err := New(&cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAccessLog(io.Discard)
	h := srv.Handler()
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.SetRequestURI("/v1/chat/completions")
	req.SetBody([]byte(`{"model":"mock/lorem","temperature":0,"messages":[{"role":"user","content":"Write a haiku about goroutines."}]}`))
	var ctx fasthttp.RequestCtx
	for range 50 {
		ctx.Init(&req, nil, nil)
		h(&ctx)
	}
	if string(ctx.Response.Header.Peek("X-Gateway-Cache")) != "hit-memory" {
		t.Fatalf("not a hit: %s", ctx.Response.Header.Peek("X-Gateway-Cache"))
	}
	init := testing.AllocsPerRun(200, func() { ctx.Init(&req, nil, nil) })
	n := testing.AllocsPerRun(200, func() {
		ctx.Init(&req, nil, nil)
		h(&ctx)
	})
	if n-init > 0 {
		t.Fatalf("an L1 hit allocates %.1f times per request (RequestCtx.Init: %.1f)", n-init, init)
	}
}
