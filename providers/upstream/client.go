// Package upstream is the HTTP client every provider uses: one fasthttp
// HostClient per base URL, with a stream-aware read deadline and
// cancellation that closes the upstream connection.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Options configures a Client.
type Options struct {
	// ConnectTimeout bounds dialing (default 10s).
	ConnectTimeout time.Duration
	// IdleTimeout bounds the silence between two reads of a streaming
	// response, headers included (default 60s).
	IdleTimeout time.Duration
	// MaxConns bounds open connections to the upstream (default 512).
	MaxConns int
	// MaxResponseBytes bounds a non-streaming body (default 64 MiB).
	MaxResponseBytes int
}

// Client sends requests to one upstream base URL.
//
// # Notes
//
// Safe for concurrent use. A non-streaming call is bounded by its own timeout;
// a streaming call by the idle timeout between reads, which the connection
// wrapper applies whenever no whole-call deadline is set.
type Client struct {
	hc     *fasthttp.HostClient
	scheme string
	host   string // Host header value
	prefix string // base path without trailing slash, e.g. "/v1"
	idle   time.Duration
}

// New returns a Client for baseURL ("https://api.openai.com/v1").
func New(baseURL string, o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("parse base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("base URL %q: scheme must be http or https", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("base URL %q has no host", baseURL)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 512
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = 64 << 20
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	c := &Client{scheme: u.Scheme, host: u.Host, prefix: u.Path, idle: o.IdleTimeout}
	dialer := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	c.hc = &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         u.Scheme == "https",
		MaxConns:                      o.MaxConns,
		MaxIdleConnDuration:           30 * time.Second,
		MaxResponseBodySize:           o.MaxResponseBytes,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: false,
		DisablePathNormalizing:        true,
		Dial: func(a string) (net.Conn, error) {
			conn, err := dialer.Dial("tcp", a)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: conn, idle: c.idle}, nil
		},
	}
	return c, nil
}

// URL appends the absolute URL of path (relative to the base) to dst.
func (c *Client) URL(dst []byte, path string) []byte {
	dst = append(dst, c.scheme...)
	dst = append(dst, "://"...)
	dst = append(dst, c.host...)
	dst = append(dst, c.prefix...)
	return append(dst, path...)
}

// Do sends req and reads the whole response within timeout, or by ctx's
// deadline when that comes first. A ctx already done fails at once.
func (c *Client) Do(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d); left < timeout || timeout <= 0 {
			if left <= 0 {
				return context.DeadlineExceeded
			}
			timeout = left
		}
	}
	return c.hc.DoTimeout(req, resp, timeout)
}

// DoStream sends req and returns once the response headers have arrived;
// resp.BodyStream() then yields the body. Every read, the header read
// included, is bounded by the idle timeout. Close the body stream with
// CloseBodyStream (or Cancel) when done.
func (c *Client) DoStream(ctx context.Context, req *fasthttp.Request, resp *fasthttp.Response) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	resp.StreamBody = true
	return c.hc.Do(req, resp)
}

// Cancel aborts a streamed response: the upstream connection is closed at
// once, a blocked read returns. Safe to call from any goroutine, repeatedly.
func Cancel(resp *fasthttp.Response) {
	if rc, ok := resp.BodyStream().(fasthttp.ReadCloserWithError); ok {
		_ = rc.CloseWithError(errCanceled)
	}
}

var errCanceled = errors.New("stream canceled")

// Finish ends a streamed response: when the body was read to its end
// (clean), the connection goes back to the pool for the next request;
// otherwise it is closed (Cancel). Safe to call after Cancel.
func Finish(resp *fasthttp.Response, clean bool) {
	if !clean {
		Cancel(resp)
		return
	}
	_ = resp.CloseBodyStream()
}

// Release ends a pooled call's exchange: a streamed response is finished
// (Finish: its connection reused when clean, closed otherwise), then the
// request and the response go back to fasthttp's pools. A nil resp means
// none was acquired: nothing to release; a nil req was released already
// (Sent).
func Release(req *fasthttp.Request, resp *fasthttp.Response, streamed, clean bool) {
	if resp == nil {
		return
	}
	if streamed {
		Finish(resp, clean)
	}
	if req != nil {
		fasthttp.ReleaseRequest(req)
	}
	fasthttp.ReleaseResponse(resp)
}

// Sent gives a streamed call's request back to fasthttp's pool once DoStream
// returned (the request is written and the answer's headers are in), and
// returns nil for the caller to store: the request's headers and any body
// it holds are not needed while the answer streams, which can last
// minutes; a thousand open streams held a thousand of them.
func Sent(req *fasthttp.Request) *fasthttp.Request {
	if req != nil {
		fasthttp.ReleaseRequest(req)
	}
	return nil
}

// maxErrorBody bounds the error answer read from a streamed response.
const maxErrorBody = 1 << 20

// ErrorBody reads the body of a streamed response that failed (a non-2xx
// status), at most 1 MiB, and ends the stream: the connection goes back to
// the pool when the body was read to its end, and is closed otherwise. The
// returned bytes are the caller's.
func ErrorBody(resp *fasthttp.Response) []byte {
	lr := io.LimitedReader{R: resp.BodyStream(), N: maxErrorBody + 1}
	body, err := io.ReadAll(&lr)
	clean := err == nil && len(body) <= maxErrorBody
	if !clean && len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	Finish(resp, clean)
	return body
}

// maxTail bounds what Tail.Drain reads after a stream's last event.
const maxTail = 64 << 10

// Tail tracks the end of a streamed body, so that a stream that ended
// cleanly gives its connection back to the pool: once the stream has seen
// its last event, Drain reads what is left of the body (the chunked
// terminator, a trailing newline) and Clean then reports whether the body
// ended. Embed it in a stream; Finish(resp, tail.Clean()) on release.
//
// # Notes
//
// Reset and Drain are called from the goroutine that reads the stream;
// Clean may be called from any goroutine (a Close that runs concurrently
// with a blocked Drain sees false and cancels, which unblocks the read).
type Tail struct {
	body  io.Reader
	lim   io.LimitedReader // kept here so that draining allocates nothing
	clean atomic.Bool
}

// Reset prepares t for body.
func (t *Tail) Reset(body io.Reader) {
	t.body = body
	t.clean.Store(false)
}

// Drain reads the rest of the body, at most 64 KiB, after the stream's
// last event; it reports whether the body ended. Later calls do nothing.
func (t *Tail) Drain() bool {
	if t.body == nil {
		return t.clean.Load()
	}
	t.lim = io.LimitedReader{R: t.body, N: maxTail + 1}
	n, err := io.Copy(io.Discard, &t.lim)
	t.body, t.lim.R = nil, nil
	ok := err == nil && n <= maxTail
	t.clean.Store(ok)
	return ok
}

// Clean reports whether the body was read to its end after the last event.
func (t *Tail) Clean() bool { return t.clean.Load() }

// IsTimeout reports whether err is a timeout (dial, read or whole-call).
func IsTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// idleConn applies the idle timeout to every read when fasthttp set no
// whole-call deadline (streaming calls), and fasthttp's deadline otherwise.
type idleConn struct {
	net.Conn
	idle time.Duration
	hard atomic.Int64 // unix nanos of fasthttp's read deadline; 0 = none
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		c.hard.Store(0)
	} else {
		c.hard.Store(t.UnixNano())
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *idleConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.hard.Load() == 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

var _ io.Reader = (*idleConn)(nil)
