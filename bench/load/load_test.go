package load

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func TestCheckInvalidRule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		r       Result
		valid   bool
		contain string
	}{
		{name: "clean", r: Result{Requests: 10}, valid: true},
		{name: "one-error", r: Result{Requests: 1000, Errors: 1, ErrorSamples: []string{"dial tcp: refused"}}, contain: "1 errors"},
		{name: "one-non2xx", r: Result{Requests: 1000, Statuses: map[string]int64{"503": 1}}, contain: "503×1"},
		{name: "unsent", r: Result{Requests: 10, Errors: 3, Unsent: 3}, contain: "not sent"},
		{name: "nothing", r: Result{}, contain: "no request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.r.Check()
			if tc.r.Valid != tc.valid {
				t.Fatalf("valid = %v (%s), want %v", tc.r.Valid, tc.r.Invalid, tc.valid)
			}
			if !strings.Contains(tc.r.Invalid, tc.contain) {
				t.Errorf("reason %q lacks %q", tc.r.Invalid, tc.contain)
			}
		})
	}
}

func TestClosedLoop(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		n.Add(1)
		ctx.Response.Header.Set("X-Gateway-Cache", "hit-memory")
		ctx.SetBodyString(`{"choices":[]}`)
	})
	tests := []struct {
		name      string
		o         Options
		valid     bool
		exactReqs int64
	}{
		{name: "ok", o: Options{Target: Target{URL: url + "/x", Body: []byte(`{}`), Expect: "choices", ExpectHeader: "X-Gateway-Cache: hit"}, Connections: 4, Duration: 300 * time.Millisecond, Warmup: 20 * time.Millisecond}, valid: true},
		{name: "max-requests", o: Options{Target: Target{URL: url + "/x"}, Connections: 2, Duration: 10 * time.Second, MaxRequests: 50}, valid: true, exactReqs: 50},
		{name: "expect-fails", o: Options{Target: Target{URL: url + "/x", Expect: "nope"}, Connections: 1, Duration: 30 * time.Millisecond}},
		{name: "header-fails", o: Options{Target: Target{URL: url + "/x", ExpectHeader: "X-Gateway-Cache: miss"}, Connections: 1, Duration: 30 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Now()
			res, err := Run(context.Background(), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(t0) > 5*time.Second {
				t.Errorf("run took %v", time.Since(t0))
			}
			if res.Valid != tc.valid {
				t.Fatalf("valid = %v (%s) %+v", res.Valid, res.Invalid, res)
			}
			if tc.valid && (res.Latency.Count != uint64(res.Requests) || res.RPS <= 0) {
				t.Errorf("latency count %d, requests %d, rps %v", res.Latency.Count, res.Requests, res.RPS)
			}
			if tc.exactReqs > 0 && res.Requests != tc.exactReqs {
				t.Errorf("requests = %d, want %d", res.Requests, tc.exactReqs)
			}
		})
	}
}

