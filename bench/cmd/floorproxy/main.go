// Command floorproxy is the benchmark's floor: a bare fasthttp reverse
// proxy with no policy, no decode, no accounting, run pinned like the
// gateway. The same load through it and through the gateway, in the same
// run, separates what the extra loopback hop costs on one core (accept,
// two reads and two writes per request, the scheduler) from the gateway's
// own work.
//
// Usage:
//
//	floorproxy -upstream 127.0.0.1:18081 [-listen 127.0.0.1:0]
//
// It forwards every request to the upstream over kept-alive connections,
// relaying a response body as it arrives (streams included), prints
// "listening on ADDR" once it accepts connections and exits on SIGTERM or
// SIGINT.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address (port 0 picks a free port)")
	upstream := flag.String("upstream", "", "upstream host:port")
	flag.Parse()
	if *upstream == "" {
		fmt.Fprintln(os.Stderr, "floorproxy: -upstream is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorproxy:", err)
		os.Exit(1)
	}
	srv := &fasthttp.Server{Handler: proxy(*upstream), NoDefaultServerHeader: true, NoDefaultDate: true}
	fmt.Printf("listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		fmt.Fprintln(os.Stderr, "floorproxy:", err)
		os.Exit(1)
	case <-sig:
		_ = srv.Shutdown()
	}
}

// proxy forwards every request to upstream (host:port) and relays the
// answer.
func proxy(upstream string) fasthttp.RequestHandler {
	hc := &fasthttp.HostClient{Addr: upstream, MaxConns: 4096, StreamResponseBody: true}
	return func(ctx *fasthttp.RequestCtx) {
		req := &ctx.Request
		req.Header.Del("Connection")
		resp := fasthttp.AcquireResponse()
		if err := hc.Do(req, resp); err != nil {
			fasthttp.ReleaseResponse(resp)
			ctx.Error("upstream: "+err.Error(), fasthttp.StatusBadGateway)
			return
		}
		resp.Header.Del("Connection")
		resp.Header.CopyTo(&ctx.Response.Header)
		// The body is read as it arrives and handed to fasthttp, which
		// flushes what it has read: a stream's events pass through as
		// they come, a plain answer keeps its Content-Length.
		ctx.SetBodyStream(&released{resp: resp}, resp.Header.ContentLength())
	}
}

// released reads the upstream body and releases the response (its
// connection back to the pool) when fasthttp closes the stream.
type released struct{ resp *fasthttp.Response }

func (r *released) Read(p []byte) (int, error) { return r.resp.BodyStream().Read(p) }

func (r *released) Close() error {
	err := r.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(r.resp)
	return err
}
