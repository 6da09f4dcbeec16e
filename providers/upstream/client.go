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
