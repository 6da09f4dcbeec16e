package admin

// Usage, requests and audit admin API: aggregates and pages read from the
// store's ledger, so that every replica answers for the whole fleet.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/webhook"
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// parseWhen reads a from/to parameter: RFC 3339, or a UTC date
// (YYYY-MM-DD). A date as "to" means the end of that day, so that
// from=2025-01-01&to=2025-01-31 covers all of January.
func parseWhen(v, param string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: param,
		Msg: param + ": expected RFC 3339 (2025-01-31T12:00:00Z) or a date (2025-01-31), got " + strconv.Quote(v)}
}

// timeRange reads from, to and the legacy day.
func timeRange(args *fasthttp.Args) (from, to time.Time, err error) {
	if day := string(args.Peek("day")); day != "" {
		if from, err = parseWhen(day, "day", false); err != nil {
			return
		}
		return from, from.AddDate(0, 0, 1), nil
	}
	if from, err = parseWhen(string(args.Peek("from")), "from", false); err != nil {
		return
	}
	to, err = parseWhen(string(args.Peek("to")), "to", true)
	return
}

// flushLedger makes this replica's recorded rows visible to the query
// that follows (best effort: a failing store answers the query anyway).
func (a *API) flushLedger() {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = a.Ledger.Flush(c)
}

// handleAdminUsage serves GET /admin/usage?from&to&group_by&project
// [&format=csv]: requests, errors, tokens, cost and savings by technique,
// grouped by day, project, model (the default), key, provider or
// endpoint, from the ledger of every replica.
func (a *API) handleAdminUsage(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	from, to, err := timeRange(args)
	if err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	group := string(args.Peek("group_by"))
	if group == "" {
		group = store.GroupModel
	}
	q := store.UsageQuery{From: from, To: to, GroupBy: group, Project: string(args.Peek("project"))}
	a.flushLedger()
	c, cancel := adminCtx()
	defer cancel()
	groups, err := a.Store.UsageSummary(c, q)
	if err != nil {
		api.WriteError(ctx, storeError(err, "usage"))
		return
	}
	var total store.UsageGroup
	for _, g := range groups {
		addGroup(&total, &g)
	}
	if string(args.Peek("format")) == "csv" {
		writeUsageCSV(ctx, group, groups)
		return
	}
	b := append([]byte(nil), `{"object":"usage","group_by":`...)
	b = jsonscan.AppendQuote(b, group)
	b = appendTimeMember(b, "from", from)
	b = appendTimeMember(b, "to", to)
	b = append(b, `,"rows":[`...)
	for i := range groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = jsonscan.AppendQuote(b, group)
		b = append(b, ':')
		b = jsonscan.AppendQuote(b, groups[i].Key)
		b = appendGroup(b, &groups[i])
		b = append(b, '}')
	}
	b = append(b, `],"total":{`...)
	b = appendTotal(b, &total)
	b = append(b, "}}"...)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func addGroup(dst, g *store.UsageGroup) {
	dst.Requests += g.Requests
	dst.Errors += g.Errors
	dst.PromptTokens += g.PromptTokens
	dst.CachedTokens += g.CachedTokens
	dst.CacheWriteTokens += g.CacheWriteTokens
	dst.CompletionTokens += g.CompletionTokens
	dst.CostUSD += g.CostUSD
	dst.Savings.ResponseCache += g.Savings.ResponseCache
	dst.Savings.ProviderPromptCache += g.Savings.ProviderPromptCache
	dst.Savings.IDEBoilerplate += g.Savings.IDEBoilerplate
	dst.Savings.FileDedup += g.Savings.FileDedup
	dst.Savings.Routing += g.Savings.Routing
}

func appendTimeMember(b []byte, name string, t time.Time) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":`...)
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

