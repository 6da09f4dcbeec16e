package engine

import (
	"context"
	"io"
	"time"

	"github.com/aigateway/gateway/providers"

	"github.com/valyala/fasthttp"
)

// streamBody relays a provider stream to the client. fasthttp calls WriteTo
// after the handler returns, and frames each Write as one HTTP chunk that it
// flushes at once, so every event reaches the client as soon as it arrives,
// on the connection's own goroutine: no extra goroutine or pipe per stream.
//
// # Notes
//
// A failed Write means the client went away: the upstream is cancelled at
// once. fasthttp always calls Close when the response is done or abandoned;
// Close finishes the exchange. A stream that reached its end is accounted
// (its ledger row recorded) before WriteTo returns, so before fasthttp
// writes the chunked body's terminator: a client that saw the whole
// answer saw it after its row was journaled (docs/ledger.md).
type streamBody struct {
	x        *exchange
	coalesce []byte // events gathered for one write
	pending  []byte // for Read, when fasthttp does not use WriteTo
	eof      bool
	closed   bool
	settled  bool // accounted at the end of WriteTo; Close only releases
}

var _ fasthttp.BodyWriterTo = (*streamBody)(nil)

func (b *streamBody) reset(x *exchange) {
	b.x, b.pending, b.eof, b.closed, b.settled, b.coalesce = x, nil, false, false, false, b.coalesce[:0]
}

// SupportsBodyWriteTo tells fasthttp to use WriteTo.
func (b *streamBody) SupportsBodyWriteTo() bool { return true }

// next pulls one event and accounts for the time spent waiting upstream.
func (b *streamBody) next() ([]byte, error) {
	x := b.x
	t0 := time.Now()
	ev, err := x.relay.Next()
	now := time.Now()
	x.upstream += now.Sub(t0)
	if err == nil && x.ttft == 0 {
		x.ttft = now.Sub(x.start)
	}
	return ev, err
}

// maxCoalesce bounds the events gathered into one write.
const maxCoalesce = 32 << 10

// WriteTo relays events until the stream ends or the client leaves. Events
// the upstream already delivered together (the next one is buffered) go out
// in one write; an event whose successor is not there yet is flushed at once.
func (b *streamBody) WriteTo(w io.Writer) (int64, error) {
	n, err := b.relayTo(w)
	if b.eof {
		b.settleEarly()
	}
	return n, err
}

// relayTo is WriteTo's event loop: it ends at the stream's end (b.eof) or
// at a failed write.
func (b *streamBody) relayTo(w io.Writer) (int64, error) {
	var n int64
	pender, _ := b.x.relay.(providers.Pender)
	for {
		ev, err := b.next()
		if err == nil && pender != nil && pender.Pending() && len(b.coalesce)+len(ev) < maxCoalesce {
			b.coalesce = append(b.coalesce, ev...)
			continue
		}
		if len(b.coalesce) > 0 {
			if err == nil {
				b.coalesce = append(b.coalesce, ev...)
				ev = b.coalesce
			} else {
				m, werr := w.Write(b.coalesce)
				n += int64(m)
				b.coalesce = b.coalesce[:0]
				if werr != nil {
					b.clientGone()
					return n, werr
				}
			}
		}
		if err != nil {
			b.eof = true
			if err != io.EOF {
				streamUpstreamEr.Inc()
				if br := b.x.s.runner.Breakers(); br != nil {
					br.For(b.x.model.Provider, b.x.model.Upstream).Observe(providers.ErrUnavailable)
				}
			}
			return n, nil
		}
		m, werr := w.Write(ev)
		n += int64(m)
		b.coalesce = b.coalesce[:0]
		if werr != nil {
			b.clientGone()
			return n, werr
		}
	}
}

// Read is the fallback for connections that cannot use chunked framing.
func (b *streamBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		if b.eof {
			return 0, io.EOF
		}
		ev, err := b.next()
		if err != nil {
			b.eof = true
			return 0, io.EOF
		}
		b.pending = ev
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

func (b *streamBody) clientGone() {
	if !b.x.gone {
		b.x.gone = true
		streamDisconnect.Inc()
		_ = b.x.relay.Close()
	}
}

// settleEarly accounts for a stream that reached its end, unless its
// savings need the accountant (it runs after the answer and releases the
// exchange itself, so Close must finish as usual).
func (b *streamBody) settleEarly() {
	x := b.x
	if x.gone {
		return
	}
	x.usage = x.relay.Usage()
	if x.countsRemoved() {
		return
	}
	b.semStore()
	b.settled = x.settle()
}

func (b *streamBody) semStore() {
	x := b.x
	if x.semStore && b.eof && !x.gone {
		if e, _ := x.s.cache.Get(&x.ckey); e != nil {
			_ = x.s.sem.StoreTTL(context.Background(), x.req, x.cacheNamespace(), x.model.Provider, x.model.Upstream, e, x.semTTL)
		}
	}
}

// Close finishes the exchange; fasthttp calls it once the response is done.
func (b *streamBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	x := b.x
	if b.settled {
		x.release()
		return nil
	}
	if !b.eof {
		// Abandoned before the end (write error or connection reset).
		b.clientGone()
	}
	x.usage = x.relay.Usage()
	if x.gone {
		x.status = 499 // client closed request, as nginx logs it
	}
	b.semStore()
	x.finish()
	return nil
}
