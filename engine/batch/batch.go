// Package batch serves the OpenAI Batch API — files and batches — and runs
// each batch's requests through the gateway's own request pipeline, durably.
//
// Its one job is the batch lifecycle: POST /v1/files takes a JSONL input
// file, POST /v1/batches queues it, and a runner in every gateway process
// claims queued batches from the store, validates their lines, executes
// the items at a bounded concurrency through Options.Exec (the engine's
// handler, in process: policies, routing, cache, budgets and the ledger
// apply as to a live request), and writes the output and error files in
// OpenAI's format, keyed by custom_id. The formats and the statuses are
// OpenAI's:
//
//   - Batch API: https://platform.openai.com/docs/api-reference/batch
//   - the request input and output lines:
//     https://platform.openai.com/docs/api-reference/batch/request-input and
//     https://platform.openai.com/docs/api-reference/batch/request-output
//   - Files API: https://platform.openai.com/docs/api-reference/files
//   - the guide (statuses, completion window, expiry):
//     https://platform.openai.com/docs/guides/batch
//
// # Notes
//
//   - Durability: every item's result is written to the store as it
//     finishes (store.Batches.FinishItem), so a batch resumes after a
//     restart or a crash with only the items that were not done; an item
//     in flight when the process died runs again, and its custom_id still
//     appears exactly once in the output.
//   - Replicas share the store: a batch is leased to one runner at a time
//     (store.Batches.ClaimBatch) and the lease is renewed while it runs; a
//     crashed runner's batches are taken over when its lease runs out.
//   - Files and batches belong to the project of the key that created
//     them: another project's ids are not found.
//   - A Service is safe for concurrent use. Start it once; Close stops it.
package batch

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/valyala/fasthttp"
)

// Identity is who a file or batch belongs to, and who its items run as.
type Identity struct {
	Project string
	KeyID   string // "" on a gateway without keys
}

// Call is one batch item to execute.
type Call struct {
	Identity
	// RequestID is the item's request id (the X-Request-Id it runs with,
	// and its ledger row's).
	RequestID string
	// Endpoint is the batch's path, e.g. /v1/chat/completions.
	Endpoint string
	// Body is the request body (JSON).
	Body []byte
}

// Result is what executing a Call answered.
type Result struct {
	Status int
	// RequestID is the id the pipeline gave the request.
	RequestID string
	// Body is the response body (JSON): the answer, or the error envelope.
	Body []byte
	// RetryAfter is the Retry-After of a 429 or 503, 0 when none.
	RetryAfter time.Duration
}

// Exec executes one item through the gateway's pipeline. It must not
// retain c.Body after it returns.
type Exec func(ctx context.Context, c Call) Result

// Options configure a Service. Store, Exec and Auth are required.
type Options struct {
	Store store.Store
	Exec  Exec
	// Auth authenticates a request to the Files and Batch APIs; it writes
	// nothing.
	Auth func(ctx *fasthttp.RequestCtx) (Identity, *api.Error)
	// Concurrency bounds the items in flight across all batches of this
	// process (default 4).
	Concurrency int
	// Interactive, when set, reports whether interactive requests are in
	// flight; while they are, at most YieldConcurrency items (default 1)
	// run, so that a batch leaves the CPU to live traffic and still moves.
	Interactive      func() bool
	YieldConcurrency int
	// Retention deletes finished batches, and files, older than this
	// (0 keeps them).
	Retention time.Duration
	// Lease is how long a claim on a batch lasts without renewal (default
	// 30s); a crashed runner's batches resume elsewhere after it.
	Lease time.Duration
	// Poll is how often the runner looks for batches to claim (default
	// 1s); a batch created here is picked up at once.
	Poll time.Duration
	// MaxAttempts bounds the tries of an item that is answered 429 or 503
	// (default 5); RetryBackoff is the first pause between them (default
	// 1s, doubling, at most 30s, or the answer's Retry-After).
	MaxAttempts  int
	RetryBackoff time.Duration
	// MaxItems caps a batch's requests (default 50,000, OpenAI's limit).
	MaxItems int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnError receives the runner's store errors (they are retried).
	OnError func(error)
	// Native, when set, runs the items it takes on providers' own batch
	// APIs (native.go); NativePoll is how often such a batch is polled
	// (default 30s).
	Native     Native
	NativePoll time.Duration
}

