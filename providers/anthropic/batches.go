package anthropic

import (
	"bufio"
	"bytes"
	"context"
	"errors"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
	"github.com/aigateway/gateway/providers"
	"github.com/valyala/fasthttp"
)

// Message Batches (https://docs.anthropic.com/en/api/creating-message-batches,
// https://docs.anthropic.com/en/api/retrieving-message-batches and
// https://docs.anthropic.com/en/api/retrieving-message-batch-results):
// POST /v1/messages/batches with {"requests":[{"custom_id","params"}]},
// GET /v1/messages/batches/{id} until processing_status is "ended", then
// the JSONL at results_url, one {"custom_id","result":{"type":
// "succeeded"|"errored"|"canceled"|"expired",…}} a line. Batch items cost
// half the standard price. A cancel is POST /v1/messages/batches/{id}/cancel
// (https://docs.anthropic.com/en/api/canceling-message-batches): the batch
// is "canceling", then "ended", its requests not yet run "canceled".

var _ providers.NativeBatcher = (*Provider)(nil)

// BatchDiscount is Message Batches' price factor.
func (p *Provider) BatchDiscount() float64 { return 0.5 }

// SubmitBatch creates a message batch of items, each translated as Chat
// translates a call (never streamed).
func (p *Provider) SubmitBatch(ctx context.Context, items []providers.BatchItem) (string, error) {
	if len(items) == 0 {
		return "", errors.New("submit batch: no items")
	}
	body := []byte(`{"requests":[`)
	for i, it := range items {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"custom_id":`...)
		body = jsonscan.AppendQuote(body, it.CustomID)
		body = append(body, `,"params":`...)
		stream := it.Call.Req.Stream
		it.Call.Req.Stream = false
		b, _, err := appendRequest(body, it.Call)
		it.Call.Req.Stream = stream
		if err != nil {
			return "", err
		}
		body = append(b, '}')
	}
	body = append(body, "]}"...)
	var resp fasthttp.Response
	if err := p.batchCall(ctx, fasthttp.MethodPost, p.batches, body, &resp); err != nil {
		return "", err
	}
	id := jsonscan.Get(resp.Body(), "id")
	if jsonscan.KindOf(id) != jsonscan.String {
		return "", &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_bad_response", Message: "upstream " + p.cfg.Name + " answered a batch without an id"}
	}
	return wire.Str(id), nil
}

// BatchResults reads a message batch: done false while it is processing;
// once ended, every item's answer translated as Chat would translate it.
func (p *Provider) BatchResults(ctx context.Context, id string, call func(customID string) *providers.Call) ([]providers.BatchResult, bool, error) {
	url := append(append(append([]byte(nil), p.batches...), '/'), id...)
	var resp fasthttp.Response
	if err := p.batchCall(ctx, fasthttp.MethodGet, url, nil, &resp); err != nil {
		return nil, false, err
	}
	if string(jsonscan.Get(resp.Body(), "processing_status")) != `"ended"` {
		return nil, false, nil
	}
	results := jsonscan.Get(resp.Body(), "results_url")
	if jsonscan.KindOf(results) != jsonscan.String {
		return nil, false, &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_bad_response", Message: "upstream " + p.cfg.Name + " ended a batch without results_url"}
	}
	var rr fasthttp.Response
	if err := p.batchCall(ctx, fasthttp.MethodGet, []byte(wire.Str(results)), nil, &rr); err != nil {
		return nil, false, err
	}
	var out []providers.BatchResult
	sc := bufio.NewScanner(bytes.NewReader(rr.Body()))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		cid := jsonscan.Get(line, "custom_id")
		if jsonscan.KindOf(cid) != jsonscan.String {
			continue
		}
		r := providers.BatchResult{CustomID: wire.Str(cid)}
		res := jsonscan.Get(line, "result")
		switch string(jsonscan.Get(res, "type")) {
		case `"succeeded"`:
			c := call(r.CustomID)
			if c == nil {
				continue
			}
			_, info, err := appendRequest(nil, c)
			comp := providers.Completion{ID: c.ID, Created: c.Created, Model: c.Model}
			var rb respBuf
			if err == nil {
				err = parseMessage(jsonscan.Get(res, "message"), &comp, info, &rb)
			}
			if err != nil {
				r.Status, r.Body = 502, errorEnvelope("upstream_error", "upstream_bad_response", "upstream "+p.cfg.Name+" answered with a malformed message")
				break
			}
			r.Status, r.Body, r.Usage = 200, comp.AppendJSON(nil), comp.Usage
		case `"errored"`:
			e := jsonscan.Get(jsonscan.Get(res, "error"), "error")
			typ, msg := strField(e, "type"), strField(e, "message")
			status := 400
			switch typ {
			case "api_error", "overloaded_error":
				status = 502
			case "rate_limit_error":
				status = 429
			}
			r.Status, r.Body = status, errorEnvelope(typ, typ, "upstream "+p.cfg.Name+": "+providers.MaskKeys(p.redact.String(msg)))
		case `"expired"`:
			r.Status, r.Body = 504, errorEnvelope("upstream_error", "batch_expired", "upstream "+p.cfg.Name+" did not run this request before its batch expired")
		default: // canceled
			r.Status, r.Body = 499, errorEnvelope("upstream_error", "batch_cancelled", "the request was cancelled at upstream "+p.cfg.Name)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, false, &providers.UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_bad_response", Message: "upstream " + p.cfg.Name + " batch results unreadable: " + err.Error()}
	}
	return out, true, nil
}

// CancelBatch cancels a message batch (POST …/batches/{id}/cancel).
func (p *Provider) CancelBatch(ctx context.Context, id string) error {
	url := append(append(append([]byte(nil), p.batches...), '/'), id...)
	var resp fasthttp.Response
	return p.batchCall(ctx, fasthttp.MethodPost, append(url, "/cancel"...), nil, &resp)
}

// batchCall makes one Message Batches call into resp (2xx or an error).
func (p *Provider) batchCall(ctx context.Context, method string, url, body []byte, resp *fasthttp.Response) error {
	req := p.newRequest(url, body, nil, false, false)
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(method)
	if body == nil {
		req.SetBodyRaw(nil)
	}
	if err := p.client.Do(ctx, req, resp, p.cfg.Timeout); err != nil {
		return p.transportError(err)
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return p.upstreamError(resp.StatusCode(), resp.Body(), resp.Header.Peek("Retry-After"))
	}
	return nil
}

// errorEnvelope is an OpenAI error body.
func errorEnvelope(typ, code, msg string) []byte {
	b := []byte(`{"error":{"message":`)
	b = jsonscan.AppendQuote(b, msg)
	b = append(b, `,"type":`...)
	b = jsonscan.AppendQuote(b, typ)
	b = append(b, `,"param":null,"code":`...)
	b = jsonscan.AppendQuote(b, code)
	return append(b, `}}`...)
}

// strField is a string member of obj, "" when absent.
func strField(obj []byte, key string) string {
	v := jsonscan.Get(obj, key)
	if jsonscan.KindOf(v) != jsonscan.String {
		return ""
	}
	s, _, err := jsonscan.Unquote(v, nil)
	if err != nil {
		return ""
	}
	return string(s)
}
