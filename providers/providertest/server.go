// Package providertest holds fake upstreams for tests and benchmarks: real
// fasthttp servers on 127.0.0.1 that speak each provider's wire format byte
// for byte, record what they received, and can be told to fail, stall or
// pace their streams.
package providertest

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Server is a fake upstream listening on a loopback port.
type Server struct {
	ln  net.Listener
	srv *fasthttp.Server
	URL string // http://127.0.0.1:PORT

	mu       sync.Mutex
	requests []Recorded

	// Hits counts requests received.
	Hits atomic.Int64
	// Closed counts streams whose client went away before the stream ended.
	Closed atomic.Int64
	// Active counts streams in progress.
	Active atomic.Int64
	// Conns counts accepted connections.
	Conns atomic.Int64
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// Recorded is one request the fake received.
type Recorded struct {
	Method, Path string
	Header       map[string]string
	Body         []byte
}

// Start serves h on a new loopback listener. Close it when done.
func Start(h fasthttp.RequestHandler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, URL: "http://" + ln.Addr().String()}
	s.srv = &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			s.Hits.Add(1)
			s.record(ctx)
			h(ctx)
		},
		ReadTimeout:     30 * time.Second,
		CloseOnShutdown: true,
		Name:            "providertest",
	}
	go func() { _ = s.srv.Serve(countingListener{ln, &s.Conns}) }()
	return s, nil
}

func (s *Server) record(ctx *fasthttp.RequestCtx) {
	r := Recorded{Method: string(ctx.Method()), Path: string(ctx.RequestURI()), Header: map[string]string{}, Body: append([]byte(nil), ctx.PostBody()...)}
	for k, v := range ctx.Request.Header.All() {
		r.Header[string(k)] = string(v)
	}
	s.mu.Lock()
	if len(s.requests) >= 1000 {
		// Keep the most recent requests: drop the older half.
		s.requests = append(s.requests[:0], s.requests[500:]...)
	}
	s.requests = append(s.requests, r)
	s.mu.Unlock()
}

// Requests returns the requests received so far (the most recent ones, when
// more than 1,000 arrived).
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.requests...)
}

// Last returns the last request received.
func (s *Server) Last() Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Recorded{}
	}
	return s.requests[len(s.requests)-1]
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Shutdown() }
