package admin

// The projects and keys admin API (docs/projects.md).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/budget"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/tenant"
	"github.com/aigateway/gateway/engine/webhook"
	"github.com/valyala/fasthttp"
)

// decodeBody decodes an admin request's JSON body strictly: unknown members
// are an error naming them.
func decodeBody(ctx *fasthttp.RequestCtx, v any) error {
	body := ctx.PostBody()
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_json", Msg: "request body: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_json", Msg: "request body: more than one JSON value"}
	}
	return nil
}

// storeError maps a store error to the admin API's envelope.
func storeError(err error, what string) *api.Error {
	var ae *api.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, store.ErrNotFound):
		return &api.Error{Status: 404, Type: api.TypeInvalidRequest, Code: what + "_not_found", Msg: "No " + what + " with that id"}
	case errors.Is(err, store.ErrReadOnly):
		return &api.Error{Status: 409, Type: api.TypeInvalidRequest, Code: "read_only",
			Msg: "This " + what + " is defined in gateway.toml and is read-only through the API: change it there and POST /admin/reload"}
	case errors.Is(err, store.ErrConflict):
		return &api.Error{Status: 409, Type: api.TypeInvalidRequest, Code: "conflict", Msg: err.Error()}
	case errors.Is(err, store.ErrInvalid):
		return &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_" + what, Msg: err.Error()}
	}
	return &api.Error{Status: 503, Type: api.TypeServer, Code: "store_unavailable", RetryAfter: 1, Msg: "the store failed: " + err.Error()}
}

// projectJSON is a project in the admin API.
type projectJSON struct {
	Object string `json:"object"`
	store.Project
	// Spend is this period's spend, on GET /admin/projects/{id} of a
	// project with a budget.
	Spend *spendJSON `json:"spend,omitempty"`
}

type spendJSON struct {
	PeriodStart time.Time `json:"period_start"`
	ResetsAt    time.Time `json:"resets_at"`
	SpentUSD    float64   `json:"spent_usd"`
	ReservedUSD float64   `json:"reserved_usd"`
	BudgetUSD   float64   `json:"budget_usd"`
}

// projectInput is the body of POST /admin/projects.
type projectInput struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	RPM              int64    `json:"rpm"`
	TPM              int64    `json:"tpm"`
	BudgetUSD        float64  `json:"budget_usd"`
	BudgetPeriod     string   `json:"budget_period"`
	Models           []string `json:"models"`
	DefaultModel     string   `json:"default_model"`
	CacheNamespace   string   `json:"cache_namespace"`
	Skills           *bool    `json:"skills"`
	StripBoilerplate *bool    `json:"strip_boilerplate"`
}

// checkModels refuses model names the gateway cannot resolve, so that a
// typo in an allow-list or a default model is caught when it is made.
func (a *API) checkModels(models []string, defaultModel string) error {
	for _, m := range models {
		if m == "auto" || strings.HasSuffix(m, "/*") || isTier(m) {
			continue
		}
		if err := a.Resolve(m); err != nil {
			return &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_project", Param: "models",
				Msg: "models: " + m + " is neither a model the gateway serves, a routing tier (local, fast, strong, reasoning), \"auto\" nor provider/*"}
		}
	}
	if defaultModel != "" && defaultModel != "auto" {
		if err := a.Resolve(defaultModel); err != nil {
			return &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_project", Param: "default_model",
				Msg: "default_model: " + defaultModel + " is not a model the gateway serves"}
		}
	}
	return nil
}

func isTier(name string) bool {
	switch name {
	case "local", "fast", "strong", "reasoning":
		return true
	}
	return false
}

// handleProjectCreate serves POST /admin/projects.
func (a *API) handleProjectCreate(ctx *fasthttp.RequestCtx) {
	var in projectInput
	if err := decodeBody(ctx, &in); err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	if in.Name == "" {
		in.Name = in.ID
	}
	if err := a.checkModels(in.Models, in.DefaultModel); err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	c, cancel := adminCtx()
	defer cancel()
	p, err := a.Store.CreateProject(c, store.Project{ID: in.ID, Name: in.Name, RPM: in.RPM, TPM: in.TPM,
		BudgetUSD: in.BudgetUSD, BudgetPeriod: in.BudgetPeriod, Models: in.Models, DefaultModel: in.DefaultModel,
		CacheNamespace: in.CacheNamespace, Skills: in.Skills, StripBoilerplate: in.StripBoilerplate})
	if err != nil {
		api.WriteError(ctx, storeError(err, "project"))
		return
	}
	a.changed(c)
	a.audit(ctx, "project.create", p.ID, nil, p)
	api.WriteJSON(ctx, 201, projectJSON{Object: "project", Project: p})
}

