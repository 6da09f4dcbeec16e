package batch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/aigateway/gateway/engine/api"
	"github.com/aigateway/gateway/engine/store"
	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"
)

// Register adds the Files and Batch API routes, and the seed's /v1/batch
// aliases (seed.go), to r.
func (s *Service) Register(r *router.Router) {
	r.POST("/v1/files", s.auth(s.handleFileUpload))
	r.GET("/v1/files", s.auth(s.handleFileList))
	r.GET("/v1/files/{id}", s.auth(s.handleFileGet))
	r.GET("/v1/files/{id}/content", s.auth(s.handleFileContent))
	r.DELETE("/v1/files/{id}", s.auth(s.handleFileDelete))
	r.POST("/v1/batches", s.auth(s.handleBatchCreate))
	r.GET("/v1/batches", s.auth(s.handleBatchList))
	r.GET("/v1/batches/{id}", s.auth(s.handleBatchGet))
	r.POST("/v1/batches/{id}/cancel", s.auth(s.handleBatchCancel))
	r.POST("/v1/batch", s.auth(s.handleSeedCreate))
	r.GET("/v1/batch/{id}", s.auth(s.handleSeedGet))
	r.GET("/v1/batch/{id}/results", s.auth(s.handleSeedResults))
	r.DELETE("/v1/batch/{id}", s.auth(s.handleSeedCancel))
}

// handler is a route's handler once the caller is known.
type handler func(ctx *fasthttp.RequestCtx, who Identity)

func (s *Service) auth(h handler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		who, e := s.o.Auth(ctx)
		if e != nil {
			api.WriteError(ctx, e)
			return
		}
		h(ctx, who)
	}
}

// requestTimeout bounds an API request's store work.
const requestTimeout = 30 * time.Second

func storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), requestTimeout)
}

func badRequest(param, code, msg string) *api.Error {
	return &api.Error{Status: 400, Type: api.TypeInvalidRequest, Code: code, Param: param, Msg: msg}
}

// lookupError maps a store lookup failure to the client's answer: another
// project's id is not found, like an unknown one.
func lookupError(err error, what, id string) *api.Error {
	if errors.Is(err, store.ErrNotFound) {
		return &api.Error{Status: 404, Type: api.TypeInvalidRequest, Code: "not_found", Param: "id", Msg: "No " + what + " found with id '" + id + "'."}
	}
	return api.Internal()
}

