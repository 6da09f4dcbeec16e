package engine

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// Defence against slow and hostile clients, below fasthttp: the listener
// keeps accepting after errors, a connection must send its first byte in
// time, and a write that makes no progress is cut.
//
// fasthttp's Serve returns on the first accept error it does not know
// (EMFILE among them), which used to end the process: a few thousand silent
// connections were enough. Its ReadTimeout covers the first request, but
// it is sized for bodies (60 s), not for a client that never speaks; and
// its WriteTimeout covers a whole response, which a stream of minutes must
// not have, so a client that stops reading held its provider slot forever.

var (
	acceptErrors    = metrics.NewCounter(`gateway_accept_errors_total`)
	firstByteClosed = metrics.NewCounter(`gateway_conns_closed_total{reason="first_byte_timeout"}`)
	writeStalled    = metrics.NewCounter(`gateway_conns_closed_total{reason="write_timeout"}`)
	headerTooLarge  = metrics.NewCounter(`gateway_errors_total{code="header_too_large"}`)
)

const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// acceptLogEvery bounds the accept-error log to one line per interval.
	acceptLogEvery = 10 * time.Second
)

// guardedListener wraps the server's listener.
//
// # Notes
//
// Accept is called by fasthttp's accept loop alone.
type guardedListener struct {
	net.Listener
	firstByte time.Duration // 0: none
	stall     time.Duration // 0: none
	log       *slog.Logger
	lastLog   time.Time
	// sleep is time.Sleep; tests observe the back-off through it.
	sleep func(time.Duration)
}

func newGuardedListener(ln net.Listener, cfg *Config, log *slog.Logger) *guardedListener {
	return &guardedListener{Listener: ln, firstByte: cfg.FirstByteTimeout.D(), stall: cfg.WriteTimeout.D(), log: log, sleep: time.Sleep}
}

// Accept returns the next connection. Errors other than a closed listener
// (too many open files, a connection aborted before it was accepted, no
// buffer space) are waited out with a back-off from 5 ms to 1 s, since
// each is transient or cured by connections closing, which the deadlines
// below make sure of.
func (l *guardedListener) Accept() (net.Conn, error) {
	delay := time.Duration(0)
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return newGuardedConn(c, l.firstByte, l.stall), nil
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		acceptErrors.Inc()
		if delay == 0 {
			delay = acceptBackoffMin
		} else if delay *= 2; delay > acceptBackoffMax {
			delay = acceptBackoffMax
		}
		if now := time.Now(); now.Sub(l.lastLog) >= acceptLogEvery {
			l.lastLog = now
			l.log.Error("accept failed; retrying", "err", err.Error(), "backoff", delay.String())
		}
		l.sleep(delay)
	}
}

// guardedConn is an accepted connection with a first-byte deadline and a
// per-write stall deadline.
//
// # Notes
//
// fasthttp reads, writes and sets deadlines from the connection's one
// goroutine; waiting is atomic only because Close may come from another.
type guardedConn struct {
	net.Conn
	// waiting is set until the first byte arrives; asked is the read
	// deadline fasthttp set meanwhile, restored then.
	waiting  atomic.Bool
	deadline time.Time
	asked    time.Time
	stall    time.Duration
}

func newGuardedConn(c net.Conn, firstByte, stall time.Duration) *guardedConn {
	g := &guardedConn{Conn: c, stall: stall}
	if firstByte > 0 {
		g.deadline = time.Now().Add(firstByte)
		g.waiting.Store(true)
		_ = c.SetReadDeadline(g.deadline)
	}
	return g
}