// handleProjectList serves GET /admin/projects.
func (a *API) handleProjectList(ctx *fasthttp.RequestCtx) {
	c, cancel := adminCtx()
	defer cancel()
	ps, err := a.Store.ListProjects(c)
	if err != nil {
		api.WriteError(ctx, storeError(err, "project"))
		return
	}
	out := make([]projectJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, projectJSON{Object: "project", Project: p})
	}
	api.WriteJSON(ctx, 200, map[string]any{"object": "list", "data": out})
}

// handleProjectGet serves GET /admin/projects/{id}, with this period's
// spend when the project has a budget.
func (a *API) handleProjectGet(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	c, cancel := adminCtx()
	defer cancel()
	p, err := a.Store.Project(c, id)
	if err != nil {
		api.WriteError(ctx, storeError(err, "project"))
		return
	}
	out := projectJSON{Object: "project", Project: p}
	if p.BudgetUSD > 0 {
		l := budget.Limit{Project: p.ID, BudgetUSD: p.BudgetUSD, Period: p.BudgetPeriod}
		if spent, reserved, err := a.Budgets.Spent(c, l); err == nil {
			start, next := budget.PeriodBounds(p.BudgetPeriod, time.Now())
			out.Spend = &spendJSON{PeriodStart: start, ResetsAt: next, SpentUSD: spent, ReservedUSD: reserved, BudgetUSD: p.BudgetUSD}
		}
	}
	api.WriteJSON(ctx, 200, out)
}

// handleProjectPatch serves PATCH /admin/projects/{id}: members present
// are changed (null resets skills and strip_boilerplate to inherit).
func (a *API) handleProjectPatch(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	var patch store.ProjectPatch
	if err := decodeBody(ctx, &patch); err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	c, cancel := adminCtx()
	defer cancel()
	before, err := a.Store.Project(c, id)
	if err != nil {
		api.WriteError(ctx, storeError(err, "project"))
		return
	}
	if before.Static {
		api.WriteError(ctx, readOnlyProject(id))
		return
	}
	models, def := before.Models, before.DefaultModel
	if patch.Models.Set {
		models = patch.Models.Value
	}
	if patch.DefaultModel.Set {
		def = patch.DefaultModel.Value
	}
	if err := a.checkModels(models, def); err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	p, err := a.Store.UpdateProject(c, id, patch)
	if err != nil {
		api.WriteError(ctx, storeError(err, "project"))
		return
	}
	a.changed(c)
	a.audit(ctx, "project.update", id, before, p)
	api.WriteJSON(ctx, 200, projectJSON{Object: "project", Project: p})
}

func readOnlyProject(id string) *api.Error {
	return &api.Error{Status: 409, Type: api.TypeInvalidRequest, Code: "read_only",
		Msg: "Project " + id + " is defined in gateway.toml ([[projects]] or [[keys]]) and is read-only through the API: change gateway.toml and POST /admin/reload"}
}

// handleProjectDelete serves DELETE /admin/projects/{id}: the project goes,
// its keys are revoked; its ledger rows stay.
func (a *API) handleProjectDelete(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	c, cancel := adminCtx()
	defer cancel()
	before, err := a.Store.Project(c, id)
	if err != nil {
		api.WriteError(ctx, storeError(err, "project"))
		return
	}
	if before.Static {
		api.WriteError(ctx, readOnlyProject(id))
		return
	}
	if err := a.Store.DeleteProject(c, id); err != nil {
		api.WriteError(ctx, storeError(err, "project"))
		return
	}
	a.changed(c)
	a.audit(ctx, "project.delete", id, before, nil)
	api.WriteJSON(ctx, 200, map[string]any{"id": id, "object": "project", "deleted": true})
}