// fileObject is OpenAI's File object.
type fileObject struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Bytes         int64   `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	ExpiresAt     *int64  `json:"expires_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"`
	StatusDetails *string `json:"status_details"`
}

func (s *Service) fileObject(f store.File) fileObject {
	o := fileObject{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.CreatedAt.Unix(), Filename: f.Filename, Purpose: f.Purpose, Status: "processed"}
	if s.o.Retention > 0 {
		exp := f.CreatedAt.Add(s.o.Retention).Unix()
		o.ExpiresAt = &exp
	}
	return o
}

// handleFileUpload serves POST /v1/files: multipart with purpose and file.
// Only purpose batch is served; the file must be JSONL of request objects.
func (s *Service) handleFileUpload(ctx *fasthttp.RequestCtx, who Identity) {
	form, err := ctx.MultipartForm()
	if err != nil {
		api.WriteError(ctx, badRequest("file", "invalid_request", "Expected a multipart/form-data body with the fields purpose and file."))
		return
	}
	purpose := ""
	if v := form.Value["purpose"]; len(v) > 0 {
		purpose = v[0]
	}
	if purpose != PurposeBatch {
		api.WriteError(ctx, badRequest("purpose", "invalid_request", "purpose must be \"batch\": this gateway's Files API holds Batch API input files."))
		return
	}
	fh := form.File["file"]
	if len(fh) == 0 {
		api.WriteError(ctx, badRequest("file", "missing_required_parameter", "The multipart field file is required."))
		return
	}
	rd, err := fh[0].Open()
	if err != nil {
		api.WriteError(ctx, api.Internal())
		return
	}
	content, err := io.ReadAll(rd)
	_ = rd.Close()
	if err != nil {
		api.WriteError(ctx, api.Internal())
		return
	}
	if bad := checkUpload(content, s.o.MaxItems); bad != nil {
		api.WriteError(ctx, badRequest(bad.Param, bad.Code, bad.Message))
		return
	}
	sc, cancel := storeCtx()
	defer cancel()
	f, err := s.st.PutFile(sc, store.File{ProjectID: who.Project, Purpose: purpose, Filename: fh[0].Filename, Content: content, CreatedAt: s.o.Now()})
	if err != nil {
		api.WriteError(ctx, api.Internal())
		return
	}
	api.WriteJSON(ctx, 200, s.fileObject(f))
}

// handleFileList serves GET /v1/files as OpenAI's list files
// (https://platform.openai.com/docs/api-reference/files/list): purpose
// filters; limit 1–10,000 (default 10,000); order desc (default) or asc by
// created_at; after is the last id of the previous page. The SDKs page with
// after = last_id while has_more, so the cursor must move the page on.
func (s *Service) handleFileList(ctx *fasthttp.RequestCtx, who Identity) {
	args := ctx.QueryArgs()
	q := store.FileQuery{Purpose: string(args.Peek("purpose")), After: string(args.Peek("after")), Limit: 10000}
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 10000 {
			api.WriteError(ctx, badRequest("limit", "invalid_request", "limit must be an integer from 1 to 10000"))
			return
		}
		q.Limit = n
	}
	switch string(args.Peek("order")) {
	case "", "desc":
	case "asc":
		q.Ascending = true
	default:
		api.WriteError(ctx, badRequest("order", "invalid_request", "order must be \"asc\" or \"desc\""))
		return
	}
	sc, cancel := storeCtx()
	defer cancel()
	files, more, err := s.st.ListFiles(sc, who.Project, q)
	if err != nil {
		e := lookupError(err, "file", q.After)
		e.Param = "after"
		api.WriteError(ctx, e)
		return
	}
	data := make([]fileObject, 0, len(files))
	for _, f := range files {
		data = append(data, s.fileObject(f))
	}
	out := map[string]any{"object": "list", "data": data, "has_more": more, "first_id": nil, "last_id": nil}
	if len(files) > 0 {
		out["first_id"], out["last_id"] = files[0].ID, files[len(files)-1].ID
	}
	api.WriteJSON(ctx, 200, out)
}

func pathID(ctx *fasthttp.RequestCtx) string {
	id, _ := ctx.UserValue("id").(string)
	return id
}

// handleFileGet serves GET /v1/files/{id}.
func (s *Service) handleFileGet(ctx *fasthttp.RequestCtx, who Identity) {
	sc, cancel := storeCtx()
	defer cancel()
	f, err := s.st.File(sc, who.Project, pathID(ctx))
	if err != nil {
		api.WriteError(ctx, lookupError(err, "file", pathID(ctx)))
		return
	}
	api.WriteJSON(ctx, 200, s.fileObject(f))
}

// handleFileContent serves GET /v1/files/{id}/content: the bytes as
// uploaded or written (JSONL).
func (s *Service) handleFileContent(ctx *fasthttp.RequestCtx, who Identity) {
	sc, cancel := storeCtx()
	defer cancel()
	f, err := s.st.FileContent(sc, who.Project, pathID(ctx))
	if err != nil {
		api.WriteError(ctx, lookupError(err, "file", pathID(ctx)))
		return
	}
	ctx.SetContentType("application/jsonl")
	ctx.SetBody(f.Content)
}

// handleFileDelete serves DELETE /v1/files/{id}.
func (s *Service) handleFileDelete(ctx *fasthttp.RequestCtx, who Identity) {
	sc, cancel := storeCtx()
	defer cancel()
	id := pathID(ctx)
	if err := s.st.DeleteFile(sc, who.Project, id); err != nil {
		api.WriteError(ctx, lookupError(err, "file", id))
		return
	}
	api.WriteJSON(ctx, 200, map[string]any{"id": id, "object": "file", "deleted": true})
}

// batchObject is OpenAI's Batch object.
type batchObject struct {
	ID               string          `json:"id"`
	Object           string          `json:"object"`
	Endpoint         string          `json:"endpoint"`
	Errors           json.RawMessage `json:"errors"`
	InputFileID      string          `json:"input_file_id"`
	CompletionWindow string          `json:"completion_window"`
	Status           string          `json:"status"`
	OutputFileID     *string         `json:"output_file_id"`
	ErrorFileID      *string         `json:"error_file_id"`
	CreatedAt        int64           `json:"created_at"`
	InProgressAt     *int64          `json:"in_progress_at"`
	ExpiresAt        *int64          `json:"expires_at"`
	FinalizingAt     *int64          `json:"finalizing_at"`
	CompletedAt      *int64          `json:"completed_at"`
	FailedAt         *int64          `json:"failed_at"`
	ExpiredAt        *int64          `json:"expired_at"`
	CancellingAt     *int64          `json:"cancelling_at"`
	CancelledAt      *int64          `json:"cancelled_at"`
	RequestCounts    requestCounts   `json:"request_counts"`
	Metadata         json.RawMessage `json:"metadata"`
}

type requestCounts struct {
	Total     int `json:"total"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

