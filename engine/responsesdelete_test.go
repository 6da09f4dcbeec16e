package engine

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers/providertest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
)

// TestResponsesDeletePassthrough: DELETE /v1/responses/{id} of a response
// passed through to OpenAI deletes OpenAI's stored copy too (the fake
// speaks DELETE /v1/responses/{id}); one OpenAI no longer has is deleted
// here all the same; while OpenAI cannot be reached the gateway keeps its
// copy and answers 502 upstream_delete_failed, counted in the metrics. A
// translated response (the mock) has no upstream copy and no upstream call.
func TestResponsesDeletePassthrough(t *testing.T) {
	t.Parallel()
	fake := &providertest.OpenAI{Reply: "Stored upstream."}
	oa, _ := providertest.StartOpenAI(fake)
	t.Cleanup(func() { _ = oa.Close() })
	g := startGateway(t, "", map[string]string{"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": oa.URL + "/v1"})
	c := g.client()
	create := func(model string) string {
		t.Helper()
		r, err := c.Responses.New(context.Background(), responses.ResponseNewParams{
			Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("keep this")}})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	gone := func(id string) {
		t.Helper()
		_, err := c.Responses.Get(context.Background(), id, responses.ResponseGetParams{})
		if ae, ok := errors.AsType[*openai.Error](err); !ok || ae.StatusCode != http.StatusNotFound {
			t.Fatalf("get %s after delete: %v", id, err)
		}
	}
	del := func(id string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("DELETE", g.url+"/v1/responses/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	first, second, third := create("openai/gpt-4o"), create("openai/gpt-4o"), create("openai/gpt-4o")
	for _, id := range []string{first, second, third} {
		if !fake.Stored(id) {
			t.Fatalf("the fake did not store %s", id)
		}
	}
	// Deleted at OpenAI, then here.
	if err := c.Responses.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	if fake.Stored(first) {
		t.Fatal("OpenAI's copy outlived the delete")
	}
	if l := oa.Last(); l.Method != "DELETE" || l.Path != "/v1/responses/"+first {
		t.Fatalf("upstream call %s %s", l.Method, l.Path)
	}
	gone(first)
	// OpenAI no longer has it (404): the gateway's copy goes all the same.
	req, _ := http.NewRequest("DELETE", oa.URL+"/v1/responses/"+second, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete at the fake: %v %v", err, resp)
	}
	if status, body := del(second); status != 200 || !strings.Contains(body, `"deleted":true`) {
		t.Fatalf("delete of a response OpenAI no longer has: %d %s", status, body)
	}
	gone(second)
	// A translated response: no upstream call.
	calls := len(oa.Requests())
	mock := create("mock/echo")
	if err := c.Responses.Delete(context.Background(), mock); err != nil {
		t.Fatal(err)
	}
	if n := len(oa.Requests()); n != calls {
		t.Fatalf("deleting a mock response called OpenAI (%d calls, was %d)", n, calls)
	}
	// OpenAI unreachable: 502, and the gateway keeps its copy.
	_ = oa.Close()
	status, body := del(third)
	if status != 502 || !strings.Contains(body, `"code":"upstream_delete_failed"`) || !strings.Contains(body, `{"error":{`) {
		t.Fatalf("delete while OpenAI is down: %d %s", status, body)
	}
	if got, err := c.Responses.Get(context.Background(), third, responses.ResponseGetParams{}); err != nil || got.ID != third {
		t.Fatalf("the gateway's copy went with a failed upstream delete: %v", err)
	}
	if _, m := g.get(t, "/metrics", nil); !strings.Contains(m, `gateway_errors_total{code="upstream_delete_failed"`) {
		t.Fatalf("no upstream_delete_failed in the metrics")
	}
}
