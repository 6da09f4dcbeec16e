package engine

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/accounting"
	"github.com/aigateway/gateway/engine/store"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/openai/openai-go/v3"
)

// TestBatchNative: with [batch] native = true, a batch's items for an
// Anthropic model go to the fake's Message Batches and those for an OpenAI
// model to the fake's Files and Batch APIs, one provider batch each (no
// live call), the others run through the pipeline, the output and error
// files hold every custom_id once, and each native item's ledger row is
// priced at half the standard cost.
func TestBatchNative(t *testing.T) {
	t.Parallel()
	fake := &providertest.Anthropic{Reply: "Batched answer.", InputTokens: 100}
	an, _ := providertest.StartAnthropic(fake)
	ofake := &providertest.OpenAI{Reply: "OpenAI batched answer.", PromptTokens: 100}
	oa, _ := providertest.StartOpenAI(ofake)
	t.Cleanup(func() { _ = an.Close(); _ = oa.Close() })
	g := startGateway(t, `
[batch]
native = true
native_poll = "50ms"
`, map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": an.URL, "OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1"})
	c := g.client()
	f := uploadBatchFile(t, c, []string{
		chatLine("a", "anthropic/claude-sonnet-4-0", "first"),
		chatLine("b", "mock/echo", "through the pipeline"),
		chatLine("c", "claude-sonnet-4-0", "second, with an unusual custom id"),
		chatLine("d", "anthropic/claude-sonnet-4-0", "FAIL this one"),
		chatLine("e", "openai/gpt-4o-mini", "third"),
		chatLine("f", "gpt-4o-mini", "FAIL that one"),
	})
	b := createBatch(t, c, f.ID)
	done := waitBatch(t, c, b.ID, finished)
	if done.Status != openai.BatchStatusCompleted || done.RequestCounts.Completed != 4 || done.RequestCounts.Failed != 2 {
		t.Fatalf("batch %+v", done)
	}
	out := downloadLines(t, c, done.OutputFileID)
	errs := downloadLines(t, c, done.ErrorFileID)
	if len(out) != 4 || len(errs) != 2 {
		t.Fatalf("output %v, errors %v", out, errs)
	}
	for _, id := range []string{"a", "c", "e"} {
		l, ok := out[id]
		if !ok || l.Response == nil || l.Response.StatusCode != 200 || !strings.HasSuffix(l.Response.RequestID, "-native") {
			t.Fatalf("line %s: %+v", id, l)
		}
		var cc openai.ChatCompletion
		if err := json.Unmarshal(l.Response.Body, &cc); err != nil || len(cc.Choices) != 1 || !strings.HasSuffix(cc.Choices[0].Message.Content, "atched answer.") || cc.Usage.PromptTokens != 100 {
			t.Fatalf("line %s body %s: %v", id, l.Response.Body, err)
		}
	}
	if l := out["b"]; l.Response == nil || strings.HasSuffix(l.Response.RequestID, "-native") {
		t.Fatalf("mock item went native: %+v", l)
	}
	for _, id := range []string{"d", "f"} {
		if l := errs[id]; l.Response == nil || l.Response.StatusCode != 400 || !strings.Contains(string(l.Response.Body), `"invalid_request_error"`) {
			t.Fatalf("errored item %s: %+v", id, l)
		}
	}
	if n, m := fake.BatchCreates.Load(), ofake.BatchCreates.Load(); n != 1 || m != 1 {
		t.Fatalf("%d message batches, %d OpenAI batches created", n, m)
	}
	for _, r := range oa.Requests() {
		if strings.HasSuffix(r.Path, "/chat/completions") {
			t.Fatalf("an item was sent live: %s", r.Body)
		}
	}
	for _, r := range an.Requests() {
		if r.Path == "/v1/messages" {
			t.Fatalf("an item was sent live: %s", r.Body)
		}
	}
	// The ledger: one row per native item, at half price.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.srv.ten.led.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	page, err := g.srv.ten.st.Requests(ctx, store.RequestQuery{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for model, words := range map[string]int{"anthropic/claude-sonnet-4-0": 2, "openai/gpt-4o-mini": 3} {
		m, err := g.srv.catalog.Resolve(model)
		if err != nil {
			t.Fatal(err)
		}
		want[m.Provider] = accounting.Cost(m, providers.Usage{PromptTokens: 100, CompletionTokens: words, Set: true}) * 0.5
	}
	native := 0
	for _, row := range page.Rows {
		if !strings.HasSuffix(row.ID, "-native") {
			continue
		}
		native++
		if row.Endpoint != store.EndpointBatch || row.ProjectID != "default" {
			t.Fatalf("row %+v", row)
		}
		if w := want[row.Provider]; row.Status == 200 && (row.PromptTokens != 100 || w <= 0 || math.Abs(row.CostUSD-w) > 1e-12) {
			t.Fatalf("row cost %v, want %v: %+v", row.CostUSD, w, row)
		}
	}
	if native != 5 {
		for _, row := range page.Rows {
			t.Logf("%s %s %d", row.ID, row.Provider, row.Status)
		}
		t.Fatalf("%d native ledger rows", native)
	}
}

