// Package webhook delivers the gateway's events to HTTP endpoints: signed,
// retried with exponential backoff from the store's persisted outbox (a
// restart loses nothing), and refused for private destinations at creation
// and again at every delivery (DNS rebinding).
//
// # Signature
//
// Each delivery carries
//
//	X-Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
//
// with the endpoint's secret as the HMAC key (its bytes as shown at
// creation, "whsec_…" included). A receiver recomputes the HMAC over the
// raw body, compares in constant time, and rejects timestamps more than a
// few minutes old (replays). Verify checks it.
//
// # Notes
//
// A Dispatcher is safe for concurrent use. Emit only writes to the outbox;
// Run (one goroutine per replica, any number of replicas) claims due
// deliveries with a lease and sends them. Delivery is at least once:
// receivers deduplicate on X-Gateway-Delivery. The package does not log.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

// Events the gateway emits.
const (
	EventRequestFailed   = "request.failed"
	EventBudgetThreshold = "budget.threshold"
	EventBudgetExceeded  = "budget.exceeded"
	EventKeyCreated      = "key.created"
	EventKeyRevoked      = "key.revoked"
	EventPolicyUpdated   = "policy.updated"
	EventBreakerOpen     = "provider.breaker_open"
	// EventTest is sent by POST /admin/webhooks/{id}/test only.
	EventTest = "webhook.test"
)

// Events lists the events an endpoint may subscribe to ("*": all).
var Events = []string{EventRequestFailed, EventBudgetThreshold, EventBudgetExceeded, EventKeyCreated,
	EventKeyRevoked, EventPolicyUpdated, EventBreakerOpen}

// Envelope is the JSON body of every delivery.
type Envelope struct {
	// ID identifies the event; an event sent to several endpoints has one
	// ID (each delivery has its own X-Gateway-Delivery).
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	// ProjectID is empty for gateway-wide events.
	ProjectID string `json:"project_id,omitempty"`
	Data      any    `json:"data"`
}

// Options tune a Dispatcher.
type Options struct {
	// Allow lists CIDRs and host names that may be private.
	Allow []string
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// MaxAttempts gives up after that many attempts (default 12).
	MaxAttempts int
	// BackoffBase and BackoffMax shape the retry delay: base·2^(n-1),
	// capped, with ±20% jitter (defaults 5s and 1h).
	BackoffBase, BackoffMax time.Duration
	// PollInterval is how often Run looks for due deliveries (default 1s).
	PollInterval time.Duration
	// OnError receives background errors.
	OnError func(error)
}

// Dispatcher enqueues and delivers events.
type Dispatcher struct {
	st     store.Webhooks
	opts   Options
	guard  *Guard
	client *http.Client
	kick   chan struct{}

	mu    sync.Mutex
	hooks []store.Webhook // cached endpoint list
	until time.Time
}