func TestNon2xxInvalidates(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		// Every second request: even a run that a loaded machine slows to
		// a handful of requests sees one.
		if n.Add(1)%2 == 0 {
			ctx.SetStatusCode(503)
			ctx.SetBodyString(`{"error":{"message":"busy"}}`)
			return
		}
		ctx.SetBodyString("ok")
	})
	res, err := Run(context.Background(), Options{Target: Target{URL: url}, Connections: 2, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid || res.Statuses["503"] == 0 || !strings.Contains(res.Invalid, "503") {
		t.Fatalf("run with 503s reported valid=%v statuses=%v reason=%q", res.Valid, res.Statuses, res.Invalid)
	}
	// Transport errors too: nothing listens on this port once closed.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	res, err = Run(context.Background(), Options{Target: Target{URL: "http://" + addr}, Connections: 1, Duration: 20 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid || res.Errors == 0 {
		t.Fatalf("refused connections reported valid=%v errors=%d", res.Valid, res.Errors)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	url := serve(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := 0; i < 5; i++ {
				_, _ = w.WriteString("data: {\"i\":1}\n\n")
				_ = w.Flush()
				time.Sleep(2 * time.Millisecond)
			}
			_, _ = w.WriteString("data: [DONE]\n\n")
		})
	})
	res, err := Run(context.Background(), Options{Target: Target{URL: url, Body: []byte(`{"stream":true}`), Stream: true, Expect: "[DONE]"}, Connections: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid {
		t.Fatalf("invalid: %s", res.Invalid)
	}
	if res.EventsPerReply != 6 {
		t.Errorf("events per reply %v, want 6", res.EventsPerReply)
	}
	if res.TTFB == nil || res.TTFB.Count != uint64(res.Requests) || res.Gap == nil || res.Gap.Count < uint64(res.Requests)*4 {
		t.Errorf("ttfb %+v gap %+v for %d requests", res.TTFB, res.Gap, res.Requests)
	}
	if res.Gap.P50 < 1000 { // µs: the server pauses 2 ms between events
		t.Errorf("gap p50 %v µs, want about 2000", res.Gap.P50)
	}
	if res.TTFB.P50 >= res.Latency.P50 {
		t.Errorf("ttfb %v not below latency %v", res.TTFB.P50, res.Latency.P50)
	}
}

// stallServer answers at once except during one window, starting 100 ms after
// its first request, in which every request is held until the window ends.
func stallServer(t *testing.T, stall time.Duration) string {
	var first atomic.Int64
	return serve(t, func(ctx *fasthttp.RequestCtx) {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		from := first.Load() + int64(100*time.Millisecond)
		if now >= from && now < from+int64(stall) {
			time.Sleep(time.Duration(from + int64(stall) - now))
		}
		ctx.SetBodyString("ok")
	})
}

// TestOpenLoopCountsStalls is the coordinated-omission test: a server that
// stalls for 300 ms in a 600 ms run at 1,000 requests/s delays about half of
// the scheduled requests, and an open-loop run must show it in its upper
// percentiles. A closed loop over the same stall sees one slow request per
// connection and reports a clean p90.
func TestOpenLoopCountsStalls(t *testing.T) {
	t.Parallel()
	const stall = 300 * time.Millisecond
	open, err := Run(context.Background(), Options{Target: Target{URL: stallServer(t, stall)}, Rate: 1000, Connections: 2, Duration: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !open.Valid {
		t.Fatalf("invalid: %s", open.Invalid)
	}
	if open.Requests < 550 || open.Requests > 600 {
		t.Errorf("open loop completed %d requests, want about 600", open.Requests)
	}
	// Requests scheduled during the stall waited up to 300 ms: about half
	// of them, spread evenly, so p90 is near 240 ms.
	if open.Latency.P90 < 120_000 || open.Latency.Max < 250_000 {
		t.Errorf("open-loop p90 %.0f µs, max %.0f µs: the stall is hidden (coordinated omission)", open.Latency.P90, open.Latency.Max)
	}
	if open.StartLag == nil || open.StartLag.P90 < 100_000 {
		t.Errorf("start lag %+v should show the backlog", open.StartLag)
	}

	closed, err := Run(context.Background(), Options{Target: Target{URL: stallServer(t, stall)}, Connections: 2, Duration: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if closed.Latency.Max < 200_000 {
		t.Errorf("closed loop did not meet the stall at all: max %.0f µs", closed.Latency.Max)
	}
	if closed.Latency.P90 > 50_000 {
		t.Errorf("closed-loop p90 %.0f µs: expected the stall to hide in a handful of requests", closed.Latency.P90)
	}
}

func TestOpenLoopRateAndBounds(t *testing.T) {
	t.Parallel()
	url := serve(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") })
	res, err := Run(context.Background(), Options{Target: Target{URL: url}, Rate: 2000, Connections: 8, Warmup: 50 * time.Millisecond, Duration: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Valid || res.Requests != 500 {
		t.Fatalf("valid=%v requests=%d (%s), want exactly 500 scheduled in the window", res.Valid, res.Requests, res.Invalid)
	}
	if res.RPS < 1900 || res.RPS > 2100 {
		t.Errorf("rps %v, want 2000", res.RPS)
	}
	// A server that never answers: every request times out or is left
	// unsent, the run ends within its bound and is invalid.
	block := make(chan struct{})
	slow := serve(t, func(ctx *fasthttp.RequestCtx) { <-block })
	t.Cleanup(func() { close(block) }) // before the server's Shutdown, which waits for handlers
	t0 := time.Now()
	res, err = Run(context.Background(), Options{Target: Target{URL: slow}, Rate: 1000, Connections: 2, Duration: 100 * time.Millisecond, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("run against a dead server took %v", el)
	}
	if res.Valid || res.Unsent == 0 {
		t.Errorf("dead server: valid=%v unsent=%d errors=%d", res.Valid, res.Unsent, res.Errors)
	}
}

func TestRefusesRemote(t *testing.T) {
	t.Parallel()
	_, err := Run(context.Background(), Options{Target: Target{URL: "http://10.1.2.3:80/"}, Duration: time.Millisecond})
	if !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("err = %v, want ErrNotLoopback", err)
	}
}

// TestSpeedMeasuresThreadCPU: the speed probe reads a thread CPU clock
// that moves (0 would leave every round unclassified), and more work
// costs more of it.
func TestSpeedMeasuresThreadCPU(t *testing.T) {
	if least := Speed(5); least <= 0 {
		t.Fatalf("Speed = %v: the thread CPU clock did not move", least)
	}
	t0 := threadCPU()
	for range 20 {
		Speed(1)
	}
	if threadCPU() <= t0 {
		t.Fatal("threadCPU did not advance over 20 probes")
	}
}
