// Package admin is the store-backed admin API: projects and their keys,
// webhooks, and the fleet-wide views of the ledger (usage, requests) and of
// the audit log (docs/projects.md, docs/ledger.md, docs/webhooks.md). It
// reads and writes the store; the engine gives it the store and the few
// engine facts it needs (which models exist, who the admin caller is) and
// guards its routes with the admin key.
package admin

import (
	"context"
	"log/slog"
	"time"

	"github.com/aigateway/gateway/engine/budget"
	"github.com/aigateway/gateway/engine/ledger"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/tenant"
	"github.com/aigateway/gateway/engine/webhook"
	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// API serves the admin endpoints. Every field is required.
type API struct {
	Store   store.Store
	Dir     *tenant.Directory
	Budgets *budget.Tracker
	Hooks   *webhook.Dispatcher
	Ledger  *ledger.Writer
	Log     *slog.Logger

	// Resolve reports whether the gateway serves the model name (an
	// allow-list or default model naming anything else is refused).
	Resolve func(name string) error
	// Actor names the admin key the request presents ("" for none).
	Actor func(ctx *fasthttp.RequestCtx) string
	// Emit queues a webhook event without waiting.
	Emit func(event, project string, data any)
	// Now is the clock of the overview's window; nil means time.Now.
	Now func() time.Time

	// Facts are the engine's live views (providers, models, Ollama).
	Facts Facts
	// Tail is the live tail of the rows this replica stored (give the
	// ledger Tail.Wrap of its sink).
	Tail *Tail
	// Pulls are the Ollama pull jobs; the zero value works.
	Pulls Pulls
}

// Register adds the admin routes to r, each wrapped by guard (the admin
// key check).
func (a *API) Register(r *router.Router, guard func(fasthttp.RequestHandler) fasthttp.RequestHandler) {
	r.GET("/admin/usage", guard(a.handleAdminUsage))
	r.GET("/admin/overview", guard(a.handleOverview))
	r.GET("/admin/requests", guard(a.handleAdminRequests))
	r.GET("/admin/audit", guard(a.handleAdminAudit))
	r.POST("/admin/projects", guard(a.handleProjectCreate))
	r.GET("/admin/projects", guard(a.handleProjectList))
	r.GET("/admin/projects/{id}", guard(a.handleProjectGet))
	r.PATCH("/admin/projects/{id}", guard(a.handleProjectPatch))
	r.DELETE("/admin/projects/{id}", guard(a.handleProjectDelete))
	r.POST("/admin/projects/{id}/keys", guard(a.handleKeyCreate))
	r.GET("/admin/projects/{id}/keys", guard(a.handleKeyList))
	r.DELETE("/admin/keys/{id}", guard(a.handleKeyRevoke))
	r.POST("/admin/webhooks", guard(a.handleWebhookCreate))
	r.GET("/admin/webhooks", guard(a.handleWebhookList))
	r.DELETE("/admin/webhooks/{id}", guard(a.handleWebhookDelete))
	r.GET("/admin/webhooks/{id}/deliveries", guard(a.handleWebhookDeliveries))
	r.POST("/admin/webhooks/{id}/test", guard(a.handleWebhookTest))
	r.GET("/admin/requests/tail", guard(a.handleTail))
	r.GET("/admin/routing", guard(a.handleRouting))
	r.GET("/admin/providers", guard(a.handleProviders))
	r.GET("/admin/models", guard(a.handleModels))
	r.GET("/admin/ollama/models", guard(a.handleOllamaModels))
	r.DELETE("/admin/ollama/models", guard(a.handleOllamaDelete))
	r.GET("/admin/ollama/pulls", guard(a.handleOllamaPulls))
	r.POST("/admin/ollama/pull", guard(a.handleOllamaPull))
}

func (a *API) emit(event, project string, data any) { a.Emit(event, project, data) }

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) actor(ctx *fasthttp.RequestCtx) string { return a.Actor(ctx) }

// adminTimeout bounds an admin request's store work.
const adminTimeout = 15 * time.Second

func adminCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), adminTimeout)
}
