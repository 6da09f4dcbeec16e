package engine

import (
	"io"
	"log/slog"
	"math"
	"net"
	"runtime"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bench/mockup"
	"github.com/aigateway/gateway/bench/payload"
)

// TestPassthroughAllocs: the harness's non-stream rows, through the real
// providers to the benchmark's mock upstream on loopback (OpenAI's and
// Ollama's wire formats, bench/mockup), allocate at most one object per
// request in the whole process once warm: the OpenAI passthrough, and
// "auto" routed by the built-in router to Ollama. The provider's Response,
// its release and the copied model names were three to five more. The
// harness's 100 KiB coding prompt (113 KB of JSON) allocates less than
// 8 KiB per request: no copy of the body or of its decoded text is made
// per request once the pooled buffers have grown (a copy per request
// would be 100 KiB or more).
func TestPassthroughAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	mock := mockup.New(mockup.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	msrv := mock.Server()
	go func() { _ = msrv.Serve(ln) }()
	defer func() { _ = msrv.Shutdown() }()
	mockURL := "http://" + ln.Addr().String()
	toml := "[providers.openai]\nbase_url = \"" + mockURL + "/v1\"\napi_key = \"sk-bench\"\n\n" +
		"[providers.ollama]\nbase_url = \"" + mockURL + "\"\n"
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"openai", payload.Chat("openai/gpt-4o-mini", false, 0)},
		{"auto-ollama", payload.Chat("auto", false, 0)},
		{"openai-100KiB", payload.Chat("openai/gpt-4o-mini", false, 100<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Defaults()
			if err := decodeStrict(toml, &cfg); err != nil {
				t.Fatal(err)
			}
			cfg.DataDir = sharedDataDir
			if err := cfg.Validate(func(string) string { return "" }); err != nil {
				t.Fatal(err)
			}
			srv, err := New(&cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Shutdown(t.Context())
			srv.SetAccessLog(io.Discard)
			h := srv.Handler()
			var req fasthttp.Request
			req.Header.SetMethod("POST")
			req.SetRequestURI("/v1/chat/completions")
			req.Header.SetContentType("application/json")
			req.Header.Set("X-Gateway-Cache", "bypass") // as the harness sends it
			req.SetBody(tc.body)
			var ctx fasthttp.RequestCtx
			for range 50 { // warm: pools, connections, the router's compile
				ctx.Init(&req, nil, nil)
				h(&ctx)
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
			// The counts are the process's (the mock, the ledger writer
			// and any parallel test included): the least of ten batches'
			// means, as background allocations only ever add.
			const batches, runs = 10, 50
			var before, after runtime.MemStats
			n, bytes := math.Inf(1), math.Inf(1)
			for range batches {
				var mallocs, total uint64
				for range runs {
					ctx.Init(&req, nil, nil)
					runtime.ReadMemStats(&before)
					h(&ctx)
					runtime.ReadMemStats(&after)
					mallocs += after.Mallocs - before.Mallocs
					total += after.TotalAlloc - before.TotalAlloc
				}
				n = min(n, float64(mallocs)/runs)
				bytes = min(bytes, float64(total)/runs)
			}
			const budget, bytesBudget = 1, 8 << 10
			if n > budget {
				t.Fatalf("%s: a request allocates %.1f times, budget %d", tc.name, n, budget)
			}
			if bytes > bytesBudget {
				t.Fatalf("%s: a request allocates %.0f bytes, budget %d", tc.name, bytes, bytesBudget)
			}
			t.Logf("per %s request: %.2f allocations, %.0f bytes", tc.name, n, bytes)
		})
	}
}