// TestBatchNativeCancel: cancelling a batch whose items went to Anthropic's
// Message Batches and OpenAI's Batch API cancels both provider batches
// (each fake holds its batch until its cancel endpoint is called) and the
// batch ends cancelled: the item the pipeline ran in the output file,
// Anthropic's "canceled" result in the error file, and OpenAI's unanswered
// item in neither, as on OpenAI.
func TestBatchNativeCancel(t *testing.T) {
	t.Parallel()
	fake := &providertest.Anthropic{Reply: "Never.", BatchHold: true}
	an, _ := providertest.StartAnthropic(fake)
	ofake := &providertest.OpenAI{Reply: "Never.", BatchHold: true}
	oa, _ := providertest.StartOpenAI(ofake)
	t.Cleanup(func() { _ = an.Close(); _ = oa.Close() })
	g := startGateway(t, `
[batch]
native = true
native_poll = "50ms"
`, map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": an.URL, "OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1"})
	c := g.client()
	f := uploadBatchFile(t, c, []string{
		chatLine("a", "anthropic/claude-sonnet-4-0", "first"),
		chatLine("b", "mock/echo", "through the pipeline"),
		chatLine("e", "openai/gpt-4o-mini", "third"),
	})
	b := createBatch(t, c, f.ID)
	waitBatch(t, c, b.ID, func(b *openai.Batch) bool {
		return b.RequestCounts.Completed == 1 && fake.BatchCreates.Load() == 1 && ofake.BatchCreates.Load() == 1
	})
	got, err := c.Batches.Cancel(context.Background(), b.ID)
	if err != nil || (got.Status != openai.BatchStatusCancelling && got.Status != openai.BatchStatusCancelled) {
		t.Fatalf("cancel: %v %+v", err, got)
	}
	done := waitBatch(t, c, b.ID, finished)
	if done.Status != openai.BatchStatusCancelled {
		t.Fatalf("batch %+v", done)
	}
	if n, m := fake.BatchCancels.Load(), ofake.BatchCancels.Load(); n != 1 || m != 1 {
		t.Fatalf("%d message batch cancels, %d OpenAI batch cancels", n, m)
	}
	cancelled := func(s *providertest.Server, suffix string) bool {
		for _, r := range s.Requests() {
			if r.Method == "POST" && strings.HasSuffix(r.Path, suffix) {
				return true
			}
		}
		return false
	}
	if !cancelled(an, "/cancel") || !cancelled(oa, "/cancel") {
		t.Fatal("no POST …/cancel reached a provider")
	}
	out := downloadLines(t, c, done.OutputFileID)
	errs := downloadLines(t, c, done.ErrorFileID)
	if l, ok := out["b"]; !ok || len(out) != 1 || l.Response == nil || l.Response.StatusCode != 200 {
		t.Fatalf("output %+v", out)
	}
	if l, ok := errs["a"]; !ok || len(errs) != 1 || l.Response == nil || !strings.Contains(string(l.Response.Body), `"batch_cancelled"`) {
		t.Fatalf("errors %+v", errs)
	}
}
