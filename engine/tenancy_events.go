package engine

import (
	"context"
	"strings"
	"time"

	"github.com/aigateway/gateway/engine/budget"
	"github.com/aigateway/gateway/engine/limits"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/webhook"
)

// emit queues a webhook event off the caller's path.
func (t *tenancy) emit(event, project string, data any) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := t.hooks.Emit(ctx, event, project, data); err != nil {
			t.log.Warn("webhook event not queued", "event", event, "project", project, "error", err.Error())
		}
	}()
}

// budgetEvent maps a crossed budget threshold to its webhook event:
// budget.threshold below 100%, budget.exceeded at 100% and above.
func (t *tenancy) budgetEvent(ev budget.Event) {
	name := webhook.EventBudgetThreshold
	if ev.Threshold >= 100 {
		name = webhook.EventBudgetExceeded
	}
	t.log.Info("budget threshold reached", "project", ev.Project, "threshold_pct", ev.Threshold, "spent_usd", ev.SpentUSD, "budget_usd", ev.BudgetUSD)
	t.emit(name, ev.Project, ev)
}

// failedRequest is the data of request.failed.
type failedRequest struct {
	RequestID string `json:"request_id"`
	KeyID     string `json:"key_id,omitempty"`
	Endpoint  string `json:"endpoint"`
	Model     string `json:"model,omitempty"`
	Provider  string `json:"provider,omitempty"`
	Status    int    `json:"status"`
	ErrorCode string `json:"error_code,omitempty"`
	Stream    bool   `json:"stream"`
}

// failedEventRate bounds request.failed per project: an outage upstream
// must not turn into a webhook flood (the ledger has every failure).
var failedEventRate = limits.Rate{Limit: 10, Period: time.Minute}

// requestFailed raises request.failed for a 5xx answer.
func (t *tenancy) requestFailed(r *store.UsageRow) {
	if !t.failedLimiter.Allow(context.Background(), limits.Key{Project: r.ProjectID, Client: "webhook"}, failedEventRate).Allowed {
		return
	}
	model := r.ServedModel
	if model == "" {
		model = r.RequestedModel
	}
	// The row's strings may view request memory: copy them for the
	// goroutine.
	t.emit(webhook.EventRequestFailed, r.ProjectID, failedRequest{RequestID: strings.Clone(r.ID), KeyID: r.KeyID, Endpoint: r.Endpoint,
		Model: strings.Clone(model), Provider: r.Provider, Status: r.Status, ErrorCode: strings.Clone(r.ErrorCode), Stream: r.Stream})
}

// breakerOpen raises provider.breaker_open (a gateway-wide event).
func (t *tenancy) breakerOpen(target limits.Target) {
	t.emit(webhook.EventBreakerOpen, "", map[string]string{"provider": target.Provider, "model": target.Model})
}

// reloadTenancy applies gateway.toml's [[keys]] and [[projects]] again.
func (s *Server) reloadTenancy(ctx context.Context, cfg *Config) error {
	if err := syncStaticProjects(ctx, s.ten.st, cfg); err != nil {
		return err
	}
	_, implicit := cfg.staticProjects()
	s.ten.dir.SetStatic(staticKeys(cfg.Keys), implicit)
	return s.ten.dir.Changed(ctx)
}
