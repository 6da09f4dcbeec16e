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

// TestBatchNativeAnthropic: with [batch] native = true, a batch's items
// for an Anthropic model go to the fake's Message Batches in one provider
// batch (no /v1/messages call), the others run through the pipeline, the
// output and error files hold every custom_id once, and each native item's
// ledger row is priced at half the standard cost.
func TestBatchNativeAnthropic(t *testing.T) {
	t.Parallel()
	fake := &providertest.Anthropic{Reply: "Batched answer.", InputTokens: 100}
	an, _ := providertest.StartAnthropic(fake)
	t.Cleanup(func() { _ = an.Close() })
	g := startGateway(t, `
[batch]
native = true
native_poll = "50ms"
`, map[string]string{"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": an.URL})
	c := g.client()
	f := uploadBatchFile(t, c, []string{
		chatLine("a", "anthropic/claude-sonnet-4-0", "first"),
		chatLine("b", "mock/echo", "through the pipeline"),
		chatLine("c", "claude-sonnet-4-0", "second, with an unusual custom id"),
		chatLine("d", "anthropic/claude-sonnet-4-0", "FAIL this one"),
	})
	b := createBatch(t, c, f.ID)
	done := waitBatch(t, c, b.ID, finished)
	if done.Status != openai.BatchStatusCompleted || done.RequestCounts.Completed != 3 || done.RequestCounts.Failed != 1 {
		t.Fatalf("batch %+v", done)
	}
	out := downloadLines(t, c, done.OutputFileID)
	errs := downloadLines(t, c, done.ErrorFileID)
	if len(out) != 3 || len(errs) != 1 {
		t.Fatalf("output %v, errors %v", out, errs)
	}
	for _, id := range []string{"a", "c"} {
		l, ok := out[id]
		if !ok || l.Response == nil || l.Response.StatusCode != 200 || !strings.HasSuffix(l.Response.RequestID, "-native") {
			t.Fatalf("line %s: %+v", id, l)
		}
		var cc openai.ChatCompletion
		if err := json.Unmarshal(l.Response.Body, &cc); err != nil || len(cc.Choices) != 1 || cc.Choices[0].Message.Content != "Batched answer." || cc.Usage.PromptTokens != 100 {
			t.Fatalf("line %s body %s: %v", id, l.Response.Body, err)
		}
	}
	if l := out["b"]; l.Response == nil || strings.HasSuffix(l.Response.RequestID, "-native") {
		t.Fatalf("mock item went native: %+v", l)
	}
	if l := errs["d"]; l.Response == nil || l.Response.StatusCode != 400 || !strings.Contains(string(l.Response.Body), `"invalid_request_error"`) {
		t.Fatalf("errored item: %+v", l)
	}
	if n := fake.BatchCreates.Load(); n != 1 {
		t.Fatalf("%d message batches created", n)
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
	m, err := g.srv.catalog.Resolve("anthropic/claude-sonnet-4-0")
	if err != nil {
		t.Fatal(err)
	}
	want := accounting.Cost(m, providers.Usage{PromptTokens: 100, CompletionTokens: 2, Set: true}) * 0.5
	native := 0
	for _, row := range page.Rows {
		if !strings.HasSuffix(row.ID, "-native") {
			continue
		}
		native++
		if row.Endpoint != store.EndpointBatch || row.Provider != "anthropic" || row.ProjectID != "default" {
			t.Fatalf("row %+v", row)
		}
		if row.Status == 200 && (row.PromptTokens != 100 || row.CompletionTokens != 2 || want <= 0 || math.Abs(row.CostUSD-want) > 1e-12) {
			t.Fatalf("row cost %v, want %v: %+v", row.CostUSD, want, row)
		}
	}
	if native != 3 {
		t.Fatalf("%d native ledger rows", native)
	}
}
