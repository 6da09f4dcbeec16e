// Package load is the benchmark's load generator: a fasthttp client that
// drives one target either closed-loop (N connections, each sending its next
// request when the previous answer is complete) or open-loop (a constant
// request rate whose latency is measured from each request's scheduled send
// time, so that a stalled server shows in the latency instead of silently
// slowing the client down: no coordinated omission).
//
// Every run is bounded by a duration (and optionally a request count), and a
// run that saw any transport error, non-2xx status, failed expectation or
// request left unsent is invalid: it is reported as such, never averaged in.
package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/bench/hist"
	"github.com/valyala/fasthttp"
)

// Header is one request header.
type Header struct{ Name, Value string }

// Target is what every request of a run sends and what its answer must hold.
type Target struct {
	// URL is absolute: http://127.0.0.1:8080/v1/chat/completions.
	URL string
	// Method defaults to POST when Body is set, GET otherwise.
	Method  string
	Body    []byte
	Headers []Header
	// Stream reads the answer as it arrives and measures the time to its
	// first byte and the gaps between reads.
	Stream bool
	// Expect must occur in a whole answer, or in the last 512 bytes of a
	// stream (e.g. "[DONE]").
	Expect string
	// ExpectHeader is "Name: prefix": the answer must carry the header with
	// that prefix (e.g. "X-Gateway-Cache: hit").
	ExpectHeader string
	// AllowRemote permits a target that is not a loopback address.
	AllowRemote bool
}

// Options configure one run.
type Options struct {
	Target
	// Connections is the closed loop's concurrency, or the open loop's
	// largest number of requests in flight (default 64).
	Connections int
	// Rate, when > 0, makes the run open-loop at Rate requests per second.
	Rate float64
	// Warmup runs before the measured Duration; its answers are checked but
	// not timed.
	Warmup, Duration time.Duration
	// MaxRequests, when > 0, ends the measured part after that many
	// requests.
	MaxRequests int64
	// Timeout bounds each request (each read, for streams); default 10s. An
	// open-loop run also waits at most Timeout after its schedule ends.
	Timeout time.Duration
}

// Result is one run's outcome.
type Result struct {
	Mode        string  `json:"mode"` // "closed" or "open"
	Connections int     `json:"connections"`
	Rate        float64 `json:"target_rate,omitempty"`
	Stream      bool    `json:"stream"`
	Seconds     float64 `json:"seconds"`
	// Requests is the number of good answers completed in the measured
	// window; RPS is Requests/Seconds.
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	// Completed counts every answer, warm-up and failures included: the
	// denominator for per-request server costs.
	Completed int64 `json:"completed"`
	// Errors counts transport errors, failed expectations and requests an
	// open-loop run could not send in time; Statuses the non-2xx answers.
	Errors       int64            `json:"errors"`
	Unsent       int64            `json:"unsent,omitempty"`
	Statuses     map[string]int64 `json:"non_2xx,omitempty"`
	ErrorSamples []string         `json:"error_samples,omitempty"`
	// Latency is the time from the send (closed loop) or the scheduled send
	// (open loop) to the answer's last byte.
	Latency hist.Summary `json:"latency"`
	// TTFB is the time to the first body byte of a stream, from the same
	// origin as Latency; Gap the time between two reads of a stream that
	// brought data.
	TTFB *hist.Summary `json:"ttfb,omitempty"`
	Gap  *hist.Summary `json:"gap,omitempty"`
	// StartLag is, open-loop, how late each request was actually sent
	// (dispatcher wake-up plus waiting for a free connection).
	StartLag       *hist.Summary `json:"start_lag,omitempty"`
	EventsPerReply float64       `json:"events_per_reply,omitempty"`
	BytesPerReply  float64       `json:"bytes_per_reply"`
	Valid          bool          `json:"valid"`
	Invalid        string        `json:"invalid,omitempty"`
}

