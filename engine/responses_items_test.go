package engine

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestResponsesInputItemsPaging: GET /v1/responses/{id}/input_items pages
// with order (desc by default), limit (1–100), after and before (item ids,
// exclusive), as the list endpoints of
// https://platform.openai.com/docs/api-reference/responses/input-items do;
// a cursor naming no item of the list, a limit outside 1–100 and an
// unknown order are 400s naming the parameter (the reference is silent on
// an unknown cursor: the gateway refuses it rather than answer a page that
// ignores it).
func TestResponsesInputItemsPaging(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	status, _, body := g.post(t, "/v1/responses", `{"model":"mock/echo","input":[
		{"id":"msg_a","role":"user","content":"a"},{"id":"msg_b","role":"assistant","content":"b"},
		{"id":"msg_c","role":"user","content":"c"},{"id":"msg_d","role":"assistant","content":"d"},
		{"id":"msg_e","role":"user","content":"e"}]}`, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	id := string(jsonGet(t, body, "id"))
	type page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
		HasMore bool    `json:"has_more"`
	}
	for _, tc := range []struct {
		name, query string
		want        string // ids joined, then "+" when has_more
	}{
		{"default desc", "", "e,d,c,b,a"},
		{"asc", "?order=asc", "a,b,c,d,e"},
		{"limit", "?limit=2", "e,d+"},
		{"after desc", "?after=msg_d&limit=2", "c,b+"},
		{"after asc", "?order=asc&after=msg_b", "c,d,e"},
		{"after last", "?after=msg_a", ""},
		{"before desc", "?before=msg_b", "e,d,c"},
		{"before asc", "?order=asc&before=msg_c", "a,b"},
		{"after and before", "?order=asc&after=msg_a&before=msg_e", "b,c,d"},
		{"after and before with limit", "?order=asc&after=msg_a&before=msg_e&limit=2", "b,c+"},
	} {
		status, got := g.get(t, "/v1/responses/"+id+"/input_items"+tc.query, nil)
		var p page
		if status != 200 || json.Unmarshal([]byte(got), &p) != nil {
			t.Fatalf("%s: %d %s", tc.name, status, got)
		}
		var ids []string
		for _, it := range p.Data {
			ids = append(ids, strings.TrimPrefix(it.ID, "msg_"))
		}
		s := strings.Join(ids, ",")
		if p.HasMore {
			s += "+"
		}
		if s != tc.want {
			t.Errorf("%s: got %q, want %q: %s", tc.name, s, tc.want, got)
		}
		if len(p.Data) > 0 && (p.FirstID == nil || *p.FirstID != p.Data[0].ID || p.LastID == nil || *p.LastID != p.Data[len(p.Data)-1].ID) {
			t.Errorf("%s: first_id/last_id: %s", tc.name, got)
		}
	}
	for _, tc := range []struct{ name, query, param, mention string }{
		{"unknown after", "?after=msg_nope", "after", "msg_nope"},
		{"unknown before", "?before=msg_nope", "before", "msg_nope"},
		{"limit 0", "?limit=0", "limit", ""},
		{"limit 101", "?limit=101", "limit", ""},
		{"limit not a number", "?limit=ten", "limit", ""},
		{"order", "?order=up", "order", ""},
	} {
		status, got := g.get(t, "/v1/responses/"+id+"/input_items"+tc.query, nil)
		var env struct {
			Error struct {
				Message, Type, Param, Code string
			} `json:"error"`
		}
		if status != 400 || json.Unmarshal([]byte(got), &env) != nil || env.Error.Type != "invalid_request_error" ||
			env.Error.Param != tc.param || !strings.Contains(env.Error.Message, tc.mention) {
			t.Errorf("%s: %d %s", tc.name, status, got)
		}
	}
}

// TestResponsesCancelAndReplay: POST /v1/responses/{id}/cancel answers
// OpenAI's 400 for a synchronous response (the gateway makes no other) and
// 404 for an id of no response of the project; GET with ?stream=true
// replays the stored response as its event stream, from starting_after.
func TestResponsesCancelAndReplay(t *testing.T) {
	t.Parallel()
	g := startGateway(t, "", nil)
	_, _, body := g.post(t, "/v1/responses", `{"model":"mock/echo","input":"one two three","max_output_tokens":2}`, nil)
	id := string(jsonGet(t, body, "id"))
	if status, _, got := g.post(t, "/v1/responses/"+id+"/cancel", ``, nil); status != 400 || !strings.Contains(got, "synchronous") {
		t.Fatalf("cancel: %d %s", status, got)
	}
	if status, _, got := g.post(t, "/v1/responses/resp_nope/cancel", ``, nil); status != 404 || !strings.Contains(got, "response_not_found") {
		t.Fatalf("cancel unknown: %d %s", status, got)
	}
	status, got := g.get(t, "/v1/responses/"+id+"?stream=true", nil)
	evs := sseEvents(t, strings.NewReader(got))
	var names []string
	var text string
	for i, ev := range evs {
		var v struct {
			Type     string          `json:"type"`
			Seq      int             `json:"sequence_number"`
			Delta    string          `json:"delta"`
			Response json.RawMessage `json:"response"`
		}
		if json.Unmarshal([]byte(ev), &v) != nil || v.Seq != i {
			t.Fatalf("event %d: %s", i, ev)
		}
		names = append(names, v.Type)
		if v.Type == "response.output_text.delta" {
			text += v.Delta
		}
		if i == len(evs)-1 && string(v.Response) != body {
			t.Fatalf("the last event's response is not the stored one:\n%s\n%s", v.Response, body)
		}
	}
	want := "response.created,response.in_progress,response.output_item.added,response.content_part.added,response.output_text.delta," +
		"response.output_text.done,response.content_part.done,response.output_item.done,response.incomplete"
	if status != 200 || strings.Join(names, ",") != want || strings.TrimSpace(text) != "one two" {
		t.Fatalf("replay %d %v %q", status, names, text)
	}
	_, got = g.get(t, "/v1/responses/"+id+"?stream=true&starting_after=6", nil)
	if evs := sseEvents(t, strings.NewReader(got)); len(evs) != 2 || !strings.Contains(evs[0], `"sequence_number":7`) {
		t.Fatalf("starting_after 6: %v", evs)
	}
}
