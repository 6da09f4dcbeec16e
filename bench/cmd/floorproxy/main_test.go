package main

import (
	"bytes"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/bench/mockup"
	"github.com/aigateway/gateway/bench/payload"
)

// serve runs h on a loopback listener and returns its address.
func serve(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// TestProxyRelaysWhatTheMockSends: through the floor, a plain answer
// arrives byte for byte with its Content-Length, and a stream arrives whole
// (every event, [DONE] last), over kept-alive connections; an unreachable
// upstream is a 502.
func TestProxyRelaysWhatTheMockSends(t *testing.T) {
	mockAddr := serve(t, mockup.New(mockup.Config{}).Server().Handler)
	floorAddr := serve(t, proxy(mockAddr))
	c := &fasthttp.Client{}
	do := func(addr string, stream bool) (int, []byte, int) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.Header.SetMethod("POST")
		req.SetRequestURI("http://" + addr + "/v1/chat/completions")
		req.Header.SetContentType("application/json")
		req.SetBody(payload.Chat("gpt-4o-mini", stream, 0))
		if err := c.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode(), append([]byte(nil), resp.Body()...), resp.Header.ContentLength()
	}
	for range 3 { // more than one request per connection
		for _, stream := range []bool{false, true} {
			ds, direct, dlen := do(mockAddr, stream)
			fs, floor, flen := do(floorAddr, stream)
			if ds != 200 || fs != 200 || !bytes.Equal(direct, floor) {
				t.Fatalf("stream %v: direct %d %q, floor %d %q", stream, ds, direct, fs, floor)
			}
			if !stream && flen != dlen {
				t.Fatalf("Content-Length %d through the floor, %d direct", flen, dlen)
			}
			if stream && (!bytes.HasSuffix(floor, []byte("data: [DONE]\n\n")) || bytes.Count(floor, []byte("data: ")) < 20) {
				t.Fatalf("stream through the floor: %q", floor)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	if s, _, _ := do(serve(t, proxy(dead)), false); s != fasthttp.StatusBadGateway {
		t.Fatalf("unreachable upstream: status %d, want 502", s)
	}
}
