package openai

import (
	"bufio"
	"bytes"
	"context"
	"mime/multipart"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// OpenAI's Batch API as a native provider batch
// (https://platform.openai.com/docs/api-reference/batch): the items become
// a JSONL file of {"custom_id","method":"POST","url":"/v1/chat/completions",
// "body"} lines uploaded to POST /files (purpose batch), a batch is created
// on it (POST /batches, completion_window 24h), GET /batches/{id} is polled
// until it is completed, expired, cancelled or failed, and the output and
// error files (GET /files/{id}/content) are read back: each line's
// response is already a chat completion (or OpenAI's error body). Batch
// requests cost half the standard price. A cancel is POST
// /batches/{id}/cancel (https://platform.openai.com/docs/api-reference/batch/cancel):
// the batch is "cancelling", then "cancelled" with the output of the
// requests that completed.

var _ providers.NativeBatcher = (*Provider)(nil)

// BatchDiscount is 0.5 for an upstream with OpenAI's Batch API
// (Config.Batches), 0 (none) for the others.
func (p *Provider) BatchDiscount() float64 {
	if p.cfg.Batches {
		return 0.5
	}
	return 0
}

// SubmitBatch uploads the items as a batch input file and creates a batch
// on it.
func (p *Provider) SubmitBatch(ctx context.Context, items []providers.BatchItem) (string, error) {
	var in []byte
	for _, it := range items {
		in = append(in, `{"custom_id":`...)
		in = jsonscan.AppendQuote(in, it.CustomID)
		in = append(in, `,"method":"POST","url":"/v1/chat/completions","body":`...)
		in = AppendBodyWith(in, it.Call.Req, it.Call.Model, BodyOptions{NoReasoning: it.Call.NoReasoning, CapMaxTokens: it.Call.CapMaxTokens})
		in = append(in, "}\n"...)
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("purpose", "batch")
	fw, _ := mw.CreateFormFile("file", "gateway-batch.jsonl")
	_, _ = fw.Write(in)
	_ = mw.Close()
	var resp fasthttp.Response
	if err := p.batchCall(ctx, fasthttp.MethodPost, "/files", mw.FormDataContentType(), form.Bytes(), &resp); err != nil {
		return "", err
	}
	fileID := jsonscan.Get(resp.Body(), "id")
	if jsonscan.KindOf(fileID) != jsonscan.String {
		return "", p.badBatch("a file without an id")
	}
	body := append([]byte(`{"input_file_id":`), fileID...)
	body = append(body, `,"endpoint":"/v1/chat/completions","completion_window":"24h"}`...)
	resp.Reset()
	if err := p.batchCall(ctx, fasthttp.MethodPost, "/batches", "application/json", body, &resp); err != nil {
		return "", err
	}
	id := jsonscan.Get(resp.Body(), "id")
	if jsonscan.KindOf(id) != jsonscan.String {
		return "", p.badBatch("a batch without an id")
	}
	return wire.Str(id), nil
}

// BatchResults reads a batch: done false until it is completed, expired,
// cancelled or failed; then the lines of its output and error files.
func (p *Provider) BatchResults(ctx context.Context, id string, _ func(string) *providers.Call) ([]providers.BatchResult, bool, error) {
	var resp fasthttp.Response
	if err := p.batchCall(ctx, fasthttp.MethodGet, "/batches/"+id, "", nil, &resp); err != nil {
		return nil, false, err
	}
	switch string(jsonscan.Get(resp.Body(), "status")) {
	case `"completed"`, `"expired"`, `"cancelled"`, `"failed"`:
	default:
		return nil, false, nil
	}
	var out []providers.BatchResult
	for _, key := range []string{"output_file_id", "error_file_id"} {
		fid := jsonscan.Get(resp.Body(), key)
		if jsonscan.KindOf(fid) != jsonscan.String {
			continue
		}
		var fr fasthttp.Response
		if err := p.batchCall(ctx, fasthttp.MethodGet, "/files/"+wire.Str(fid)+"/content", "", nil, &fr); err != nil {
			return nil, false, err
		}
		sc := bufio.NewScanner(bytes.NewReader(fr.Body()))
		sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
		for sc.Scan() {
			line := sc.Bytes()
			cid := jsonscan.Get(line, "custom_id")
			if jsonscan.KindOf(cid) != jsonscan.String {
				continue
			}
			r := providers.BatchResult{CustomID: wire.Str(cid)}
			if rv := jsonscan.Get(line, "response"); jsonscan.KindOf(rv) == jsonscan.Object {
				st, _ := jsonscan.ParseInt(jsonscan.Get(rv, "status_code"))
				r.Status, r.Body = int(st), append([]byte(nil), jsonscan.Get(rv, "body")...)
				if r.Status == 200 {
					r.Usage = providers.ParseUsage(jsonscan.Get(r.Body, "usage"))
				} else {
					r.Body = p.redact.Bytes(r.Body)
				}
			} else {
				e := jsonscan.Get(line, "error")
				msg := "upstream " + p.cfg.Name + ": " + providers.MaskKeys(p.redact.String(strField(e, "message")))
				r.Status = 502
				r.Body = append([]byte(`{"error":{"message":`), jsonscan.AppendQuote(nil, msg)...)
				r.Body = append(r.Body, `,"type":"upstream_error","param":null,"code":`...)
				r.Body = append(jsonscan.AppendQuote(r.Body, orDefault(strField(e, "code"), "batch_error")), "}}"...)
			}
			out = append(out, r)
		}
		if err := sc.Err(); err != nil {
			return nil, false, p.badBatch("an unreadable results file: " + err.Error())
		}
	}
	return out, true, nil
}

// CancelBatch cancels a batch (POST /batches/{id}/cancel).
func (p *Provider) CancelBatch(ctx context.Context, id string) error {
	var resp fasthttp.Response
	return p.batchCall(ctx, fasthttp.MethodPost, "/batches/"+id+"/cancel", "", nil, &resp)
}

// batchCall makes one Files, Batches or stored Responses call into resp
// (2xx or an error).
func (p *Provider) batchCall(ctx context.Context, method, path, contentType string, body []byte, resp *fasthttp.Response) error {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(method)
	url := p.client.URL(nil, path)
	if p.cfg.Query != "" {
		url = append(append(url, '?'), p.cfg.Query...)
	}
	req.SetRequestURIBytes(url)
	if contentType != "" {
		req.Header.SetContentType(contentType)
	}
	p.setAuth(req)
	req.SetBodyRaw(body)
	if err := p.client.Do(ctx, req, resp, p.cfg.Timeout); err != nil {
		return p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return p.upstreamError(resp.StatusCode(), resp.Body(), resp.Header.Peek("Retry-After"))
	}
	return nil
}

func (p *Provider) badBatch(what string) error {
	return &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_bad_response",
		Message: "upstream " + p.cfg.Name + " answered " + what}
}