// New returns a Dispatcher; start Run to deliver.
func New(st store.Webhooks, opts Options) (*Dispatcher, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 12
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 5 * time.Second
	}
	if opts.BackoffMax < opts.BackoffBase {
		opts.BackoffMax = max(time.Hour, opts.BackoffBase)
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	g, err := NewGuard(opts.Allow)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would be dialled instead of the checked address
		DialContext:           g.DialContext(opts.Timeout),
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Dispatcher{st: st, opts: opts, guard: g, kick: make(chan struct{}, 1),
		client: &http.Client{Transport: tr, Timeout: opts.Timeout,
			// A redirect is a failure: following it would leave the
			// checked destination.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// Guard returns the destination guard (URL checks at creation).
func (d *Dispatcher) Guard() *Guard { return d.guard }

// Invalidate drops the cached endpoint list (after a change).
func (d *Dispatcher) Invalidate() {
	d.mu.Lock()
	d.until = time.Time{}
	d.mu.Unlock()
}

func (d *Dispatcher) endpoints(ctx context.Context) ([]store.Webhook, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Now().Before(d.until) {
		return d.hooks, nil
	}
	hooks, err := d.st.ListWebhooks(ctx)
	if err != nil {
		return nil, err
	}
	d.hooks, d.until = hooks, time.Now().Add(time.Second)
	return hooks, nil
}

// Emit queues an event for every endpoint that wants it and returns how
// many deliveries it queued.
func (d *Dispatcher) Emit(ctx context.Context, event, projectID string, data any) (int, error) {
	hooks, err := d.endpoints(ctx)
	if err != nil {
		return 0, fmt.Errorf("webhooks: %w", err)
	}
	var body []byte
	n := 0
	for i := range hooks {
		if !hooks[i].Wants(event, projectID) {
			continue
		}
		if body == nil {
			if body, err = json.Marshal(Envelope{ID: newEventID(), Type: event, CreatedAt: time.Now().UTC(), ProjectID: projectID, Data: data}); err != nil {
				return 0, fmt.Errorf("webhooks: encode %s: %w", event, err)
			}
		}
		if _, err := d.st.EnqueueDelivery(ctx, hooks[i].ID, event, body); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("webhooks: enqueue %s: %w", event, err)
		}
		n++
	}
	if n > 0 {
		d.Kick()
	}
	return n, nil
}

// Kick makes Run look for due deliveries now.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func newEventID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}

// Result is one delivery attempt's outcome.
type Result struct {
	Status     int           `json:"status"`
	Duration   time.Duration `json:"-"`
	DurationMS float64       `json:"duration_ms"`
	Error      string        `json:"error,omitempty"`
	// Permanent: retrying cannot help (a refused destination).
	Permanent bool `json:"-"`
}

// OK reports a 2xx answer.
func (r *Result) OK() bool { return r.Error == "" && r.Status >= 200 && r.Status < 300 }

// Send makes one signed attempt, now.
func (d *Dispatcher) Send(ctx context.Context, w *store.Webhook, deliveryID, event string, body []byte) Result {
	t0 := time.Now()
	res := d.send(ctx, w, deliveryID, event, body)
	res.Duration = time.Since(t0)
	res.DurationMS = float64(res.Duration.Microseconds()) / 1000
	return res
}

func (d *Dispatcher) send(ctx context.Context, w *store.Webhook, deliveryID, event string, body []byte) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return Result{Error: err.Error(), Permanent: true}
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ai-gateway-webhooks/1")
	req.Header.Set("X-Gateway-Event", event)
	req.Header.Set("X-Gateway-Delivery", deliveryID)
	req.Header.Set("X-Gateway-Signature", Sign(w.Secret, ts, body))
	resp, err := d.client.Do(req)
	if err != nil {
		return Result{Error: err.Error(), Permanent: errors.Is(err, ErrRefused)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	r := Result{Status: resp.StatusCode}
	if !r.OK() {
		r.Error = "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	return r
}

// Sign returns the X-Gateway-Signature value of body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	t := strconv.FormatInt(ts, 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature header against body: the HMAC, and a timestamp
// no further than tolerance from now. It is what receivers written in Go
// can call (docs/webhooks.md shows the same in other languages).
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts int64 = -1
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errors.New("webhook signature: bad timestamp")
			}
			ts = n
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts < 0 || len(sigs) == 0 {
		return errors.New("webhook signature: missing t or v1")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook signature: timestamp outside the tolerance (a replay?)")
	}
	want := Sign(secret, ts, body)
	want = want[strings.Index(want, "v1=")+3:]
	if slices.ContainsFunc(sigs, func(s string) bool { return hmac.Equal([]byte(s), []byte(want)) }) {
		return nil
	}
	return errors.New("webhook signature: mismatch")
}

// backoff is the delay before attempt n+1 after n failed attempts.
func (d *Dispatcher) backoff(n int) time.Duration {
	delay := d.opts.BackoffBase
	for i := 1; i < n && delay < d.opts.BackoffMax; i++ {
		delay *= 2
	}
	delay = min(delay, d.opts.BackoffMax)
	// ±20% jitter, so that endpoints failing together do not retry
	// together.
	span := int64(delay) * 2 / 5
	if span > 0 {
		j, _ := rand.Int(rand.Reader, big.NewInt(span))
		delay += time.Duration(j.Int64() - span/2)
	}
	return delay
}

// batch is how many deliveries Run claims at once; parallel is how many
// it sends at once.
const (
	batch    = 32
	parallel = 8
)

// Run delivers due deliveries until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(d.opts.PollInterval)
	defer t.Stop()
	for {
		for d.round(ctx) == batch && ctx.Err() == nil {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.kick:
		}
	}
}

// round claims and sends one batch; it returns how many it claimed.
func (d *Dispatcher) round(ctx context.Context) int {
	lease := d.opts.Timeout + 30*time.Second
	due, err := d.st.DueDeliveries(ctx, time.Now(), batch, lease)
	if err != nil {
		if ctx.Err() == nil {
			d.report(fmt.Errorf("webhooks: claim deliveries: %w", err))
		}
		return 0
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func(dl *store.Delivery) {
			defer func() { <-sem; wg.Done() }()
			d.deliver(ctx, dl)
		}(&due[i])
	}
	wg.Wait()
	return len(due)
}

func (d *Dispatcher) deliver(ctx context.Context, dl *store.Delivery) {
	w, err := d.st.Webhook(ctx, dl.WebhookID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return // deleted with its deliveries
		}
		d.report(fmt.Errorf("webhooks: %w", err))
		return
	}
	res := d.Send(ctx, &w, dl.ID, dl.Event, dl.Payload)
	// The outcome is recorded even when ctx ended meanwhile (shutdown):
	// an unrecorded success would be sent again.
	mctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res.OK() {
		if err := d.st.MarkDelivered(mctx, dl.ID); err != nil {
			d.report(fmt.Errorf("webhooks: mark %s delivered: %w", dl.ID, err))
		}
		return
	}
	next := time.Now().Add(d.backoff(dl.Attempts))
	if res.Permanent || dl.Attempts >= d.opts.MaxAttempts {
		next = time.Time{} // give up
	}
	if err := d.st.MarkFailed(mctx, dl.ID, next, res.Error); err != nil {
		d.report(fmt.Errorf("webhooks: mark %s failed: %w", dl.ID, err))
	}
}

func (d *Dispatcher) report(err error) {
	if d.opts.OnError != nil {
		d.opts.OnError(err)
	}
}