// Service is the Files and Batch APIs and the runner behind them.
type Service struct {
	o     Options
	st    store.Store
	owner string
	sem   chan struct{}
	wake  chan struct{}
	// active counts the items in flight; done wakes a dispatcher that
	// yields to interactive requests when one ends.
	active atomic.Int64
	done   chan struct{}

	mu      sync.Mutex
	running map[string]*run

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// run is one batch this process is running.
type run struct {
	id        string
	mu        sync.Mutex
	cancelled bool
	// woken is closed by the cancel, so that a pause between polls of a
	// provider's batch ends at once.
	woken chan struct{}
	// cancelledRefs are the provider batches this run asked to cancel
	// (only process reads and writes it).
	cancelledRefs map[string]bool
}

func newRun(id string) *run { return &run{id: id, woken: make(chan struct{})} }

func (r *run) cancel() {
	r.mu.Lock()
	if !r.cancelled {
		close(r.woken)
	}
	r.cancelled = true
	r.mu.Unlock()
}

func (r *run) isCancelled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cancelled
}

// New returns a Service; Start runs it.
func New(o Options) *Service {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.YieldConcurrency <= 0 {
		o.YieldConcurrency = 1
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.NativePoll <= 0 {
		o.NativePoll = defaultNativePoll
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = time.Second
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 50_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{o: o, st: o.Store, owner: "runner_" + newSuffix(16), sem: make(chan struct{}, o.Concurrency),
		wake: make(chan struct{}, 1), done: make(chan struct{}, 1), running: map[string]*run{}, ctx: ctx, cancel: cancel}
}

// Start runs the runner and the retention sweeper until Close.
func (s *Service) Start() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop()
	}()
}

// Close stops dispatching items, waits until the ones in flight finish or
// ctx ends, and releases this process's leases, so that another process
// (or this one restarted) resumes the batches at once.
func (s *Service) Close(ctx context.Context) error {
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) report(err error) {
	if err != nil && s.o.OnError != nil && s.ctx.Err() == nil {
		s.o.OnError(err)
	}
}

// poke wakes the runner (a batch was created or cancelled).
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sweepEvery is how often the retention sweeper runs.
const sweepEvery = time.Hour

func (s *Service) loop() {
	tick := time.NewTicker(s.o.Poll)
	defer tick.Stop()
	var lastSweep time.Time
	for {
		s.claim()
		if s.o.Retention > 0 && time.Since(lastSweep) >= sweepEvery {
			lastSweep = time.Now()
			_, _, err := s.Sweep(s.ctx, s.o.Now())
			s.report(err)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// Sweep deletes what Options.Retention no longer keeps as of now: finished
// batches and files created before now - Retention. The runner calls it
// hourly; it is exported for tests and tools.
func (s *Service) Sweep(ctx context.Context, now time.Time) (batches, files int64, err error) {
	if s.o.Retention <= 0 {
		return 0, 0, nil
	}
	return s.st.PruneBatches(ctx, now.Add(-s.o.Retention))
}

// claim starts a run for every unfinished batch this process can lease.
func (s *Service) claim() {
	list, err := s.st.ActiveBatches(s.ctx)
	if err != nil {
		s.report(err)
		return
	}
	for _, b := range list {
		s.mu.Lock()
		_, mine := s.running[b.ID]
		s.mu.Unlock()
		if mine {
			continue
		}
		ok, err := s.st.ClaimBatch(s.ctx, b.ID, s.owner, s.o.Now().Add(s.o.Lease))
		if err != nil {
			s.report(err)
			continue
		}
		if !ok {
			continue
		}
		r := newRun(b.ID)
		s.mu.Lock()
		s.running[b.ID] = r
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.process(r, b)
			s.mu.Lock()
			delete(s.running, b.ID)
			s.mu.Unlock()
			// A fresh context: Close's cancel must not keep the lease.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.report(s.st.ReleaseBatch(ctx, b.ID, s.owner))
		}()
	}
}

// cancelLocal tells this process's run of a batch to stop dispatching.
func (s *Service) cancelLocal(id string) {
	s.mu.Lock()
	r := s.running[id]
	s.mu.Unlock()
	if r != nil {
		r.cancel()
	}
	s.poke()
}