// Check applies the invalid-run rule: any error, non-2xx answer or unsent
// request, or no good answer at all, makes the run invalid.
func (r *Result) Check() {
	var bad int64
	codes := make([]string, 0, len(r.Statuses))
	for c, n := range r.Statuses {
		bad += n
		codes = append(codes, c+"×"+strconv.FormatInt(n, 10))
	}
	sort.Strings(codes)
	switch {
	case r.Errors > 0 || bad > 0:
		r.Valid = false
		r.Invalid = fmt.Sprintf("%d errors, %d non-2xx answers", r.Errors, bad)
		if len(codes) > 0 {
			r.Invalid += " (" + joinComma(codes) + ")"
		}
		if r.Unsent > 0 {
			r.Invalid += fmt.Sprintf(", %d requests not sent before the deadline", r.Unsent)
		}
		if len(r.ErrorSamples) > 0 {
			r.Invalid += "; first: " + r.ErrorSamples[0]
		}
	case r.Requests == 0:
		r.Valid = false
		r.Invalid = "no request completed in the measured window"
	default:
		r.Valid, r.Invalid = true, ""
	}
}

func joinComma(ss []string) string {
	var b []byte
	for i, s := range ss {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, s...)
	}
	return string(b)
}

// ErrNotLoopback refuses to load a remote host by accident.
var ErrNotLoopback = errors.New("target is not a loopback address (set AllowRemote to load a remote host)")

// Run performs one bounded run. The error is for a run that could not start
// (bad options); what goes wrong during the run is in the Result.
func Run(ctx context.Context, o Options) (*Result, error) {
	r, err := newRunner(o)
	if err != nil {
		return nil, err
	}
	if o.Rate > 0 {
		r.open(ctx)
	} else {
		r.closed(ctx)
	}
	return r.result(), nil
}

type shard struct {
	mu                     sync.Mutex
	lat, ttfb, gap, lag    *hist.Histogram
	ok, errs, unsent, done int64
	bytes, events, counted int64
	statuses               map[int]int64
	samples                []string
}

type runner struct {
	o            Options
	hc           *fasthttp.HostClient
	uri          string
	hdrName      []byte
	hdrPrefix    []byte
	shards       []*shard
	start        time.Time
	measureStart time.Time
	end          time.Time
	window       time.Duration
	lastDone     atomic.Int64 // unix nanos of the last measured completion (MaxRequests)
	issued       atomic.Int64
}