// keyJSON is a key in the admin API; Key (the secret) only once, at
// creation.
type keyJSON struct {
	Object     string     `json:"object"`
	ID         string     `json:"id"`
	Key        string     `json:"key,omitempty"`
	Prefix     string     `json:"prefix"`
	ProjectID  string     `json:"project_id"`
	Name       string     `json:"name"`
	CreatedAt  *time.Time `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// Static keys come from gateway.toml and cannot be revoked here.
	Static bool `json:"static"`
	// Status is active, revoked or expired.
	Status string `json:"status"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func storeKeyJSON(k store.Key, now time.Time) keyJSON {
	status := "active"
	switch {
	case !k.RevokedAt.IsZero():
		status = "revoked"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		status = "expired"
	}
	return keyJSON{Object: "api_key", ID: k.ID, Prefix: k.Prefix, ProjectID: k.ProjectID, Name: k.Name,
		CreatedAt: timePtr(k.CreatedAt), ExpiresAt: timePtr(k.ExpiresAt), RevokedAt: timePtr(k.RevokedAt),
		LastUsedAt: timePtr(k.LastUsedAt), Status: status}
}

func staticKeyJSON(k *tenant.Key) keyJSON {
	return keyJSON{Object: "api_key", ID: k.ID, ProjectID: k.ProjectID, Name: k.Name, Static: true, Status: "active"}
}

// keyInput is the body of POST /admin/projects/{id}/keys.
type keyInput struct {
	Name string `json:"name"`
	// ExpiresAt is RFC 3339; ExpiresInDays is the alternative.
	ExpiresAt     *time.Time `json:"expires_at"`
	ExpiresInDays float64    `json:"expires_in_days"`
}

// handleKeyCreate serves POST /admin/projects/{id}/keys: the secret is in
// the answer, and nowhere else, ever.
func (a *API) handleKeyCreate(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	var in keyInput
	if err := decodeBody(ctx, &in); err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	nk := store.NewKey{ProjectID: id, Name: in.Name}
	switch {
	case in.ExpiresAt != nil && in.ExpiresInDays != 0:
		api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_key", Msg: "set expires_at or expires_in_days, not both"})
		return
	case in.ExpiresAt != nil:
		nk.ExpiresAt = *in.ExpiresAt
	case in.ExpiresInDays < 0:
		api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_key", Param: "expires_in_days", Msg: "expires_in_days must be positive"})
		return
	case in.ExpiresInDays > 0:
		nk.ExpiresAt = time.Now().Add(time.Duration(in.ExpiresInDays * float64(24*time.Hour)))
	}
	c, cancel := adminCtx()
	defer cancel()
	k, err := a.Store.CreateKey(c, nk)
	if err != nil {
		api.WriteError(ctx, storeError(err, "project"))
		return
	}
	a.changed(c)
	out := storeKeyJSON(k.Key, time.Now())
	a.audit(ctx, "key.create", k.ID, nil, out) // without the secret
	a.emit(webhook.EventKeyCreated, k.ProjectID, out)
	out.Key = k.Secret
	api.WriteJSON(ctx, 201, out)
}

// handleKeyList serves GET /admin/projects/{id}/keys: the project's keys,
// revoked ones included, and gateway.toml's for it; never a secret.
func (a *API) handleKeyList(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	c, cancel := adminCtx()
	defer cancel()
	ks, err := a.Store.ListKeys(c, id)
	if err != nil {
		api.WriteError(ctx, storeError(err, "project"))
		return
	}
	now := time.Now()
	out := make([]keyJSON, 0, len(ks))
	for _, k := range a.Dir.Snapshot().StaticKeys(id) {
		out = append(out, staticKeyJSON(k))
	}
	for _, k := range ks {
		out = append(out, storeKeyJSON(k, now))
	}
	api.WriteJSON(ctx, 200, map[string]any{"object": "list", "data": out})
}

// handleKeyRevoke serves DELETE /admin/keys/{id}. Every replica refuses the
// key within a second (docs/projects.md).
func (a *API) handleKeyRevoke(ctx *fasthttp.RequestCtx) {
	id, _ := ctx.UserValue("id").(string)
	if k := a.Dir.Snapshot().Key(id); k != nil && k.Static {
		api.WriteError(ctx, &api.Error{Status: 409, Type: api.TypeInvalidRequest, Code: "read_only",
			Msg: "Key " + id + " is defined in gateway.toml ([[keys]] or GATEWAY_API_KEY): remove it there and POST /admin/reload"})
		return
	}
	c, cancel := adminCtx()
	defer cancel()
	before, err := a.Store.Key(c, id)
	if err != nil {
		api.WriteError(ctx, storeError(err, "key"))
		return
	}
	if err := a.Store.RevokeKey(c, id); err != nil {
		api.WriteError(ctx, storeError(err, "key"))
		return
	}
	after, err := a.Store.Key(c, id)
	if err != nil {
		api.WriteError(ctx, storeError(err, "key"))
		return
	}
	a.changed(c)
	now := time.Now()
	out := storeKeyJSON(after, now)
	if before.RevokedAt.IsZero() {
		a.audit(ctx, "key.revoke", id, storeKeyJSON(before, now), out)
		a.emit(webhook.EventKeyRevoked, after.ProjectID, out)
	}
	api.WriteJSON(ctx, 200, out)
}

// changed refreshes this replica at once and announces the change
// to the others.
func (a *API) changed(ctx context.Context) {
	if err := a.Dir.Changed(ctx); err != nil {
		a.Log.Warn("tenancy refresh after a change failed; the next poll retries", "error", err.Error())
	}
}
