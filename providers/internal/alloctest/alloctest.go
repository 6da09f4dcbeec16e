// Package alloctest is what the providers' allocation tests share: a
// loopback upstream that answers fixed bytes without allocating, and a
// counter of the allocations of one Chat call, so that what a test counts
// is the client's own.
package alloctest

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/aigateway/gateway/providers"
)

// Answer is one fixed reply: its Content-Type and body.
type Answer struct {
	Type string
	Body []byte
}

// Upstream serves stream to the requests streaming says ask for one and
// answer to the others, on a loopback listener closed with tb; it returns
// the base URL.
func Upstream(tb testing.TB, streaming func(*fasthttp.RequestCtx) bool, answer, stream Answer) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		a := answer
		if streaming(ctx) {
			a = stream
		}
		ctx.SetContentType(a.Type)
		ctx.SetBody(a.Body)
	}}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// AcceptIs reports requests whose Accept header is accept (how most clients
// ask for a stream).
func AcceptIs(accept string) func(*fasthttp.RequestCtx) bool {
	return func(ctx *fasthttp.RequestCtx) bool { return string(ctx.Request.Header.Peek("Accept")) == accept }
}

// Repeat is first, n copies of event, then last: a stream's body.
func Repeat(first, event string, n int, last string) []byte {
	b := []byte(first)
	for range n {
		b = append(b, event...)
	}
	return append(b, last...)
}

// ChatAllocs makes call through p until its pools are warm, then returns
// the allocations of one call: the answer read to its end (a stream's
// every event) and closed. check sees every call's usage and whether it
// streamed; it fails the test on a wrong answer.
func ChatAllocs(t *testing.T, p providers.Provider, call *providers.Call, check func(u providers.Usage, streamed bool)) float64 {
	t.Helper()
	one := func() {
		resp, err := p.Chat(context.Background(), call)
		if err != nil {
			t.Fatal(err)
		}
		u := resp.Usage
		if resp.Stream != nil {
			for {
				if _, err := resp.Stream.Next(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			u = resp.Stream.Usage()
		}
		check(u, resp.Stream != nil)
		resp.Close()
	}
	for range 50 {
		one()
	}
	return testing.AllocsPerRun(500, one)
}