// SetReadDeadline keeps the first-byte deadline until the first byte.
func (c *guardedConn) SetReadDeadline(t time.Time) error {
	if c.waiting.Load() {
		c.asked = t
		if t.IsZero() || t.After(c.deadline) {
			t = c.deadline
		}
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline is SetReadDeadline and SetWriteDeadline.
func (c *guardedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *guardedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.waiting.Load() {
		if n > 0 {
			c.waiting.Store(false)
			if derr := c.Conn.SetReadDeadline(c.asked); derr != nil && err == nil {
				err = derr
			}
		} else if isTimeout(err) {
			firstByteClosed.Inc()
		}
	}
	return n, err
}

// Write gives every write stall to make progress: a client that stops
// reading a stream is cut after it, which ends the stream, cancels the
// upstream and frees the provider slot (streamBody.WriteTo).
func (c *guardedConn) Write(p []byte) (int, error) {
	if c.stall > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(c.stall)); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		if isTimeout(err) {
			writeStalled.Inc()
		}
		// The response is cut mid-body, its framing lost; fasthttp would
		// keep the connection for another request (it does not fail the
		// connection on a body stream's error), so end it here.
		_ = c.Conn.Close()
	}
	return n, err
}

// Lingering close, as nginx does it (lingering_close): a request whose
// body is over max_body_bytes is answered 413 before its body is read, and
// a connection closed with unread bytes is reset, which on most clients
// (undici, the OpenAI Node SDK's fetch, among them) loses the answer: the
// upload fails with a broken pipe instead. So the connection of such an
// answer is half-closed after it and read to the end, at most lingerTime
// in all and lingerIdle between reads, before it is closed.
const (
	lingerTime = 30 * time.Second
	lingerIdle = 5 * time.Second
)

var (
	// lingering holds the connections (connKey) to close lingering;
	// lingerPending counts them, so that Close looks only when one is.
	lingering     sync.Map
	lingerPending atomic.Int64
)

// connKey names a connection by its two ends: fasthttp may wrap the
// guardedConn (a per-IP counter), so the handler cannot reach it, but
// both see the same addresses.
func connKey(local, remote net.Addr) string {
	return local.String() + "|" + remote.String()
}

// lingerOnClose asks for the connection of ctx to be closed lingering.
func lingerOnClose(ctx *fasthttp.RequestCtx) {
	if _, loaded := lingering.LoadOrStore(connKey(ctx.LocalAddr(), ctx.RemoteAddr()), struct{}{}); !loaded {
		lingerPending.Add(1)
	}
}

// Close closes the connection, lingering first when lingerOnClose asked.
func (c *guardedConn) Close() error {
	if lingerPending.Load() > 0 {
		if _, ok := lingering.LoadAndDelete(connKey(c.Conn.LocalAddr(), c.Conn.RemoteAddr())); ok {
			lingerPending.Add(-1)
			c.linger()
		}
	}
	return c.Conn.Close()
}

// linger sends FIN (the answer is complete) and reads what the client
// still sends until it closes, stops, or lingerTime runs out.
func (c *guardedConn) linger() {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	end := time.Now().Add(lingerTime)
	buf := make([]byte, 32<<10)
	for {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		d := now.Add(lingerIdle)
		if d.After(end) {
			d = end
		}
		if err := c.Conn.SetReadDeadline(d); err != nil {
			return
		}
		if _, err := c.Conn.Read(buf); err != nil {
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}

// relativeRedirect rewrites the Location of the router's case- and
// slash-fixing redirects, which fasthttp makes absolute from the client's
// Host header, to the path and query alone: a forged Host cannot send a
// client (or a cache in front) elsewhere.
func relativeRedirect(ctx *fasthttp.RequestCtx) {
	loc := ctx.Response.Header.Peek("Location")
	if len(loc) == 0 || loc[0] == '/' && (len(loc) == 1 || loc[1] != '/') {
		return
	}
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if err := u.Parse(nil, loc); err != nil {
		ctx.Response.Header.Set("Location", "/")
		return
	}
	rel := u.RequestURI()
	// "//host/path" would be protocol-relative, another host again.
	for len(rel) > 1 && rel[0] == '/' && rel[1] == '/' {
		rel = rel[1:]
	}
	ctx.Response.Header.SetBytesV("Location", rel)
}
