package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/batch"
	"github.com/aigateway/gateway/engine/budget"
	"github.com/aigateway/gateway/engine/catalog"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/tenant"
	"github.com/aigateway/gateway/providers"
)

// Native provider batches ([batch] native = true, docs/batch.md): chat
// completion items whose model (named, not "auto") is served by a provider
// with a discounted batch API of its own (providers.NativeBatcher:
// Anthropic's Message Batches) are submitted there, one provider batch per
// provider and page of items, instead of running one by one. What they
// keep of the pipeline: the key's check, the project's model allow-list
// and budget (an item of a project over budget is left to the pipeline,
// which answers 402), the translation, and one ledger row per item
// (endpoint "batch", id <batch>-<line>-native) priced at the provider's
// batch price (accounting.Cost times BatchDiscount, 0.5), added to the
// project's spend. What they do not get: request policies, the response
// cache, retries and fallbacks (the provider runs them, within its 24 h).

// nativeBatches implements batch.Native for the server.
type nativeBatches struct{ s *Server }

var _ batch.Native = nativeBatches{}

// nativeRefSep separates the provider and its batch id in a reference.
const nativeRefSep = " "

// nativeCall is an item decoded for a provider batch.
type nativeCall struct {
	call  providers.Call
	model *catalog.Model
	line  int
}

// decodeItem decodes an item for a native batch: its call and model, or
// nil when it is not one (the pipeline then runs it and answers).
func (n nativeBatches) decodeItem(b store.Batch, p *tenant.Project, it store.BatchItem) *nativeCall {
	s := n.s
	req := new(providers.Request)
	if err := req.Decode(it.Body); err != nil || req.Stream {
		return nil
	}
	name := req.Model
	if (name == "" || name == "default") && p.DefaultModel != "" {
		name = p.DefaultModel
	}
	if name == "" || name == "auto" {
		return nil
	}
	m, err := s.catalog.Resolve(name)
	if err != nil || !s.cfg.Batch.nativeFor(m.Provider) || !s.modelAllowed(p, req.Model, m, "") {
		return nil
	}
	slot := s.upstreams[m.Provider]
	if slot == nil {
		return nil
	}
	if nb, ok := slot.p.(providers.NativeBatcher); !ok || nb.BatchDiscount() <= 0 {
		return nil
	}
	line := strconv.Itoa(it.Line)
	return &nativeCall{model: m, line: it.Line, call: providers.Call{Req: req, Model: m.Upstream, MaxOutputTokens: m.MaxOutputTokens,
		ID: "chatcmpl-" + b.ID + "-" + line, Created: time.Now().Unix(), NoReasoning: !m.Reasoning && m.Known}}
}

// project is the batch's project, or nil when its key no longer holds.
func (n nativeBatches) project(b store.Batch) *tenant.Project {
	_, p, err := batchKey(n.s.ten.dir.Snapshot(), batch.Identity{Project: b.ProjectID, KeyID: b.KeyID}, time.Now())
	if err != nil {
		return nil
	}
	return p
}

// Submit implements batch.Native.
func (n nativeBatches) Submit(ctx context.Context, b store.Batch, items []store.BatchItem) ([]batch.Submission, error) {
	if b.Endpoint != "/v1/chat/completions" {
		return nil, nil
	}
	p := n.project(b)
	if p == nil {
		return nil, nil // the pipeline answers 401 for each
	}
	if p.BudgetUSD > 0 {
		r, err := n.s.ten.bud.Reserve(ctx, budget.Limit{Project: p.ID, BudgetUSD: p.BudgetUSD, Period: p.BudgetPeriod}, 0)
		if err != nil {
			return nil, nil // over budget: the pipeline answers 402
		}
		r.Settle(0)
	}
	groups := map[string][]providers.BatchItem{}
	lines := map[string][]int{}
	var order []string
	for _, it := range items {
		nc := n.decodeItem(b, p, it)
		if nc == nil {
			continue
		}
		prov := nc.model.Provider
		if _, ok := groups[prov]; !ok {
			order = append(order, prov)
		}
		groups[prov] = append(groups[prov], providers.BatchItem{CustomID: "l" + strconv.Itoa(it.Line), Call: &nc.call})
		lines[prov] = append(lines[prov], it.Line)
	}
	var subs []batch.Submission
	var errs []error
	for _, prov := range order {
		nb := n.s.upstreams[prov].p.(providers.NativeBatcher)
		id, err := nb.SubmitBatch(ctx, groups[prov])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		nativeSubmitted.Add(len(lines[prov]))
		subs = append(subs, batch.Submission{Ref: []byte(prov + nativeRefSep + id), Lines: lines[prov]})
	}
	return subs, errors.Join(errs...)
}

