package engine

import (
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bench/mockup"
	"github.com/aigateway/gateway/bench/payload"
)

// BenchmarkChatHandler measures the gateway's own work for one non-streaming
// request answered by the in-process mock: auth, decode, the Wasm request
// chain, cache decision, provider call, response and access log. It is the
// per-request overhead without the network.
func BenchmarkChatHandler(b *testing.B) {
	// The harness's upstreams: its mock (bench/mockup) on loopback behind
	// the providers the harness configures, for the rows whose cost is in
	// the provider path (the router sends "auto" to Ollama).
	mock := mockup.New(mockup.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	msrv := mock.Server()
	go func() { _ = msrv.Serve(ln) }()
	defer func() { _ = msrv.Shutdown() }()
	mockURL := "http://" + ln.Addr().String()
	harness := "[providers.openai]\nbase_url = \"" + mockURL + "/v1\"\napi_key = \"sk-bench\"\n\n" +
		"[providers.ollama]\nbase_url = \"" + mockURL + "\"\n"
	small := []byte(`{"model":"mock/lorem","temperature":0.7,"messages":[{"role":"system","content":"You are a helpful coding assistant."},{"role":"user","content":"Write a haiku about goroutines."}]}`)
	for _, tc := range []struct {
		name, toml string
		body       []byte
	}{
		{"default", "", small},
		{"no-policies", "[optimize]\nstrip_ide_boilerplate = false\nfile_hash_cache = false\n", small},
		// The benchmark harness's 100 KiB coding prompt and its "auto" row.
		{"coding-100k", "", payload.Chat("mock/lorem", false, 100<<10)},
		// The harness's row sends it with the cache bypassed.
		{"coding-100k-bypass", "", payload.Chat("mock/lorem", false, 100<<10)},
		{"auto", "", payload.Chat("auto", false, 0)},
		// The harness's nonstream-c64 and auto-wasm-c64 rows, over loopback
		// to its mock: an OpenAI passthrough, and "auto" with Ollama
		// configured (the router picks the local tier).
		{"harness-nonstream-bypass", harness, payload.Chat("openai/gpt-4o-mini", false, 0)},
		{"harness-auto-bypass", harness, payload.Chat("auto", false, 0)},
		{"harness-coding-100k-bypass", harness, payload.Chat("openai/gpt-4o-mini", false, 100<<10)},
		// The harness's stream-c64 row: 23 events relayed to the client
		// (here io.Discard, through the exchange's streamBody).
		{"harness-stream-bypass", harness, payload.Chat("openai/gpt-4o-mini", true, 0)},
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
			body := tc.body
			var req fasthttp.Request
			req.Header.SetMethod("POST")
			req.SetRequestURI("/v1/chat/completions")
			req.Header.SetContentType("application/json")
			req.SetBody(body)
			if strings.HasSuffix(tc.name, "-bypass") {
				req.Header.Set("X-Gateway-Cache", "bypass")
			}
			var ctx fasthttp.RequestCtx
			// Warm: the first requests compile the lazily loaded built-ins
			// (the router on its first call) and fill the pools; a run of
			// 300 would otherwise average a one-time compile into each.
			stream := strings.Contains(tc.name, "stream")
			for range 20 {
				ctx.Init(&req, nil, nil)
				h(&ctx)
				if stream {
					_ = ctx.Response.BodyWriteTo(io.Discard)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				ctx.Init(&req, nil, nil)
				h(&ctx)
				if ctx.Response.StatusCode() != 200 {
					b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
				if stream {
					_ = ctx.Response.BodyWriteTo(io.Discard)
				}
			}
			// CPU time of the whole process per request (background work
			// such as the ledger's included): on a shared machine the
			// wall-clock ns/op measures the other tenants too.
			b.ReportMetric(float64(cpuTime()-cpu0)/1e3/float64(b.N), "cpu-us/op")
		})
	}
}
