package engine

// Wiring of the Batch API (engine/batch): its configuration, the key a
// batch item runs as, and the in-process call that sends an item through
// the same handler as a live request — auth as the batch's key, policies,
// routing (auto included), the cache, budgets and the ledger row — minus
// the interactive rate limits, which batch items would exhaust; they are
// paced by [batch] concurrency instead. Also the retention sweeper of
// stored responses.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/batch"
	"github.com/aigateway/gateway/engine/tenant"
	"github.com/valyala/fasthttp"
)

// BatchConfig is the [batch] table (docs/batch.md).
type BatchConfig struct {
	// Concurrency bounds the batch items in flight in this process, across
	// all batches. Keep it well below the providers' max_in_flight so that
	// interactive requests always find a slot.
	Concurrency int `toml:"concurrency"`
	// Retention deletes finished batches and files (inputs, outputs) older
	// than this; 0 keeps them.
	Retention Duration `toml:"retention"`
	// Native submits chat completion items to the providers' own batch
	// APIs (Anthropic's Message Batches, at half price) instead of running
	// them one by one (batchnative.go); NativeProviders limits it to the
	// providers named (empty: every provider that has one); NativePoll is
	// how often such a batch is polled (default 30s).
	Native          bool     `toml:"native"`
	NativeProviders []string `toml:"native_providers"`
	NativePoll      Duration `toml:"native_poll"`
}

// nativeFor reports whether items for provider go to its own batch API.
func (c *BatchConfig) nativeFor(provider string) bool {
	if !c.Native {
		return false
	}
	return len(c.NativeProviders) == 0 || slices.Contains(c.NativeProviders, provider)
}

func defaultBatchConfig() BatchConfig {
	return BatchConfig{Concurrency: 4, Retention: Duration(30 * 24 * time.Hour)}
}

func (c *BatchConfig) validate() error {
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		return fmt.Errorf("batch.concurrency must be from 1 to 1024, not %d", c.Concurrency)
	}
	if c.NativePoll < 0 {
		return fmt.Errorf("batch.native_poll must not be negative")
	}
	return nil
}

// newBatches builds the Batch API's service; New starts it once the
// server's handler exists.
func (s *Server) newBatches() *batch.Service {
	var native batch.Native
	if s.cfg.Batch.Native {
		native = nativeBatches{s}
	}
	return batch.New(batch.Options{
		Native:      native,
		NativePoll:  s.cfg.Batch.NativePoll.D(),
		Store:       s.ten.st,
		Exec:        s.execBatchItem,
		Auth:        s.batchAuth,
		Concurrency: s.cfg.Batch.Concurrency,
		// Interactive requests are the exchanges in flight that are not
		// batch items.
		Interactive: func() bool { return inFlight.Load() > batchInFlight.Load() },
		Retention:   s.cfg.Batch.Retention.D(),
		OnError:     func(err error) { s.log.Warn("batch runner", "error", err.Error()) },
	})
}

// batchAuth authenticates a Files or Batch API request.
func (s *Server) batchAuth(ctx *fasthttp.RequestCtx) (batch.Identity, *api.Error) {
	k, p, err := s.authKey(ctx, time.Now())
	if err != nil {
		return batch.Identity{}, toAPIError(err)
	}
	id := batch.Identity{Project: p.ID}
	if k != nil {
		id.KeyID = k.ID
	}
	return id, nil
}

// batchCaller is the user-value key that marks an in-process batch item
// and carries its identity; a client cannot set it.
type batchCaller struct{}

func batchIdentity(ctx *fasthttp.RequestCtx) (batch.Identity, bool) {
	id, ok := ctx.UserValue(batchCaller{}).(batch.Identity)
	return id, ok
}

func isBatchItem(ctx *fasthttp.RequestCtx) bool {
	_, ok := batchIdentity(ctx)
	return ok
}

// batchKey is authKey for a batch item: the key that created the batch,
// checked again now (a key revoked since stops its batch's items).
func batchKey(snap *tenant.Snapshot, id batch.Identity, now time.Time) (*tenant.Key, *tenant.Project, error) {
	p := snap.Project(id.Project)
	if p == nil {
		return nil, nil, errKeyRevoked // the project was deleted
	}
	if id.KeyID == "" {
		return nil, p, nil
	}
	k := snap.Key(id.KeyID)
	switch {
	case k == nil || k.Revoked || k.ProjectID != p.ID:
		return nil, nil, errKeyRevoked
	case k.Expired(now):
		return nil, nil, keyExpired(k)
	}
	return k, p, nil
}

// batchInFlight counts the batch items in the handler: inFlight less
// these is the interactive traffic that the batch runner yields to.
var batchInFlight atomic.Int64

// execBatchItem runs one batch item through the server's handler in
// process, as a POST to the batch's endpoint.
func (s *Server) execBatchItem(_ context.Context, c batch.Call) batch.Result {
	var req fasthttp.Request
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(c.Endpoint)
	req.Header.SetContentType("application/json")
	req.Header.Set("X-Request-Id", c.RequestID)
	req.SetBody(c.Body)
	var rc fasthttp.RequestCtx
	rc.Init(&req, nil, nil)
	rc.SetUserValue(batchCaller{}, c.Identity)
	batchInFlight.Add(1)
	s.srv.Handler(&rc)
	batchInFlight.Add(-1)
	h := &rc.Response.Header
	res := batch.Result{Status: rc.Response.StatusCode(), RequestID: string(h.Peek("X-Request-Id")),
		Body: append([]byte(nil), rc.Response.Body()...)}
	if n, err := strconv.Atoi(string(h.Peek("Retry-After"))); err == nil && n > 0 {
		res.RetryAfter = time.Duration(n) * time.Second
	}
	return res
}

// responsesRetention deletes stored responses older than keep, hourly.
func (t *tenancy) responsesRetention(ctx context.Context, keep time.Duration, report func(error)) {
	if keep <= 0 {
		return
	}
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if _, err := t.pruneResponses(ctx, time.Now(), keep); err != nil && ctx.Err() == nil {
			report(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// pruneResponses is one sweep of responsesRetention as of now.
func (t *tenancy) pruneResponses(ctx context.Context, now time.Time, keep time.Duration) (int64, error) {
	return t.st.PruneResponses(ctx, now.Add(-keep))
}
