package providertest

import (
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// fakeBatch is a message batch the fake holds: its results, and how many
// times its status was read (it ends at the second read, so that callers
// poll at least once).
type fakeBatch struct {
	results, canceled string // the results, and them all "canceled"
	count             int
	reads             atomic.Int64
	cancelled         atomic.Bool
}

// messageBatches serves Anthropic's Message Batches
// (https://docs.anthropic.com/en/api/creating-message-batches, retrieving
// one and https://docs.anthropic.com/en/api/retrieving-message-batch-results):
// POST /v1/messages/batches answers the message_batch object
// (processing_status "in_progress"); GET /v1/messages/batches/{id} answers it
// "in_progress" the first time and "ended" with results_url after; GET
// …/{id}/results is JSONL, one {"custom_id","result"} a request: "succeeded"
// with a message answering Reply, or "errored" with an invalid_request_error
// when the request's text contains "FAIL". Batches counts the creates.
//
// With BatchHold a batch stays "in_progress" until POST …/{id}/cancel
// (https://docs.anthropic.com/en/api/canceling-message-batches), which
// answers it "canceling" (cancel_initiated_at set); it is then "ended",
// every result {"type":"canceled"}, as a batch cancelled before it ran
// anything. BatchCancels counts the cancels.
func (a *Anthropic) messageBatches(ctx *fasthttp.RequestCtx, path string) {
	ctx.SetContentType("application/json")
	rest := strings.TrimPrefix(path, "/v1/messages/batches")
	switch {
	case rest == "" && ctx.IsPost():
		a.BatchCreates.Add(1)
		id := "msgbatch_fake" + strconv.FormatInt(a.n.Add(1), 10)
		var sb, canceled strings.Builder
		n := 0
		err := jsonscan.ArrayEach(jsonscan.Get(ctx.PostBody(), "requests"), func(_ int, r []byte) error {
			n++
			cid := jsonscan.Get(r, "custom_id")
			params := jsonscan.Get(r, "params")
			canceled.WriteString(`{"custom_id":` + string(cid) + `,"result":{"type":"canceled"}}` + "\n")
			sb.WriteString(`{"custom_id":`)
			sb.Write(cid)
			if strings.Contains(string(params), "FAIL") {
				sb.WriteString(`,"result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"messages: the request was refused"}}}}` + "\n")
				return nil
			}
			model := jsonscan.Get(params, "model")
			words := len(strings.Fields(a.Reply))
			sb.WriteString(`,"result":{"type":"succeeded","message":{"id":"msg_fakebatch` + strconv.Itoa(n) + `","type":"message","role":"assistant","model":` + string(model) +
				`,"content":[{"type":"text","text":` + quote(a.Reply) + `}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":` +
				strconv.Itoa(max(a.InputTokens, 10)) + `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":` + strconv.Itoa(words) + `}}}}` + "\n")
			return nil
		})
		if err != nil || n == 0 {
			ctx.SetStatusCode(400)
			ctx.SetBodyString(`{"type":"error","error":{"type":"invalid_request_error","message":"requests: at least one request is required"}}`)
			return
		}
		a.batches.Store(id, &fakeBatch{results: sb.String(), canceled: canceled.String(), count: n})
		ctx.SetBodyString(a.batchObject(id, n, "in_progress", ""))
	case strings.HasSuffix(rest, "/cancel") && ctx.IsPost():
		v, ok := a.batches.Load(strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/cancel"))
		if !ok {
			ctx.SetStatusCode(404)
			ctx.SetBodyString(`{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}`)
			return
		}
		a.BatchCancels.Add(1)
		b := v.(*fakeBatch)
		b.cancelled.Store(true)
		ctx.SetBodyString(a.batchObject(strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/cancel"), b.count, "canceling", ""))
	case strings.HasSuffix(rest, "/results") && ctx.IsGet():
		v, ok := a.batches.Load(strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/results"))
		if !ok {
			ctx.SetStatusCode(404)
			ctx.SetBodyString(`{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}`)
			return
		}
		ctx.SetContentType("application/binary")
		if b := v.(*fakeBatch); b.cancelled.Load() {
			ctx.SetBodyString(b.canceled)
		} else {
			ctx.SetBodyString(b.results)
		}
	case ctx.IsGet():
		id := strings.TrimPrefix(rest, "/")
		v, ok := a.batches.Load(id)
		if !ok {
			ctx.SetStatusCode(404)
			ctx.SetBodyString(`{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}`)
			return
		}
		b := v.(*fakeBatch)
		status, url := "in_progress", ""
		if b.reads.Add(1) > 1 && !a.BatchHold || b.cancelled.Load() {
			status, url = "ended", "http://"+string(ctx.Host())+"/v1/messages/batches/"+id+"/results"
		}
		ctx.SetBodyString(a.batchObject(id, b.count, status, url))
	default:
		ctx.SetStatusCode(404)
		ctx.SetBodyString(`{"type":"error","error":{"type":"not_found_error","message":"Not Found"}}`)
	}
}

// batchObject is a message_batch object
// (https://docs.anthropic.com/en/api/messages-batches#message-batch-object)
// with processing_status status.
func (a *Anthropic) batchObject(id string, n int, status, resultsURL string) string {
	counts, endedAt, url, cancelAt := `{"processing":`+strconv.Itoa(n)+`,"succeeded":0,"errored":0,"canceled":0,"expired":0}`, "null", "null", "null"
	v, _ := a.batches.Load(id)
	cancelled := v != nil && v.(*fakeBatch).cancelled.Load()
	if cancelled {
		cancelAt = `"2024-08-20T18:37:25.100435Z"`
	}
	if status == "ended" {
		counts, endedAt, url = `{"processing":0,"succeeded":`+strconv.Itoa(n)+`,"errored":0,"canceled":0,"expired":0}`, `"2024-08-20T18:37:26.100435Z"`, quote(resultsURL)
		if cancelled {
			counts = `{"processing":0,"succeeded":0,"errored":0,"canceled":` + strconv.Itoa(n) + `,"expired":0}`
		}
	}
	return `{"id":"` + id + `","type":"message_batch","processing_status":"` + status + `","request_counts":` + counts + `,"ended_at":` + endedAt +
		`,"created_at":"2024-08-20T18:37:24.100435Z","expires_at":"2024-08-21T18:37:24.100435Z","archived_at":null,"cancel_initiated_at":` + cancelAt + `,"results_url":` + url + `}`
}