// appendGroup appends a group's members, each preceded by a comma; the
// figures have the precision of the old in-memory report (cost to the
// micro-dollar).
func appendGroup(b []byte, g *store.UsageGroup) []byte {
	b = append(b, `,"cache_write_tokens":`...)
	b = strconv.AppendInt(b, g.CacheWriteTokens, 10)
	b = append(b, `,"requests":`...)
	b = strconv.AppendInt(b, g.Requests, 10)
	b = append(b, `,"errors":`...)
	b = strconv.AppendInt(b, g.Errors, 10)
	b = append(b, `,"prompt_tokens":`...)
	b = strconv.AppendInt(b, g.PromptTokens, 10)
	b = append(b, `,"cached_tokens":`...)
	b = strconv.AppendInt(b, g.CachedTokens, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, g.CompletionTokens, 10)
	b = append(b, `,"cost_usd":`...)
	b = strconv.AppendFloat(b, g.CostUSD, 'f', 6, 64)
	b = append(b, `,"saved_usd":{`...)
	sum := 0.0
	for _, t := range [...]struct {
		name string
		v    float64
	}{
		{"response_cache", g.Savings.ResponseCache},
		{"provider_prompt_cache", g.Savings.ProviderPromptCache},
		{"ide_boilerplate", g.Savings.IDEBoilerplate},
		{"file_dedup", g.Savings.FileDedup},
		{"routing", g.Savings.Routing},
	} {
		b = append(b, '"')
		b = append(b, t.name...)
		b = append(b, `":`...)
		b = strconv.AppendFloat(b, t.v, 'f', 6, 64)
		b = append(b, ',')
		sum += t.v
	}
	b = append(b, `"total":`...)
	b = strconv.AppendFloat(b, sum, 'f', 6, 64)
	return append(b, '}')
}

// appendTotal appends the total's members without a leading comma.
func appendTotal(b []byte, g *store.UsageGroup) []byte {
	mark := len(b)
	b = appendGroup(b, g)
	return append(b[:mark], b[mark+1:]...)
}

func writeUsageCSV(ctx *fasthttp.RequestCtx, group string, groups []store.UsageGroup) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{group, "requests", "errors", "prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens",
		"cost_usd", "saved_response_cache_usd", "saved_provider_prompt_cache_usd", "saved_ide_boilerplate_usd", "saved_file_dedup_usd", "saved_routing_usd"})
	for _, g := range groups {
		_ = w.Write([]string{g.Key, itoa(g.Requests), itoa(g.Errors), itoa(g.PromptTokens), itoa(g.CachedTokens), itoa(g.CacheWriteTokens),
			itoa(g.CompletionTokens), ftoa(g.CostUSD), ftoa(g.Savings.ResponseCache), ftoa(g.Savings.ProviderPromptCache),
			ftoa(g.Savings.IDEBoilerplate), ftoa(g.Savings.FileDedup), ftoa(g.Savings.Routing)})
	}
	w.Flush()
	ctx.SetContentType("text/csv; charset=utf-8")
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="usage.csv"`)
	ctx.SetBody(buf.Bytes())
}

func itoa(v int64) string   { return strconv.FormatInt(v, 10) }
func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// requestQuery reads the filters of /admin/requests.
func requestQuery(args *fasthttp.Args) (store.RequestQuery, error) {
	from, to, err := timeRange(args)
	if err != nil {
		return store.RequestQuery{}, err
	}
	lo, hi, err := store.ParseStatus(string(args.Peek("status")))
	if err != nil {
		return store.RequestQuery{}, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: "status", Msg: err.Error()}
	}
	q := store.RequestQuery{Project: string(args.Peek("project")), Key: string(args.Peek("key")), Model: string(args.Peek("model")),
		Cache: string(args.Peek("cache")), StatusMin: lo, StatusMax: hi, From: from, To: to, Cursor: string(args.Peek("cursor")),
		Routed: string(args.Peek("routed")) == "1"}
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 1000 {
			return q, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: "limit", Msg: "limit: expected 1 to 1000"}
		}
		q.Limit = n
	}
	return q, nil
}

// maxCSVRows bounds one CSV export of /admin/requests.
const maxCSVRows = 1_000_000

// handleAdminRequests serves GET /admin/requests: ledger rows newest
// first, filtered (project, key, model, status as 429/4xx/5xx/error, cache
// as hit or one tier, from, to) and paged by cursor; format=csv exports
// every matching row (up to a million) instead of a page.
func (a *API) handleAdminRequests(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	q, err := requestQuery(args)
	if err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	a.flushLedger()
	if string(args.Peek("format")) == "csv" {
		a.requestsCSV(ctx, q)
		return
	}
	c, cancel := adminCtx()
	defer cancel()
	page, err := a.Store.Requests(c, q)
	if err != nil {
		api.WriteError(ctx, storeError(err, "request"))
		return
	}
	if page.Rows == nil {
		page.Rows = []store.UsageRow{}
	}
	api.WriteJSON(ctx, 200, struct {
		Object string `json:"object"`
		store.RequestPage
	}{"list", page})
}

var requestColumns = []string{"id", "time", "project_id", "key_id", "endpoint", "requested_model", "served_model", "provider",
	"status", "error_code", "prompt_tokens", "cached_tokens", "cache_write_tokens", "completion_tokens", "cost_usd",
	"saved_response_cache_usd", "saved_provider_prompt_cache_usd", "saved_ide_boilerplate_usd", "saved_file_dedup_usd",
	"saved_routing_usd", "latency_ms", "upstream_ms", "cache", "route_reason", "stream",
	"classifier_cost_usd", "cascade_extra_cost_usd"}

func (a *API) requestsCSV(ctx *fasthttp.RequestCtx, q store.RequestQuery) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(requestColumns)
	q.Limit = 1000
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for n := 0; n < maxCSVRows; {
		page, err := a.Store.Requests(c, q)
		if err != nil {
			api.WriteError(ctx, storeError(err, "request"))
			return
		}
		for _, r := range page.Rows {
			_ = w.Write([]string{r.ID, r.Time.UTC().Format(time.RFC3339Nano), r.ProjectID, r.KeyID, r.Endpoint, r.RequestedModel,
				r.ServedModel, r.Provider, strconv.Itoa(r.Status), r.ErrorCode, itoa(r.PromptTokens), itoa(r.CachedTokens),
				itoa(r.CacheWriteTokens), itoa(r.CompletionTokens), ftoa(r.CostUSD), ftoa(r.Savings.ResponseCache),
				ftoa(r.Savings.ProviderPromptCache), ftoa(r.Savings.IDEBoilerplate), ftoa(r.Savings.FileDedup),
				ftoa(r.Savings.Routing), ftoa(r.LatencyMS), ftoa(r.UpstreamMS), r.Cache, r.RouteReason, strconv.FormatBool(r.Stream),
				ftoa(r.ClassifierCostUSD), ftoa(r.CascadeExtraCostUSD)})
		}
		n += len(page.Rows)
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	w.Flush()
	ctx.SetContentType("text/csv; charset=utf-8")
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="requests.csv"`)
	ctx.SetBody(buf.Bytes())
}