func unix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := t.Unix()
	return &v
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func toObject(b store.Batch) batchObject {
	return batchObject{ID: b.ID, Object: "batch", Endpoint: b.Endpoint, Errors: rawOrNull(b.Errors), InputFileID: b.InputFileID,
		CompletionWindow: b.CompletionWindow, Status: b.Status, OutputFileID: optional(b.OutputFileID), ErrorFileID: optional(b.ErrorFileID),
		CreatedAt: b.CreatedAt.Unix(), InProgressAt: unix(b.InProgressAt), ExpiresAt: unix(b.ExpiresAt), FinalizingAt: unix(b.FinalizingAt),
		CompletedAt: unix(b.CompletedAt), FailedAt: unix(b.FailedAt), ExpiredAt: unix(b.ExpiredAt), CancellingAt: unix(b.CancellingAt),
		CancelledAt: unix(b.CancelledAt), RequestCounts: requestCounts{Total: b.Total, Completed: b.Completed, Failed: b.Failed},
		Metadata: rawOrNull(b.Metadata)}
}

// completionWindow is the one window OpenAI offers, and what expires_at
// counts from created_at.
const completionWindow = "24h"

// handleBatchCreate serves POST /v1/batches.
func (s *Service) handleBatchCreate(ctx *fasthttp.RequestCtx, who Identity) {
	var req struct {
		InputFileID      string          `json:"input_file_id"`
		Endpoint         string          `json:"endpoint"`
		CompletionWindow string          `json:"completion_window"`
		Metadata         json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &req); err != nil {
		api.WriteError(ctx, badRequest("", "invalid_request", "The body must be a JSON object: "+err.Error()))
		return
	}
	switch {
	case req.InputFileID == "":
		api.WriteError(ctx, badRequest("input_file_id", "missing_required_parameter", "input_file_id is required."))
		return
	case !endpoints[req.Endpoint]:
		api.WriteError(ctx, badRequest("endpoint", "invalid_request", "endpoint must be one of /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses (moderations and image endpoints are not served in a batch)."))
		return
	case req.CompletionWindow != completionWindow:
		api.WriteError(ctx, badRequest("completion_window", "invalid_request", "completion_window must be \"24h\"."))
		return
	}
	if m := req.Metadata; len(m) > 0 && string(m) != "null" {
		if e := checkMetadata(m); e != nil {
			api.WriteError(ctx, e)
			return
		}
	} else {
		req.Metadata = nil
	}
	b, e := s.create(who, req.InputFileID, req.Endpoint, req.Metadata)
	if e != nil {
		api.WriteError(ctx, e)
		return
	}
	api.WriteJSON(ctx, 200, toObject(b))
}

// checkMetadata holds metadata to OpenAI's limits
// (https://platform.openai.com/docs/api-reference/batch/create#batch-create-metadata):
// at most 16 pairs, keys of at most 64 characters, string values of at
// most 512.
func checkMetadata(m json.RawMessage) *api.Error {
	var kv map[string]string
	if err := json.Unmarshal(m, &kv); err != nil {
		return badRequest("metadata", "invalid_request", "metadata must be an object of string values.")
	}
	if len(kv) > 16 {
		return badRequest("metadata", "invalid_request", "metadata holds at most 16 key-value pairs, not "+strconv.Itoa(len(kv))+".")
	}
	for k, v := range kv {
		if n := utf8.RuneCountInString(k); n > 64 {
			return badRequest("metadata", "invalid_request", "metadata keys are at most 64 characters; one has "+strconv.Itoa(n)+".")
		}
		if n := utf8.RuneCountInString(v); n > 512 {
			return badRequest("metadata", "invalid_request", "metadata values are at most 512 characters; the value of "+strconv.Quote(k)+" has "+strconv.Itoa(n)+".")
		}
	}
	return nil
}

