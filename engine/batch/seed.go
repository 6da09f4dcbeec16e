package batch

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/valyala/fasthttp"
)

// The seed's batch endpoints (/v1/batch), kept as aliases over the same
// batches: a POST of {requests: […], metadata} becomes an input file and a
// /v1/chat/completions batch, so the seed's clients get durability, tenancy
// and the full pipeline too. Its answers keep the seed's shapes.

// seedMaxRequests is the seed's cap on a /v1/batch request.
const seedMaxRequests = 1000

// handleSeedCreate serves POST /v1/batch.
func (s *Service) handleSeedCreate(ctx *fasthttp.RequestCtx, who Identity) {
	var req struct {
		Requests []json.RawMessage `json:"requests"`
		Metadata json.RawMessage   `json:"metadata"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
		api.WriteError(ctx, badRequest("", "invalid_request", "The body must be a JSON object with requests: "+err.Error()))
		return
	}
	if len(req.Requests) == 0 || len(req.Requests) > seedMaxRequests {
		api.WriteError(ctx, badRequest("requests", "invalid_request", "requests must list 1 to 1000 requests."))
		return
	}
	const endpoint = "/v1/chat/completions"
	var jsonl bytes.Buffer
	for i, raw := range req.Requests {
		var it struct {
			CustomID string          `json:"custom_id"`
			Body     json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(raw, &it); err != nil {
			api.WriteError(ctx, badRequest("requests", "invalid_request", "requests["+strconv.Itoa(i)+"] is not a request object."))
			return
		}
		if it.CustomID == "" {
			it.CustomID = "request_" + strconv.Itoa(i)
		}
		if len(it.Body) == 0 {
			it.Body = raw // the seed's shorthand: the item is the body
		}
		// The seed ignored method and url: every item is a chat completion.
		line, _ := json.Marshal(map[string]any{"custom_id": it.CustomID, "method": "POST", "url": endpoint, "body": it.Body})
		jsonl.Write(line)
		jsonl.WriteByte('\n')
	}
	var meta []byte
	if m := req.Metadata; len(m) > 0 && m[0] == '{' {
		meta = m
	}
	sc, cancel := storeCtx()
	defer cancel()
	f, err := s.st.PutFile(sc, store.File{ProjectID: who.Project, Purpose: PurposeBatch, Filename: "batch.jsonl", Content: jsonl.Bytes(), CreatedAt: s.o.Now()})
	if err != nil {
		api.WriteError(ctx, api.Internal())
		return
	}
	b, e := s.create(who, f.ID, endpoint, meta)
	if e != nil {
		api.WriteError(ctx, e)
		return
	}
	api.WriteJSON(ctx, 200, map[string]any{"batch_id": b.ID, "status": "processing", "total": len(req.Requests),
		"created_at": b.CreatedAt.UTC().Format(time.RFC3339)})
}

// seedStatus maps a batch status to the seed's vocabulary.
func seedStatus(status string) string {
	switch status {
	case store.BatchValidating, store.BatchInProgress, store.BatchFinalizing:
		return "processing"
	case store.BatchCancelling:
		return "cancelled"
	}
	return status
}

// handleSeedGet serves GET /v1/batch/{id}.
func (s *Service) handleSeedGet(ctx *fasthttp.RequestCtx, who Identity) {
	sc, cancel := storeCtx()
	defer cancel()
	b, err := s.st.Batch(sc, who.Project, pathID(ctx))
	if err != nil {
		api.WriteError(ctx, lookupError(err, "batch", pathID(ctx)))
		return
	}
	var completedAt any
	if t := firstSet(b.CompletedAt, b.CancelledAt, b.FailedAt, b.ExpiredAt); !t.IsZero() {
		completedAt = t.UTC().Format(time.RFC3339)
	}
	api.WriteJSON(ctx, 200, map[string]any{"batch_id": b.ID, "status": seedStatus(b.Status), "total": b.Total,
		"completed": b.Completed, "failed": b.Failed, "pending": b.Total - b.Completed - b.Failed,
		"created_at": b.CreatedAt.UTC().Format(time.RFC3339), "completed_at": completedAt})
}

func firstSet(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// handleSeedResults serves GET /v1/batch/{id}/results?offset&limit: the
// finished items in input order, in the seed's result shape.
func (s *Service) handleSeedResults(ctx *fasthttp.RequestCtx, who Identity) {
	args := ctx.QueryArgs()
	offset, limit := 0, 100
	for _, p := range []struct {
		name string
		v    *int
		min  int
	}{{"offset", &offset, 0}, {"limit", &limit, 1}} {
		if v := args.Peek(p.name); len(v) > 0 {
			n, err := strconv.Atoi(string(v))
			if err != nil || n < p.min || n > 100000 {
				api.WriteError(ctx, badRequest(p.name, "invalid_request", p.name+" must be a non-negative integer"))
				return
			}
			*p.v = n
		}
	}
	if limit > 1000 {
		limit = 1000
	}
	sc, cancel := storeCtx()
	defer cancel()
	id := pathID(ctx)
	if _, err := s.st.Batch(sc, who.Project, id); err != nil {
		api.WriteError(ctx, lookupError(err, "batch", id))
		return
	}
	var done []store.BatchItem
	after := 0
	for {
		items, err := s.st.BatchItems(sc, id, "", after, 1000)
		if err != nil {
			api.WriteError(ctx, api.Internal())
			return
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			after = it.Line
			if it.State != store.ItemPending {
				done = append(done, it)
			}
		}
	}
	total := len(done)
	if offset > len(done) {
		offset = len(done)
	}
	done = done[offset:]
	if len(done) > limit {
		done = done[:limit]
	}
	results := make([]map[string]any, 0, len(done))
	for _, it := range done {
		var line outputLine
		_ = json.Unmarshal(it.Result, &line)
		r := map[string]any{"custom_id": it.CustomID, "status": "success", "response": nil, "error": nil}
		if it.State == store.ItemFailed {
			r["status"] = "failed"
		}
		if line.Response != nil {
			if it.State == store.ItemFailed {
				r["error"] = line.Response.Body
			} else {
				r["response"] = line.Response.Body
			}
		} else if line.Error != nil {
			r["error"] = line.Error
		}
		results = append(results, r)
	}
	api.WriteJSON(ctx, 200, map[string]any{"batch_id": id, "results": results, "offset": offset, "limit": limit, "total": total})
}

// handleSeedCancel serves DELETE /v1/batch/{id}.
func (s *Service) handleSeedCancel(ctx *fasthttp.RequestCtx, who Identity) {
	b, e := s.cancelBatch(who, pathID(ctx))
	if e != nil {
		api.WriteError(ctx, e)
		return
	}
	api.WriteJSON(ctx, 200, map[string]any{"batch_id": b.ID, "status": seedStatus(b.Status)})
}