// handleAdminAudit serves GET /admin/audit?from&to&action&target&cursor&limit.
func (a *API) handleAdminAudit(ctx *fasthttp.RequestCtx) {
	args := ctx.QueryArgs()
	from, to, err := timeRange(args)
	if err != nil {
		api.WriteError(ctx, api.As(err))
		return
	}
	q := store.AuditQuery{From: from, To: to, Action: string(args.Peek("action")), Target: string(args.Peek("target")),
		Cursor: string(args.Peek("cursor"))}
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 1000 {
			api.WriteError(ctx, &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: "invalid_request", Param: "limit", Msg: "limit: expected 1 to 1000"})
			return
		}
		q.Limit = n
	}
	c, cancel := adminCtx()
	defer cancel()
	page, err := a.Store.AuditLog(c, q)
	if err != nil {
		api.WriteError(ctx, storeError(err, "audit"))
		return
	}
	if page.Entries == nil {
		page.Entries = []store.AuditEntry{}
	}
	api.WriteJSON(ctx, 200, struct {
		Object string `json:"object"`
		store.AuditPage
	}{"list", page})
}

// audit records an admin action: who (the admin key's name), what, on
// what, and the object before and after. A failure to record is logged,
// not returned: the action already happened.
func (a *API) audit(ctx *fasthttp.RequestCtx, action, target string, before, after any) {
	actor := a.actor(ctx)
	if actor == "" {
		actor = "admin"
	}
	e := store.AuditEntry{Actor: actor, Action: action, Target: target, Before: rawJSON(before), After: rawJSON(after)}
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Store.Audit(c, e); err != nil {
		a.Log.Warn("audit entry not recorded", "action", action, "target", target, "actor", actor, "error", err.Error())
	}
}

func rawJSON(v any) json.RawMessage {
	switch v := v.(type) {
	case nil:
		return nil
	case json.RawMessage:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// Audited records a successful admin action whose handler knows nothing of
// the audit log (policies, cache purge, reload): the target is the {name}
// route parameter, "before" what before returns (nil: nothing; it runs
// before h), "after" the JSON answer. Policy changes also raise
// policy.updated.
func (a *API) Audited(action string, before func(ctx *fasthttp.RequestCtx) any, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		var prev any
		if before != nil {
			prev = before(ctx)
		}
		h(ctx)
		if ctx.Response.StatusCode() >= 400 {
			return
		}
		target, _ := ctx.UserValue("name").(string)
		var after json.RawMessage
		if b := ctx.Response.Body(); len(b) < 64<<10 && json.Valid(b) {
			after = bytes.Clone(b)
		}
		a.audit(ctx, action, target, prev, after)
		if strings.HasPrefix(action, "policy.") {
			a.emit(webhook.EventPolicyUpdated, "", map[string]string{"policy": target, "action": action, "actor": a.actor(ctx)})
		}
	}
}
