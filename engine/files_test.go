package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestFilesListPages: GET /v1/files pages as OpenAI's list files does
// (https://platform.openai.com/docs/api-reference/files/list): the SDK's
// auto-paging (after = the last id while has_more) ends and sees every
// file once, order asc and desc are each other's reverse, purpose filters,
// and another project's file is neither listed nor a cursor.
func TestFilesListPages(t *testing.T) {
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
	var ids []string
	for i := range 5 {
		ids = append(ids, uploadBatchFile(t, ca, []string{chatLine("x", "mock/echo", fmt.Sprint(i))}).ID)
	}
	other := uploadBatchFile(t, cb, []string{chatLine("y", "mock/echo", "b")}).ID

	for _, order := range []string{"asc", "desc"} {
		var got []string
		iter := ca.Files.ListAutoPaging(ctx, openai.FileListParams{Limit: openai.Int(2), Order: openai.FileListParamsOrder(order), Purpose: openai.String("batch")})
		for iter.Next() {
			got = append(got, iter.Current().ID)
			if len(got) > 2*len(ids) {
				t.Fatalf("%s: paging does not end: %v", order, got)
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("%s: %v", order, err)
		}
		want := append([]string(nil), ids...)
		if order == "desc" {
			for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
				want[i], want[j] = want[j], want[i]
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: got %v, want %v", order, got, want)
		}
	}
	page, err := ca.Files.List(ctx, openai.FileListParams{Limit: openai.Int(2), After: openai.String(ids[4])})
	if err != nil || len(page.Data) != 2 || page.Data[0].ID != ids[3] || page.Data[1].ID != ids[2] || !page.HasMore {
		t.Fatalf("after: %+v %v", page, err)
	}
	var raw struct {
		FirstID string `json:"first_id"`
		LastID  string `json:"last_id"`
	}
	if err := json.Unmarshal([]byte(page.RawJSON()), &raw); err != nil || raw.FirstID != ids[3] || raw.LastID != ids[2] {
		t.Fatalf("first_id/last_id: %s", page.RawJSON())
	}
	if page, err := ca.Files.List(ctx, openai.FileListParams{Purpose: openai.String("fine-tune")}); err != nil || len(page.Data) != 0 {
		t.Fatalf("purpose filter: %+v %v", page, err)
	}
	var apiErr *openai.Error
	if _, err := ca.Files.List(ctx, openai.FileListParams{After: openai.String(other)}); !asOpenAIError(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Param != "after" {
		t.Fatalf("another project's file as the cursor: %v", err)
	}
	for _, q := range []string{"order=sideways", "limit=0", "limit=10001"} {
		if status, body := g.get(t, "/v1/files?"+q, map[string]string{"Authorization": "Bearer key-a"}); status != 400 || !strings.Contains(body, `"type":"invalid_request_error"`) {
			t.Fatalf("%s: %d %s", q, status, body)
		}
	}
}

// TestFilesMalformedInput: a batch input file is stored as uploaded, and a
// line that cannot be a request fails the batch when it validates, as on
// OpenAI (https://platform.openai.com/docs/api-reference/batch/object:
// errors.data[] of {code, message, param, line}, param and line null when
// they do not apply).
func TestFilesMalformedInput(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	c := g.client()
	f := uploadBatchFile(t, c, []string{
		chatLine("a", "mock/echo", "fine"),
		"{not json",
		"[1,2]",
		`{"method":"POST","url":"/v1/chat/completions","body":{}}`,
		chatLine("a", "mock/echo", "again"),
	})
	b := waitBatch(t, c, createBatch(t, c, f.ID).ID, finished)
	if b.Status != openai.BatchStatusFailed || b.OutputFileID != "" {
		t.Fatalf("batch %s %+v", b.Status, b)
	}
	var errs struct {
		Object string `json:"object"`
		Data   []struct {
			Code    string  `json:"code"`
			Message string  `json:"message"`
			Param   *string `json:"param"`
			Line    *int    `json:"line"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(b.Errors.RawJSON()), &errs); err != nil || errs.Object != "list" || len(errs.Data) != 4 {
		t.Fatalf("errors %s (%v)", b.Errors.RawJSON(), err)
	}
	want := []struct {
		code, param string
		line        int
	}{{"invalid_json_line", "", 2}, {"invalid_json_line", "", 3}, {"missing_required_parameter", "custom_id", 4}, {"duplicate_custom_id", "custom_id", 5}}
	for i, w := range want {
		e := errs.Data[i]
		param := ""
		if e.Param != nil {
			param = *e.Param
		}
		if e.Code != w.code || param != w.param || e.Line == nil || *e.Line != w.line || e.Message == "" {
			t.Fatalf("error %d: %+v, want %+v", i, e, w)
		}
	}
	if !strings.Contains(b.Errors.RawJSON(), `"param":null`) {
		t.Fatalf("an unset param is not null: %s", b.Errors.RawJSON())
	}
}

// TestBatchCreateLimits: OpenAI's limits on POST /v1/batches
// (https://platform.openai.com/docs/api-reference/batch/create): metadata
// of at most 16 pairs, keys of at most 64 characters and values of at most
// 512; endpoint one of the four, /v1/completions among them.
func TestBatchCreateLimits(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	c := g.client()
	f := uploadBatchFile(t, c, []string{`{"custom_id":"c","method":"POST","url":"/v1/completions","body":{"model":"mock/echo","prompt":"say this"}}`})
	meta := func(n, keyLen, valLen int) string {
		m := map[string]string{}
		for i := range n {
			k := fmt.Sprintf("k%d", i)
			if i == 0 {
				k = strings.Repeat("é", keyLen)
			}
			m[k] = strings.Repeat("v", valLen)
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	tests := []struct {
		name, endpoint, metadata string
		status                   int
		param                    string
	}{
		{"16 pairs at the lengths", "/v1/chat/completions", meta(16, 64, 512), 200, ""},
		{"17 pairs", "/v1/chat/completions", meta(17, 1, 1), 400, "metadata"},
		{"65-character key", "/v1/chat/completions", meta(1, 65, 1), 400, "metadata"},
		{"513-character value", "/v1/chat/completions", meta(1, 1, 513), 400, "metadata"},
		{"a number value", "/v1/chat/completions", `{"a":1}`, 400, "metadata"},
		{"moderations", "/v1/moderations", "null", 400, "endpoint"},
		{"completions", "/v1/completions", "null", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"input_file_id":"` + f.ID + `","endpoint":"` + tc.endpoint + `","completion_window":"24h","metadata":` + tc.metadata + `}`
			status, _, resp := g.post(t, "/v1/batches", body, nil)
			if status != tc.status || (tc.param != "" && !strings.Contains(resp, `"param":"`+tc.param+`"`)) {
				t.Fatalf("%d %s", status, resp)
			}
		})
	}
	// The /v1/completions batch runs its line through the legacy
	// completions handler.
	var list struct {
		Data []openai.Batch `json:"data"`
	}
	page, err := c.Batches.List(context.Background(), openai.BatchListParams{})
	if err != nil || json.Unmarshal([]byte(page.RawJSON()), &list) != nil {
		t.Fatal(err)
	}
	for _, b := range page.Data {
		if b.Endpoint != "/v1/completions" {
			continue
		}
		b := waitBatch(t, c, b.ID, finished)
		out := downloadLines(t, c, b.OutputFileID)
		l := out["c"]
		var tc struct {
			Object  string `json:"object"`
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
		}
		if b.Status != openai.BatchStatusCompleted || l.Response == nil || l.Response.StatusCode != 200 ||
			json.Unmarshal(l.Response.Body, &tc) != nil || tc.Object != "text_completion" || len(tc.Choices) != 1 || !strings.Contains(tc.Choices[0].Text, "say this") {
			t.Fatalf("completions batch %s: %+v", b.Status, l)
		}
	}
}