// create queues a batch on a project's input file and wakes the runner.
func (s *Service) create(who Identity, fileID, endpoint string, metadata []byte) (store.Batch, *api.Error) {
	sc, cancel := storeCtx()
	defer cancel()
	f, err := s.st.File(sc, who.Project, fileID)
	if err != nil {
		e := lookupError(err, "file", fileID)
		e.Param = "input_file_id"
		return store.Batch{}, e
	}
	if f.Purpose != PurposeBatch {
		return store.Batch{}, badRequest("input_file_id", "invalid_request", "The file "+fileID+" was not uploaded with purpose batch.")
	}
	now := s.o.Now()
	b, err := s.st.CreateBatch(sc, store.Batch{ProjectID: who.Project, KeyID: who.KeyID, Endpoint: endpoint, InputFileID: fileID,
		CompletionWindow: completionWindow, Metadata: metadata, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	if err != nil {
		return store.Batch{}, api.Internal()
	}
	s.poke()
	return b, nil
}

// handleBatchGet serves GET /v1/batches/{id}.
func (s *Service) handleBatchGet(ctx *fasthttp.RequestCtx, who Identity) {
	sc, cancel := storeCtx()
	defer cancel()
	b, err := s.st.Batch(sc, who.Project, pathID(ctx))
	if err != nil {
		api.WriteError(ctx, lookupError(err, "batch", pathID(ctx)))
		return
	}
	api.WriteJSON(ctx, 200, toObject(b))
}

// handleBatchList serves GET /v1/batches: newest first, after (a batch
// id) and limit (1–100, default 20).
func (s *Service) handleBatchList(ctx *fasthttp.RequestCtx, who Identity) {
	limit := 20
	if v := ctx.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > 100 {
			api.WriteError(ctx, badRequest("limit", "invalid_request", "limit must be an integer from 1 to 100"))
			return
		}
		limit = n
	}
	after := string(ctx.QueryArgs().Peek("after"))
	sc, cancel := storeCtx()
	defer cancel()
	page, more, err := s.st.ListBatches(sc, who.Project, after, limit)
	if err != nil {
		e := lookupError(err, "batch", after)
		e.Param = "after"
		api.WriteError(ctx, e)
		return
	}
	data := make([]batchObject, 0, len(page))
	for _, b := range page {
		data = append(data, toObject(b))
	}
	out := map[string]any{"object": "list", "data": data, "has_more": more, "first_id": nil, "last_id": nil}
	if len(page) > 0 {
		out["first_id"], out["last_id"] = page[0].ID, page[len(page)-1].ID
	}
	api.WriteJSON(ctx, 200, out)
}

// handleBatchCancel serves POST /v1/batches/{id}/cancel: a validating or
// running batch goes to cancelling at once (items in flight finish; no new
// one starts) and to cancelled once its partial output is written.
func (s *Service) handleBatchCancel(ctx *fasthttp.RequestCtx, who Identity) {
	b, e := s.cancelBatch(who, pathID(ctx))
	if e != nil {
		api.WriteError(ctx, e)
		return
	}
	api.WriteJSON(ctx, 200, toObject(b))
}

func (s *Service) cancelBatch(who Identity, id string) (store.Batch, *api.Error) {
	sc, cancel := storeCtx()
	defer cancel()
	b, err := s.st.Batch(sc, who.Project, id)
	if err != nil {
		return store.Batch{}, lookupError(err, "batch", id)
	}
	ok, err := s.st.UpdateBatch(sc, id, store.BatchUpdate{From: []string{store.BatchValidating, store.BatchInProgress}, Status: store.BatchCancelling})
	if err != nil {
		return store.Batch{}, api.Internal()
	}
	if b, err = s.st.Batch(sc, who.Project, id); err != nil {
		return store.Batch{}, lookupError(err, "batch", id)
	}
	if !ok && b.Status != store.BatchCancelling && b.Status != store.BatchCancelled {
		return store.Batch{}, &api.Error{Status: 409, Type: api.TypeInvalidRequest, Code: "batch_not_cancellable",
			Msg: "Batch " + id + " is " + b.Status + " and can no longer be cancelled."}
	}
	s.cancelLocal(id)
	return b, nil
}