// batcher is the provider and its batch id that a reference names.
func (n nativeBatches) batcher(ref []byte) (providers.NativeBatcher, string, error) {
	prov, id, ok := strings.Cut(string(ref), nativeRefSep)
	slot := n.s.upstreams[prov]
	if !ok || slot == nil {
		return nil, "", errors.New("native batch " + string(ref) + ": provider not configured")
	}
	nb, ok := slot.p.(providers.NativeBatcher)
	if !ok {
		return nil, "", errors.New("native batch " + string(ref) + ": provider has no batch API")
	}
	return nb, id, nil
}

// Cancel implements batch.Native: the provider's own cancel (OpenAI POST
// /v1/batches/{id}/cancel, Anthropic POST
// /v1/messages/batches/{id}/cancel).
func (n nativeBatches) Cancel(ctx context.Context, _ store.Batch, ref []byte) error {
	nb, id, err := n.batcher(ref)
	if err != nil {
		return err
	}
	if err := nb.CancelBatch(ctx, id); err != nil {
		return fmt.Errorf("cancel native batch %s: %w", ref, err)
	}
	nativeCancelled.Inc()
	return nil
}

// Collect implements batch.Native.
func (n nativeBatches) Collect(ctx context.Context, b store.Batch, ref []byte, items []store.BatchItem) (map[int]batch.Result, bool, error) {
	nb, id, err := n.batcher(ref)
	if err != nil {
		return nil, false, err
	}
	p := n.project(b)
	if p == nil {
		p = &tenant.Project{Project: store.Project{ID: b.ProjectID}}
	}
	byID := make(map[string]store.BatchItem, len(items))
	for _, it := range items {
		byID["l"+strconv.Itoa(it.Line)] = it
	}
	calls := map[string]*nativeCall{}
	call := func(cid string) *providers.Call {
		if nc := calls[cid]; nc != nil {
			return &nc.call
		}
		it, ok := byID[cid]
		if !ok {
			return nil
		}
		nc := n.decodeItem(b, p, it)
		if nc == nil {
			return nil
		}
		calls[cid] = nc
		return &nc.call
	}
	results, done, err := nb.BatchResults(ctx, id, call)
	if err != nil || !done {
		return nil, false, err
	}
	out := make(map[int]batch.Result, len(results))
	for _, r := range results {
		it, ok := byID[r.CustomID]
		if !ok {
			continue
		}
		reqID := b.ID + "-" + strconv.Itoa(it.Line) + "-native"
		out[it.Line] = batch.Result{Status: r.Status, RequestID: reqID, Body: r.Body}
		var m *catalog.Model
		if nc := calls[r.CustomID]; nc != nil {
			m = nc.model
		} else if nc := n.decodeItem(b, p, it); nc != nil {
			m = nc.model
		}
		n.record(b, p, m, reqID, r, nb.BatchDiscount())
	}
	return out, true, nil
}

// record writes a native item's ledger row at the batch price and adds
// its cost to the project's spend.
func (n nativeBatches) record(b store.Batch, p *tenant.Project, m *catalog.Model, reqID string, r providers.BatchResult, discount float64) {
	t := n.s.ten
	row := store.UsageRow{ID: reqID, Time: time.Now(), ProjectID: b.ProjectID, KeyID: b.KeyID, Endpoint: store.EndpointBatch,
		Status: r.Status, Cache: "native-batch"}
	if m != nil {
		row.RequestedModel, row.ServedModel, row.Provider = m.Name, m.Name, m.Provider
	}
	if r.Status >= 400 {
		row.ErrorCode = "native_batch_error"
	}
	if r.Usage.Set {
		row.PromptTokens, row.CachedTokens = int64(r.Usage.PromptTokens), int64(r.Usage.CachedTokens)
		row.CacheWriteTokens, row.CompletionTokens = int64(r.Usage.CacheWriteTokens), int64(r.Usage.CompletionTokens)
		if m != nil {
			row.CostUSD = accounting.Cost(m, r.Usage) * discount
		}
	}
	t.led.Record(&row)
	if p.BudgetUSD > 0 && row.CostUSD > 0 {
		if res, err := t.bud.Reserve(context.Background(), budget.Limit{Project: p.ID, BudgetUSD: p.BudgetUSD, Period: p.BudgetPeriod}, 0); err == nil {
			res.Settle(row.CostUSD)
		}
	}
	if m != nil {
		accounting.Count(m, row.CostUSD, &accounting.Saved{})
	}
}

// nativeSubmitted counts the batch items submitted to providers' batch
// APIs, nativeCancelled the provider batches cancelled.
var (
	nativeSubmitted = metrics.NewCounter(`gateway_batch_native_items_total`)
	nativeCancelled = metrics.NewCounter(`gateway_batch_native_cancels_total`)
)
