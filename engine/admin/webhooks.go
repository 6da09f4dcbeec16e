package admin

// The webhooks admin API (docs/webhooks.md).

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/webhook"
	"github.com/valyala/fasthttp"
)

// webhookJSON is an endpoint in the admin API; the secret only at
// creation.
type webhookJSON struct {
	Object    string    `json:"object"`
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Secret    string    `json:"secret,omitempty"`
	Events    []string  `json:"events"`
	ProjectID string    `json:"project_id,omitempty"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

func toWebhookJSON(w store.Webhook) webhookJSON {
	ev := w.Events
	if len(ev) == 0 {
		ev = []string{"*"}
	}
	return webhookJSON{Object: "webhook", ID: w.ID, URL: w.URL, Events: ev, ProjectID: w.ProjectID, Disabled: w.Disabled, CreatedAt: w.CreatedAt}
}

type webhookInput struct {
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	ProjectID string   `json:"project_id"`
	// Secret is optional: one is generated ("whsec_…") when empty.
	Secret string `json:"secret"`
}

// handleWebhookCreate serves POST /admin/webhooks: the URL is checked
// (http/https, not private unless [webhooks] allow says so), the events
// known; the answer holds the signing secret, shown this once.
func (a *API) handleWebhookCreate(ctx *fasthttp.RequestCtx) {
	var in webhookInput
	if err := decodeBody(ctx, &in); err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	for _, e := range in.Events {
		if e != "*" && !slices.Contains(webhook.Events, e) {
			api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_webhook", Param: "events",
				Msg: "events: unknown event " + e + "; known: * and " + strings.Join(webhook.Events, ", ")})
			return
		}
	}
	c, cancel := adminCtx()
	defer cancel()
	if err := a.Hooks.Guard().CheckURL(c, in.URL); err != nil {
		api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_webhook_url", Param: "url", Msg: err.Error()})
		return
	}
	w, err := a.Store.CreateWebhook(c, store.Webhook{URL: in.URL, Events: in.Events, ProjectID: in.ProjectID, Secret: in.Secret})
	if err != nil {
		api.WriteError(ctx, storeError(err, "webhook"))
		return
	}
	a.Hooks.Invalidate()
	out := toWebhookJSON(w)
	a.audit(ctx, "webhook.create", w.ID, nil, out)
	out.Secret = w.Secret
	api.WriteJSON(ctx, 201, out)
}

// handleWebhookList serves GET /admin/webhooks (no secrets).
func (a *API) handleWebhookList(ctx *fasthttp.RequestCtx) {
	c, cancel := adminCtx()
	defer cancel()
	ws, err := a.Store.ListWebhooks(c)
	if err != nil {
		api.WriteError(ctx, storeError(err, "webhook"))
		return
	}
	out := make([]webhookJSON, 0, len(ws))
	for _, w := range ws {
		out = append(out, toWebhookJSON(w))
	}
	api.WriteJSON(ctx, 200, map[string]any{"object": "list", "data": out})
}

// handleWebhookDelete serves DELETE /admin/webhooks/{id}: the endpoint and
// its pending deliveries go.
func (a *API) handleWebhookDelete(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	c, cancel := adminCtx()
	defer cancel()
	before, err := a.Store.Webhook(c, id)
	if err != nil {
		api.WriteError(ctx, storeError(err, "webhook"))
		return
	}
	if err := a.Store.DeleteWebhook(c, id); err != nil {
		api.WriteError(ctx, storeError(err, "webhook"))
		return
	}
	a.Hooks.Invalidate()
	a.audit(ctx, "webhook.delete", id, toWebhookJSON(before), nil)
	api.WriteJSON(ctx, 200, map[string]any{"id": id, "object": "webhook", "deleted": true})
}

// handleWebhookDeliveries serves GET /admin/webhooks/{id}/deliveries: the
// most recent deliveries and their state.
func (a *API) handleWebhookDeliveries(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	c, cancel := adminCtx()
	defer cancel()
	if _, err := a.Store.Webhook(c, id); err != nil {
		api.WriteError(ctx, storeError(err, "webhook"))
		return
	}
	ds, err := a.Store.ListDeliveries(c, id, 100)
	if err != nil {
		api.WriteError(ctx, storeError(err, "webhook"))
		return
	}
	if ds == nil {
		ds = []store.Delivery{}
	}
	api.WriteJSON(ctx, 200, map[string]any{"object": "list", "data": ds})
}

// handleWebhookTest serves POST /admin/webhooks/{id}/test: one signed
// webhook.test delivery, sent now (not through the outbox), and its
// outcome.
func (a *API) handleWebhookTest(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	c, cancel := context.WithTimeout(context.Background(), adminTimeout+30*time.Second)
	defer cancel()
	w, err := a.Store.Webhook(c, id)
	if err != nil {
		api.WriteError(ctx, storeError(err, "webhook"))
		return
	}
	env := webhook.Envelope{ID: "evt_test_" + time.Now().UTC().Format("20060102T150405"), Type: webhook.EventTest,
		CreatedAt: time.Now().UTC(), ProjectID: w.ProjectID, Data: map[string]string{"message": "test delivery from the AI gateway"}}
	body := rawJSON(env)
	res := a.Hooks.Send(c, &w, "dlv_test", webhook.EventTest, body)
	api.WriteJSON(ctx, 200, map[string]any{"object": "webhook.test", "webhook_id": id, "delivered": res.OK(),
		"status": res.Status, "duration_ms": res.DurationMS, "error": res.Error})
}
