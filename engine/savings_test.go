package engine

import (
	"io"
	"log/slog"
	"math"
	"runtime"
	"testing"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/valyala/fasthttp"
)

// TestSavingsCountAfterAnswerAllocs: a request whose prompt the stripper
// edits is answered without counting a token (tiktoken allocates for every
// token it encodes, and its ranks are ~20 MB): the handler hands the count to
// the accountant, which credits the savings after the answer is sent. The
// handler's allocations are measured with the accountant held, so that they
// are the request's alone.
func TestSavingsCountAfterAnswerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	cfg := Defaults()
	cfg.DataDir = sharedDataDir
	cfg.Cache.Enabled = false
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
	req.SetBody([]byte(`{"model":"mock/echo","messages":[{"role":"system","content":"You are Continue."},{"role":"user","content":"<|im_start|>user\nHow do I read a file line by line in Go?<|im_end|>\n"}]}`))
	var ctx fasthttp.RequestCtx
	for range 20 { // warm: pools, buffers, the tokenizer
		ctx.Init(&req, nil, nil)
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	srv.acct.Wait()

	// Hold the accountant: requests queue up, uncounted.
	live := srv.acct
	held := accounting.NewHeldAccountant()
	srv.acct = held
	defer func() { srv.acct = live }()
	drain := func() (strip int) {
		held.Drain(func(j accounting.Job) {
			x := j.(*exchange)
			if x.stripTokens != 0 {
				t.Fatal("the handler counted the tokens")
			}
			s, _ := x.removed.Count()
			strip = max(strip, s)
		})
		return strip
	}
	ctx.Init(&req, nil, nil)
	h(&ctx)
	if n := held.Queued(); n != 1 {
		t.Fatalf("%d requests waiting for their count after the answer, want 1", n)
	}
	if strip := drain(); strip <= 0 {
		t.Fatalf("the accountant counted %d stripped tokens, want > 0", strip)
	}

	// Per request: the handler's mallocs alone, the held accountant then
	// drained outside the measurement (so that the exchange goes back to
	// its pool, as in steady state).
	// The counts are the process's: a goroutine of another test running
	// in parallel allocates now and then. The least of ten batches' means
	// is this handler's (background allocations only ever add).
	const batches, runs = 10, 20
	var before, after runtime.MemStats
	n := math.Inf(1)
	for range batches {
		var mallocs uint64
		for range runs {
			ctx.Init(&req, nil, nil)
			runtime.ReadMemStats(&before)
			h(&ctx)
			runtime.ReadMemStats(&after)
			mallocs += after.Mallocs - before.Mallocs
			drain()
		}
		n = min(n, float64(mallocs)/runs)
	}
	// The request's own allocation is the stripper's edit record; counting
	// its removed tokens inline cost about a hundred more (regexp2
	// matches, token slices), and the mock provider's closure, Response
	// and answer copy were three more until they were pooled.
	const budget = 3
	if n > budget {
		t.Fatalf("a stripped request allocates %.1f times in the handler, budget %d", n, budget)
	}
	t.Logf("handler allocations per stripped request: %.1f", n)
}