func newRunner(o Options) (*runner, error) {
	if o.Connections <= 0 {
		o.Connections = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Duration <= 0 {
		return nil, errors.New("duration must be positive")
	}
	if o.Method == "" {
		o.Method = fasthttp.MethodGet
		if o.Body != nil {
			o.Method = fasthttp.MethodPost
		}
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("parse URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", o.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	if !o.AllowRemote && !loopback(u.Hostname()) {
		return nil, fmt.Errorf("%s: %w", u.Host, ErrNotLoopback)
	}
	r := &runner{o: o, uri: o.URL}
	if o.ExpectHeader != "" {
		i := bytes.IndexByte([]byte(o.ExpectHeader), ':')
		if i <= 0 {
			return nil, fmt.Errorf("expect header %q: want \"Name: prefix\"", o.ExpectHeader)
		}
		r.hdrName = []byte(o.ExpectHeader[:i])
		r.hdrPrefix = bytes.TrimSpace([]byte(o.ExpectHeader[i+1:]))
	}
	r.hc = &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         u.Scheme == "https",
		MaxConns:                      o.Connections,
		MaxConnWaitTimeout:            o.Timeout,
		ReadTimeout:                   o.Timeout,
		WriteTimeout:                  o.Timeout,
		MaxIdleConnDuration:           time.Minute,
		MaxResponseBodySize:           64 << 20,
		ReadBufferSize:                16 << 10,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		Dial: func(a string) (net.Conn, error) {
			return (&net.Dialer{Timeout: o.Timeout}).Dial("tcp", a)
		},
	}
	n := runtime.GOMAXPROCS(0) * 4
	for i := 0; i < n; i++ {
		r.shards = append(r.shards, &shard{lat: hist.New(), ttfb: hist.New(), gap: hist.New(), lag: hist.New(), statuses: map[int]int64{}})
	}
	return r, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// worker owns one request/response pair and a read buffer.
type worker struct {
	r    *runner
	sh   *shard
	req  *fasthttp.Request
	resp *fasthttp.Response
	buf  []byte
	tail []byte
	gaps []time.Duration
}

func (r *runner) newWorker(i int) *worker {
	w := &worker{r: r, sh: r.shards[i%len(r.shards)], req: new(fasthttp.Request), resp: new(fasthttp.Response)}
	w.req.Header.SetMethod(r.o.Method)
	w.req.SetRequestURI(r.uri)
	for _, h := range r.o.Headers {
		w.req.Header.Set(h.Name, h.Value)
	}
	if r.o.Body != nil {
		if len(w.req.Header.ContentType()) == 0 || bytes.Equal(w.req.Header.ContentType(), []byte("text/plain; charset=utf-8")) {
			w.req.Header.SetContentType("application/json")
		}
		w.req.SetBodyRaw(r.o.Body)
	}
	if r.o.Stream {
		w.buf = make([]byte, 32<<10)
	}
	return w
}

// outcome of one request.
type outcome struct {
	ok      bool
	done    time.Time
	ttfb    time.Duration // from origin; 0 when not a stream
	bytes   int64
	events  int64
	status  int
	errText string
}

// do sends one request; origin is the time latency is measured from.
func (w *worker) do(origin time.Time) outcome {
	r := w.r
	resp := w.resp
	resp.Reset()
	var out outcome
	w.gaps = w.gaps[:0]
	if !r.o.Stream {
		err := r.hc.DoTimeout(w.req, resp, r.o.Timeout)
		out.done = time.Now()
		if err != nil {
			out.errText = err.Error()
			return out
		}
		out.status = resp.StatusCode()
		body := resp.Body()
		out.bytes = int64(len(body))
		if out.status < 200 || out.status > 299 {
			out.errText = "HTTP " + strconv.Itoa(out.status) + ": " + clip(body)
			return out
		}
		if r.o.Expect != "" && !bytes.Contains(body, []byte(r.o.Expect)) {
			out.errText = "answer lacks " + strconv.Quote(r.o.Expect) + ": " + clip(body)
			return out
		}
		if msg := w.checkHeader(); msg != "" {
			out.errText = msg
			return out
		}
		out.ok = true
		return out
	}
	resp.StreamBody = true
	err := r.hc.Do(w.req, resp)
	if err != nil {
		out.done = time.Now()
		out.errText = err.Error()
		return out
	}
	out.status = resp.StatusCode()
	body := resp.BodyStream()
	w.tail = w.tail[:0]
	var last time.Time
	var prev byte
	for {
		n, rerr := body.Read(w.buf)
		if n > 0 {
			now := time.Now()
			if out.bytes == 0 {
				out.ttfb = now.Sub(origin)
			} else {
				w.gaps = append(w.gaps, now.Sub(last))
			}
			last = now
			chunk := w.buf[:n]
			out.bytes += int64(n)
			if prev == '\n' && chunk[0] == '\n' {
				out.events++
			}
			out.events += int64(bytes.Count(chunk, []byte("\n\n")))
			prev = chunk[n-1]
			w.keepTail(chunk)
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	_ = resp.CloseBodyStream()
	out.done = time.Now()
	switch {
	case err != nil:
		out.errText = "stream: " + err.Error()
	case out.status < 200 || out.status > 299:
		out.errText = "HTTP " + strconv.Itoa(out.status) + ": " + clip(w.tail)
	case r.o.Expect != "" && !bytes.Contains(w.tail, []byte(r.o.Expect)):
		out.errText = "stream does not end with " + strconv.Quote(r.o.Expect) + ": " + clip(w.tail)
	default:
		if msg := w.checkHeader(); msg != "" {
			out.errText = msg
		} else {
			out.ok = true
		}
	}
	return out
}

const tailSize = 512

func (w *worker) keepTail(b []byte) {
	if len(b) >= tailSize {
		w.tail = append(w.tail[:0], b[len(b)-tailSize:]...)
		return
	}
	if over := len(w.tail) + len(b) - tailSize; over > 0 {
		w.tail = append(w.tail[:0], w.tail[over:]...)
	}
	w.tail = append(w.tail, b...)
}

func (w *worker) checkHeader() string {
	if w.r.hdrName == nil {
		return ""
	}
	v := w.resp.Header.PeekBytes(w.r.hdrName)
	if !bytes.HasPrefix(v, w.r.hdrPrefix) {
		return "header " + string(w.r.hdrName) + " is " + strconv.Quote(string(v)) + ", want prefix " + strconv.Quote(string(w.r.hdrPrefix))
	}
	return ""
}

func clip(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// record accounts for one outcome; measured says whether it falls in the
// measured window (errors count in any case).
func (w *worker) record(o outcome, origin, sent time.Time, measured, open bool) {
	sh := w.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.done++
	if !o.ok {
		sh.errs++
		if o.status != 0 && (o.status < 200 || o.status > 299) {
			sh.statuses[o.status]++
		}
		if len(sh.samples) < 5 {
			sh.samples = append(sh.samples, o.errText)
		}
		return
	}
	if !measured {
		return
	}
	sh.ok++
	sh.lat.Record(o.done.Sub(origin))
	sh.bytes += o.bytes
	if w.r.o.Stream {
		sh.events += o.events
		sh.ttfb.Record(o.ttfb)
		for _, g := range w.gaps {
			sh.gap.Record(g)
		}
	}
	if open {
		sh.lag.Record(sent.Sub(origin))
	}
}

func (r *runner) closed(ctx context.Context) {
	r.start = time.Now()
	r.measureStart = r.start.Add(r.o.Warmup)
	r.end = r.measureStart.Add(r.o.Duration)
	var wg sync.WaitGroup
	for i := 0; i < r.o.Connections; i++ {
		w := r.newWorker(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(r.end) {
					return
				}
				inWindow := !t0.Before(r.measureStart)
				if inWindow && r.o.MaxRequests > 0 && r.issued.Add(1) > r.o.MaxRequests {
					return
				}
				o := w.do(t0)
				// Every request sent in the window is measured, however long
				// it takes: dropping the ones that end after the window
				// would hide the slowest answers.
				measured := inWindow
				w.record(o, t0, t0, measured, false)
				if measured && r.o.MaxRequests > 0 {
					r.noteDone(o.done)
				}
			}
		}()
	}
	wg.Wait()
	r.window = r.o.Duration
	if r.o.MaxRequests > 0 && r.issued.Load() >= r.o.MaxRequests {
		if last := r.lastDone.Load(); last > 0 {
			r.window = time.Unix(0, last).Sub(r.measureStart)
		}
	}
}

func (r *runner) noteDone(t time.Time) {
	n := t.UnixNano()
	for {
		old := r.lastDone.Load()
		if n <= old || r.lastDone.CompareAndSwap(old, n) {
			return
		}
	}
}

// open sends requests at a constant rate. A dispatcher on its own OS thread
// hands each request's scheduled time to a pool of Connections workers;
// latency runs from that scheduled time, so time spent waiting for a free
// worker (a stalled server) is counted, not omitted.
func (r *runner) open(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / r.o.Rate)
	if interval <= 0 {
		interval = 1
	}
	warmN := int64(r.o.Warmup / interval)
	total := warmN + int64(r.o.Duration/interval)
	if r.o.MaxRequests > 0 && total > warmN+r.o.MaxRequests {
		total = warmN + r.o.MaxRequests
	}
	r.start = time.Now()
	r.measureStart = r.start.Add(time.Duration(warmN) * interval)
	r.end = r.start.Add(time.Duration(total) * interval)
	r.window = r.end.Sub(r.measureStart)
	hardStop := r.end.Add(r.o.Timeout)

	ch := make(chan time.Time, 1<<16)
	go func() {
		defer close(ch)
		dispatch(ctx, ch, r.start, interval, total)
	}()
	var wg sync.WaitGroup
	for i := 0; i < r.o.Connections; i++ {
		w := r.newWorker(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sched := range ch {
				measured := !sched.Before(r.measureStart)
				sent := time.Now()
				if sent.After(hardStop) || ctx.Err() != nil {
					w.sh.mu.Lock()
					w.sh.errs++
					w.sh.unsent++
					w.sh.mu.Unlock()
					continue
				}
				o := w.do(sched)
				w.record(o, sched, sent, measured, true)
			}
		}()
	}
	wg.Wait()
}

// dispatch emits total scheduled times, start + i*interval, each as soon as
// it is due, woken by a high-resolution timer (see timer).
func dispatch(ctx context.Context, ch chan<- time.Time, start time.Time, interval time.Duration, total int64) {
	tm := newTimer()
	defer tm.close()
	for i := int64(0); i < total; {
		now := time.Now()
		for i < total {
			sched := start.Add(time.Duration(i) * interval)
			if sched.After(now) {
				break
			}
			select {
			case ch <- sched:
			case <-ctx.Done():
				return
			}
			i++
		}
		if i >= total || ctx.Err() != nil {
			return
		}
		tm.sleep(time.Until(start.Add(time.Duration(i) * interval)))
	}
}

func (r *runner) result() *Result {
	all := &shard{lat: hist.New(), ttfb: hist.New(), gap: hist.New(), lag: hist.New(), statuses: map[int]int64{}}
	for _, sh := range r.shards {
		all.lat.Merge(sh.lat)
		all.ttfb.Merge(sh.ttfb)
		all.gap.Merge(sh.gap)
		all.lag.Merge(sh.lag)
		all.ok += sh.ok
		all.errs += sh.errs
		all.unsent += sh.unsent
		all.done += sh.done
		all.bytes += sh.bytes
		all.events += sh.events
		for k, v := range sh.statuses {
			all.statuses[k] += v
		}
		for _, s := range sh.samples {
			if len(all.samples) < 5 {
				all.samples = append(all.samples, s)
			}
		}
	}
	res := &Result{
		Mode:         "closed",
		Connections:  r.o.Connections,
		Stream:       r.o.Stream,
		Seconds:      round3(r.window.Seconds()),
		Requests:     all.ok,
		Completed:    all.done,
		Errors:       all.errs,
		Unsent:       all.unsent,
		ErrorSamples: all.samples,
		Latency:      all.lat.Summarize(),
	}
	if r.o.Rate > 0 {
		res.Mode, res.Rate = "open", r.o.Rate
		s := all.lag.Summarize()
		res.StartLag = &s
	}
	if r.window > 0 {
		res.RPS = round3(float64(all.ok) / r.window.Seconds())
	}
	if len(all.statuses) > 0 {
		res.Statuses = map[string]int64{}
		for k, v := range all.statuses {
			res.Statuses[strconv.Itoa(k)] = v
		}
	}
	if all.ok > 0 {
		res.BytesPerReply = round3(float64(all.bytes) / float64(all.ok))
		if r.o.Stream {
			res.EventsPerReply = round3(float64(all.events) / float64(all.ok))
		}
	}
	if r.o.Stream {
		t, g := all.ttfb.Summarize(), all.gap.Summarize()
		res.TTFB, res.Gap = &t, &g
	}
	res.Check()
	return res
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
