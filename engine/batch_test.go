package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/engine/tenant"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// batchLine is a line of a batch's output or error file, as OpenAI writes
// it.
type batchLine struct {
	ID       string `json:"id"`
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		RequestID  string          `json:"request_id"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// chatLine is a JSONL request line for /v1/chat/completions.
func chatLine(customID, model, content string) string {
	b, _ := json.Marshal(map[string]any{"custom_id": customID, "method": "POST", "url": "/v1/chat/completions",
		"body": map[string]any{"model": model, "messages": []map[string]string{{"role": "user", "content": content}}}})
	return string(b)
}

func uploadBatchFile(t *testing.T, c openai.Client, lines []string) *openai.FileObject {
	t.Helper()
	f, err := c.Files.New(context.Background(), openai.FileNewParams{
		File:    openai.File(strings.NewReader(strings.Join(lines, "\n")+"\n"), "input.jsonl", "application/jsonl"),
		Purpose: openai.FilePurposeBatch,
	})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	return f
}

func createBatch(t *testing.T, c openai.Client, fileID string) *openai.Batch {
	t.Helper()
	b, err := c.Batches.New(context.Background(), openai.BatchNewParams{
		InputFileID:      fileID,
		Endpoint:         openai.BatchNewParamsEndpointV1ChatCompletions,
		CompletionWindow: openai.BatchNewParamsCompletionWindow24h,
		Metadata:         map[string]string{"job": "test"},
	})
	if err != nil {
		t.Fatalf("create batch: %v", err)
	}
	return b
}

// waitBatch polls a batch until done says so. The bound only keeps a
// broken runner from hanging the test; nothing is timed.
func waitBatch(t *testing.T, c openai.Client, id string, done func(*openai.Batch) bool) *openai.Batch {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		b, err := c.Batches.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get batch: %v", err)
		}
		if done(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("batch %s stuck: status %s, counts %+v", id, b.Status, b.RequestCounts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func finished(b *openai.Batch) bool {
	switch b.Status {
	case openai.BatchStatusCompleted, openai.BatchStatusFailed, openai.BatchStatusCancelled, openai.BatchStatusExpired:
		return true
	}
	return false
}

// downloadLines reads a file's JSONL into lines keyed by custom_id,
// failing on a custom_id seen twice.
func downloadLines(t *testing.T, c openai.Client, fileID string) map[string]batchLine {
	t.Helper()
	out := map[string]batchLine{}
	if fileID == "" {
		return out
	}
	resp, err := c.Files.Content(context.Background(), fileID)
	if err != nil {
		t.Fatalf("content: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l batchLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		if _, dup := out[l.CustomID]; dup {
			t.Fatalf("custom_id %s appears twice", l.CustomID)
		}
		if !strings.HasPrefix(l.ID, "batch_req_") {
			t.Fatalf("line id %q", l.ID)
		}
		out[l.CustomID] = l
	}
	return out
}

// TestBatchSDK: the official openai-go client end to end — upload, create,
// poll, download the output and error files, list with pagination, file
// metadata and delete — and every item went through the pipeline with a
// ledger row carrying the project and the key.
func TestBatchSDK(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	c := g.client()
	ctx := context.Background()
	var lines []string
	for i := range 6 {
		lines = append(lines, chatLine(fmt.Sprintf("req-%d", i), "mock/echo", fmt.Sprintf("batch item %d", i)))
	}
	lines = append(lines,
		chatLine("auto-routed", "auto", "route this batch item"),
		`{"custom_id":"wrong-url","method":"POST","url":"/v1/embeddings","body":{"model":"mock/echo","input":"x"}}`,
		`{"custom_id":"no-messages","method":"POST","url":"/v1/chat/completions","body":{"model":"mock/echo"}}`,
		`{"custom_id":"unknown-model","method":"POST","url":"/v1/chat/completions","body":{"model":"nope/none","messages":[{"role":"user","content":"x"}]}}`,
	)
	f := uploadBatchFile(t, c, lines)
	if f.Purpose != openai.FileObjectPurposeBatch || f.Bytes == 0 || !strings.HasPrefix(f.ID, "file-") || f.Filename != "input.jsonl" {
		t.Fatalf("file %+v", f)
	}
	if got, err := c.Files.Get(ctx, f.ID); err != nil || got.ID != f.ID || got.Bytes != f.Bytes {
		t.Fatalf("file get: %+v %v", got, err)
	}
	b := createBatch(t, c, f.ID)
	if b.Status != openai.BatchStatusValidating || b.CompletionWindow != "24h" || b.Metadata["job"] != "test" || b.ExpiresAt-b.CreatedAt != 24*3600 {
		t.Fatalf("new batch %+v", b)
	}
	b = waitBatch(t, c, b.ID, finished)
	if b.Status != openai.BatchStatusCompleted {
		t.Fatalf("status %s errors %+v", b.Status, b.Errors)
	}
	if rc := b.RequestCounts; rc.Total != 10 || rc.Completed != 7 || rc.Failed != 3 {
		t.Fatalf("request counts %+v", rc)
	}
	if b.InProgressAt == 0 || b.FinalizingAt == 0 || b.CompletedAt == 0 || b.OutputFileID == "" || b.ErrorFileID == "" {
		t.Fatalf("completed batch %+v", b)
	}
	out := downloadLines(t, c, b.OutputFileID)
	if len(out) != 7 {
		t.Fatalf("output lines: %d", len(out))
	}
	for i := range 6 {
		l := out[fmt.Sprintf("req-%d", i)]
		if l.Response == nil || l.Response.StatusCode != 200 || l.Error != nil || l.Response.RequestID == "" {
			t.Fatalf("line %d: %+v", i, l)
		}
		var cc openai.ChatCompletion
		if err := json.Unmarshal(l.Response.Body, &cc); err != nil || len(cc.Choices) != 1 ||
			!strings.Contains(cc.Choices[0].Message.Content, fmt.Sprintf("batch item %d", i)) {
			t.Fatalf("line %d body %s (%v)", i, l.Response.Body, err)
		}
	}
	if l := out["auto-routed"]; l.Response == nil || l.Response.StatusCode != 200 {
		t.Fatalf("auto: %+v", l)
	}
	errs := downloadLines(t, c, b.ErrorFileID)
	if l := errs["wrong-url"]; l.Response != nil || l.Error == nil || l.Error.Code != "invalid_request" {
		t.Fatalf("wrong-url: %+v", l)
	}
	for id, status := range map[string]int{"no-messages": 400, "unknown-model": 404} {
		l := errs[id]
		var env struct {
			Error struct {
				Type string `json:"type"`
			} `json:"error"`
		}
		if l.Response == nil || l.Response.StatusCode != status || json.Unmarshal(l.Response.Body, &env) != nil || env.Error.Type == "" {
			t.Fatalf("%s: %+v", id, l)
		}
	}

	// Every item that reached the pipeline left a ledger row with the
	// project and the key of the batch, its id a batch request id.
	if err := g.srv.ten.led.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := g.srv.ten.st.Requests(ctx, store.RequestQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, r := range page.Rows {
		if strings.HasPrefix(r.ID, b.ID+"-") {
			rows++
			if r.ProjectID != "default" || r.KeyID != tenant.StaticKeyID(store.HashKey(testKey)) || r.Endpoint != store.EndpointChat {
				t.Fatalf("ledger row %+v", r)
			}
		}
	}
	if rows != 9 { // every line but wrong-url, which never ran
		t.Fatalf("ledger rows of the batch: %d", rows)
	}

	// Listing pages newest first with after and limit.
	b2 := createBatch(t, c, f.ID)
	waitBatch(t, c, b2.ID, finished)
	p1, err := c.Batches.List(ctx, openai.BatchListParams{Limit: openai.Int(1)})
	if err != nil || len(p1.Data) != 1 || p1.Data[0].ID != b2.ID || !p1.HasMore {
		t.Fatalf("first page: %+v %v", p1, err)
	}
	p2, err := c.Batches.List(ctx, openai.BatchListParams{Limit: openai.Int(1), After: openai.String(b2.ID)})
	if err != nil || len(p2.Data) != 1 || p2.Data[0].ID != b.ID || p2.HasMore {
		t.Fatalf("second page: %+v %v", p2, err)
	}
	var all []string
	iter := c.Batches.ListAutoPaging(ctx, openai.BatchListParams{Limit: openai.Int(1)})
	for iter.Next() {
		all = append(all, iter.Current().ID)
	}
	if iter.Err() != nil || len(all) != 2 {
		t.Fatalf("auto paging: %v %v", all, iter.Err())
	}

	// A finished batch cannot be cancelled; files delete.
	if _, err := c.Batches.Cancel(ctx, b.ID); err == nil {
		t.Fatal("cancelled a completed batch")
	}
	if d, err := c.Files.Delete(ctx, f.ID); err != nil || !d.Deleted {
		t.Fatalf("delete: %+v %v", d, err)
	}
	if _, err := c.Files.Get(ctx, f.ID); err == nil {
		t.Fatal("deleted file still there")
	}
}

// TestBatchSeedAlias: the seed's /v1/batch endpoints answer over the same
// batches.
func TestBatchSeedAlias(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	status, _, body := g.post(t, "/v1/batch", `{"requests":[{"custom_id":"a","body":{"model":"mock/echo","messages":[{"role":"user","content":"one"}]}},
{"model":"mock/echo","messages":[{"role":"user","content":"two"}]}]}`, nil)
	var created struct {
		BatchID string `json:"batch_id"`
		Status  string `json:"status"`
		Total   int    `json:"total"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &created) != nil || created.Status != "processing" || created.Total != 2 {
		t.Fatalf("create: %d %s", status, body)
	}
	waitBatch(t, g.client(), created.BatchID, finished)
	status, body = g.get(t, "/v1/batch/"+created.BatchID, nil)
	if status != 200 || !strings.Contains(body, `"status":"completed"`) || !strings.Contains(body, `"completed":2`) {
		t.Fatalf("get: %d %s", status, body)
	}
	status, body = g.get(t, "/v1/batch/"+created.BatchID+"/results?limit=10", nil)
	var res struct {
		Results []struct {
			CustomID string          `json:"custom_id"`
			Status   string          `json:"status"`
			Response json.RawMessage `json:"response"`
		} `json:"results"`
		Total int `json:"total"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &res) != nil || res.Total != 2 || len(res.Results) != 2 ||
		res.Results[0].CustomID != "a" || res.Results[1].CustomID != "request_1" || res.Results[1].Status != "success" ||
		!bytes.Contains(res.Results[1].Response, []byte("two")) {
		t.Fatalf("results: %d %s", status, body)
	}
}

// TestBatchTenantIsolation: one project never sees another's files or
// batches, by id or in lists, and cannot run a batch on its file.
func TestBatchTenantIsolation(t *testing.T) {
	t.Parallel()
	g := startGateway(t, `
[[keys]]
key = "key-a"
project = "a"
[[keys]]
key = "key-b"
project = "b"
`, map[string]string{"GATEWAY_API_KEY": ""})
	ca := g.client(option.WithAPIKey("key-a"))
	cb := g.client(option.WithAPIKey("key-b"))
	ctx := context.Background()
	f := uploadBatchFile(t, ca, []string{chatLine("x", "mock/echo", "tenant a")})
	b := createBatch(t, ca, f.ID)
	b = waitBatch(t, ca, b.ID, finished)
	checks := map[string]func() error{
		"file get":     func() error { _, err := cb.Files.Get(ctx, f.ID); return err },
		"file content": func() error { _, err := cb.Files.Content(ctx, f.ID); return err },
		"output file":  func() error { _, err := cb.Files.Content(ctx, b.OutputFileID); return err },
		"file delete":  func() error { _, err := cb.Files.Delete(ctx, f.ID); return err },
		"batch get":    func() error { _, err := cb.Batches.Get(ctx, b.ID); return err },
		"batch cancel": func() error { _, err := cb.Batches.Cancel(ctx, b.ID); return err },
		"batch on a's file": func() error {
			_, err := cb.Batches.New(ctx, openai.BatchNewParams{InputFileID: f.ID, Endpoint: openai.BatchNewParamsEndpointV1ChatCompletions, CompletionWindow: openai.BatchNewParamsCompletionWindow24h})
			return err
		},
	}
	for name, call := range checks {
		var apiErr *openai.Error
		if err := call(); err == nil || !asOpenAIError(err, &apiErr) || apiErr.StatusCode != 404 {
			t.Fatalf("%s: %v, want a 404", name, err)
		}
	}
	if page, err := cb.Batches.List(ctx, openai.BatchListParams{}); err != nil || len(page.Data) != 0 {
		t.Fatalf("b lists a's batches: %+v %v", page, err)
	}
	if page, err := cb.Files.List(ctx, openai.FileListParams{}); err != nil || len(page.Data) != 0 {
		t.Fatalf("b lists a's files: %+v %v", page, err)
	}
	if status, body := g.get(t, "/v1/batch/"+b.ID, map[string]string{"Authorization": "Bearer key-b"}); status != 404 {
		t.Fatalf("seed alias: %d %s", status, body)
	}
	// a still sees its own.
	if got, err := ca.Batches.Get(ctx, b.ID); err != nil || got.Status != openai.BatchStatusCompleted {
		t.Fatalf("a's batch: %+v %v", got, err)
	}
}

func asOpenAIError(err error, target **openai.Error) bool {
	e, ok := err.(*openai.Error)
	if !ok {
		return false
	}
	*target = e
	return true
}

// TestBatchMalformed: what cannot be a batch is refused with the OpenAI
// error envelope at upload or creation, and lines that cannot be items at
// all fail the batch with its errors list (lines that are not JSON:
// TestFilesMalformedInput).
func TestBatchMalformed(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	upload := func(purpose, content string) (int, string) {
		var body bytes.Buffer
		boundary := "gwtestboundary"
		fmt.Fprintf(&body, "--%s\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n%s\r\n", boundary, purpose)
		fmt.Fprintf(&body, "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n%s\r\n--%s--\r\n", boundary, content, boundary)
		status, _, resp := g.post(t, "/v1/files", body.String(), map[string]string{"Content-Type": "multipart/form-data; boundary=" + boundary})
		return status, resp
	}
	envelope := func(t *testing.T, body string) (code, param string) {
		t.Helper()
		var env struct {
			Error struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Param   *string `json:"param"`
				Code    *string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &env); err != nil || env.Error.Type != "invalid_request_error" || env.Error.Message == "" || env.Error.Code == nil {
			t.Fatalf("not an OpenAI error envelope: %s", body)
		}
		if env.Error.Param != nil {
			param = *env.Error.Param
		}
		return *env.Error.Code, param
	}
	good := chatLine("a", "mock/echo", "x")
	tests := []struct {
		name, purpose, content string
		code, param            string
	}{
		{"empty", "batch", "\n\n", "empty_file", "file"},
		{"wrong purpose", "fine-tune", good, "invalid_request", "purpose"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := upload(tc.purpose, tc.content)
			if status != 400 {
				t.Fatalf("status %d: %s", status, body)
			}
			if code, param := envelope(t, body); code != tc.code || param != tc.param {
				t.Fatalf("code %s param %s: %s", code, param, body)
			}
		})
	}
	status, body := upload("batch", good+"\n"+chatLine("a", "mock/echo", "dup")+"\n"+`{"method":"POST"}`)
	if status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	var f struct{ ID string }
	_ = json.Unmarshal([]byte(body), &f)
	creates := []struct{ name, body, param string }{
		{"bad endpoint", `{"input_file_id":"` + f.ID + `","endpoint":"/v1/moderations","completion_window":"24h"}`, "endpoint"},
		{"bad window", `{"input_file_id":"` + f.ID + `","endpoint":"/v1/chat/completions","completion_window":"48h"}`, "completion_window"},
		{"no file", `{"endpoint":"/v1/chat/completions","completion_window":"24h"}`, "input_file_id"},
		{"not JSON", `{`, ""},
	}
	for _, tc := range creates {
		status, _, body := g.post(t, "/v1/batches", tc.body, nil)
		if status != 400 {
			t.Fatalf("%s: %d %s", tc.name, status, body)
		}
		if _, param := envelope(t, body); param != tc.param {
			t.Fatalf("%s: param %q", tc.name, param)
		}
	}
	if status, _, body := g.post(t, "/v1/batches", `{"input_file_id":"file-nope","endpoint":"/v1/chat/completions","completion_window":"24h"}`, nil); status != 404 {
		t.Fatalf("unknown file: %d %s", status, body)
	}
	// A duplicate custom_id and a line without one fail the batch.
	b := createBatch(t, g.client(), f.ID)
	b = waitBatch(t, g.client(), b.ID, finished)
	if b.Status != openai.BatchStatusFailed || b.FailedAt == 0 || len(b.Errors.Data) != 2 {
		t.Fatalf("batch %s errors %+v", b.Status, b.Errors)
	}
	if e := b.Errors.Data; e[0].Code != "duplicate_custom_id" || e[0].Line != 2 || e[1].Code != "missing_required_parameter" || e[1].Line != 3 {
		t.Fatalf("errors %+v", e)
	}
}

// TestRetentionSweep: the sweepers delete stored responses, finished
// batches and files past their retention, and keep the rest.
func TestRetentionSweep(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "[batch]\nretention = \"48h\"\n[store]\nresponses_retention = \"24h\"\n", nil)
	ctx := context.Background()
	st := g.srv.ten.st
	old := time.Now().Add(-72 * time.Hour)
	if err := st.PutResponse(ctx, store.StoredResponse{ID: "resp_old", ProjectID: "default", CreatedAt: old, Response: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutResponse(ctx, store.StoredResponse{ID: "resp_new", ProjectID: "default", Response: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if n, err := g.srv.ten.pruneResponses(ctx, time.Now(), g.srv.cfg.Store.ResponsesRetention.D()); err != nil || n != 1 {
		t.Fatalf("responses pruned: %d %v", n, err)
	}
	if _, err := st.Response(ctx, "default", "resp_new"); err != nil {
		t.Fatalf("recent response pruned: %v", err)
	}
	oldFile, err := st.PutFile(ctx, store.File{ProjectID: "default", Purpose: "batch", Filename: "old.jsonl", Content: []byte("{}\n"), CreatedAt: old})
	if err != nil {
		t.Fatal(err)
	}
	newFile, err := st.PutFile(ctx, store.File{ProjectID: "default", Purpose: "batch", Filename: "new.jsonl", Content: []byte("{}\n")})
	if err != nil {
		t.Fatal(err)
	}
	if nb, nf, err := g.srv.batches.Sweep(ctx, time.Now()); err != nil || nb != 0 || nf != 1 {
		t.Fatalf("swept %d batches %d files: %v", nb, nf, err)
	}
	if _, err := st.File(ctx, "default", oldFile.ID); err == nil {
		t.Fatal("old file kept")
	}
	if _, err := st.File(ctx, "default", newFile.ID); err != nil {
		t.Fatalf("new file swept: %v", err)
	}
}
