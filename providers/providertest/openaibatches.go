package providertest

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// fakeOpenAIBatch is a batch the fake holds: its output file's id, and
// how many times its status was read (completed at the second read).
type fakeOpenAIBatch struct {
	inputFile, outputFile, errorFile string
	n                                int
	reads                            atomic.Int64
	cancelled                        atomic.Bool
}

// filesAndBatches serves the part of OpenAI's Files and Batch APIs that a
// batch needs (https://platform.openai.com/docs/api-reference/files,
// https://platform.openai.com/docs/api-reference/batch): POST /files
// (multipart purpose=batch, file), POST /batches (input_file_id, endpoint,
// completion_window), GET /batches/{id} ("in_progress" at the first read,
// "completed" with output_file_id and error_file_id after), GET
// /files/{id}/content. Each input line is answered as a chat completion
// of Reply with usage (PromptTokens), or, when its body contains "FAIL",
// a 400 error body in the error file. BatchCreates counts the batches.
//
// With BatchHold a batch stays "in_progress" until POST /batches/{id}/cancel
// (https://platform.openai.com/docs/api-reference/batch/cancel), which
// answers it "cancelling"; it is then "cancelled" without output or error
// file, as a batch cancelled before it ran anything. BatchCancels counts
// the cancels.
func (o *OpenAI) filesAndBatches(ctx *fasthttp.RequestCtx, path string) {
	ctx.SetContentType("application/json")
	notFound := func() {
		ctx.SetStatusCode(404)
		ctx.SetBodyString(`{"error":{"message":"No such object","type":"invalid_request_error","param":null,"code":null}}`)
	}
	i := strings.Index(path, "/files")
	if j := strings.Index(path, "/batches"); j >= 0 {
		i = j
	}
	rest := path[i:]
	switch {
	case rest == "/files" && ctx.IsPost():
		fh, err := ctx.FormFile("file")
		if err != nil || string(ctx.FormValue("purpose")) != "batch" {
			ctx.SetStatusCode(400)
			ctx.SetBodyString(`{"error":{"message":"purpose batch and a file are required","type":"invalid_request_error","param":"file","code":null}}`)
			return
		}
		f, _ := fh.Open()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(f)
		_ = f.Close()
		id := "file-fake" + strconv.FormatInt(o.n.Add(1), 10)
		o.files.Store(id, buf.String())
		ctx.SetBodyString(`{"id":"` + id + `","object":"file","bytes":` + strconv.Itoa(buf.Len()) + `,"created_at":1711471533,"filename":"` + fh.Filename + `","purpose":"batch"}`)
	case strings.HasPrefix(rest, "/files/") && strings.HasSuffix(rest, "/content"):
		v, ok := o.files.Load(strings.TrimSuffix(strings.TrimPrefix(rest, "/files/"), "/content"))
		if !ok {
			notFound()
			return
		}
		ctx.SetContentType("application/octet-stream")
		ctx.SetBodyString(v.(string))
	case rest == "/batches" && ctx.IsPost():
		body := ctx.PostBody()
		in := jsonscan.Get(body, "input_file_id")
		v, ok := o.files.Load(strings.Trim(string(in), `"`))
		if !ok || string(jsonscan.Get(body, "endpoint")) != `"/v1/chat/completions"` || string(jsonscan.Get(body, "completion_window")) != `"24h"` {
			ctx.SetStatusCode(400)
			ctx.SetBodyString(`{"error":{"message":"invalid batch","type":"invalid_request_error","param":null,"code":null}}`)
			return
		}
		o.BatchCreates.Add(1)
		b := &fakeOpenAIBatch{inputFile: strings.Trim(string(in), `"`)}
		var out, errs strings.Builder
		sc := bufio.NewScanner(strings.NewReader(v.(string)))
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			cid := string(jsonscan.Get(line, "custom_id"))
			b.n++
			req := "batch_req_fake" + strconv.Itoa(b.n)
			if bytes.Contains(line, []byte("FAIL")) {
				errs.WriteString(`{"id":"` + req + `","custom_id":` + cid + `,"response":{"status_code":400,"request_id":"req_fake","body":{"error":{"message":"refused","type":"invalid_request_error","param":null,"code":null}}},"error":null}` + "\n")
				continue
			}
			model := jsonscan.Get(jsonscan.Get(line, "body"), "model")
			words := len(strings.Fields(o.Reply))
			out.WriteString(`{"id":"` + req + `","custom_id":` + cid + `,"response":{"status_code":200,"request_id":"req_fake","body":{"id":"chatcmpl-fakebatch` + strconv.Itoa(b.n) +
				`","object":"chat.completion","created":1711652795,"model":` + string(model) + `,"choices":[{"index":0,"message":{"role":"assistant","content":` + quote(o.Reply) +
				`},"finish_reason":"stop"}],"usage":{"prompt_tokens":` + strconv.Itoa(o.PromptTokens) + `,"completion_tokens":` + strconv.Itoa(words) + `,"total_tokens":` +
				strconv.Itoa(o.PromptTokens+words) + `}}},"error":null}` + "\n")
		}
		b.outputFile = "file-fake" + strconv.FormatInt(o.n.Add(1), 10)
		o.files.Store(b.outputFile, out.String())
		if errs.Len() > 0 {
			b.errorFile = "file-fake" + strconv.FormatInt(o.n.Add(1), 10)
			o.files.Store(b.errorFile, errs.String())
		}
		id := "batch_fake" + strconv.FormatInt(o.n.Add(1), 10)
		o.batches.Store(id, b)
		ctx.SetBodyString(o.batchObject(id, b, "in_progress"))
	case strings.HasPrefix(rest, "/batches/") && strings.HasSuffix(rest, "/cancel") && ctx.IsPost():
		id := strings.TrimSuffix(strings.TrimPrefix(rest, "/batches/"), "/cancel")
		v, ok := o.batches.Load(id)
		if !ok {
			notFound()
			return
		}
		o.BatchCancels.Add(1)
		b := v.(*fakeOpenAIBatch)
		b.cancelled.Store(true)
		ctx.SetBodyString(o.batchObject(id, b, "cancelling"))
	case strings.HasPrefix(rest, "/batches/") && ctx.IsGet():
		id := strings.TrimPrefix(rest, "/batches/")
		v, ok := o.batches.Load(id)
		if !ok {
			notFound()
			return
		}
		b := v.(*fakeOpenAIBatch)
		status := "in_progress"
		switch {
		case b.cancelled.Load():
			status = "cancelled"
		case b.reads.Add(1) > 1 && !o.BatchHold:
			status = "completed"
		}
		ctx.SetBodyString(o.batchObject(id, b, status))
	default:
		notFound()
	}
}

// batchObject is a Batch object (https://platform.openai.com/docs/api-reference/batch/object).
func (o *OpenAI) batchObject(id string, b *fakeOpenAIBatch, status string) string {
	out, errf := "null", "null"
	if status == "completed" {
		out = `"` + b.outputFile + `"`
		if b.errorFile != "" {
			errf = `"` + b.errorFile + `"`
		}
	}
	return `{"id":"` + id + `","object":"batch","endpoint":"/v1/chat/completions","errors":null,"input_file_id":"` + b.inputFile + `","completion_window":"24h","status":"` + status +
		`","output_file_id":` + out + `,"error_file_id":` + errf + `,"created_at":1711471533,"in_progress_at":1711471538,"expires_at":1711557933,"request_counts":{"total":` +
		strconv.Itoa(b.n) + `,"completed":0,"failed":0},"metadata":null}`
}
