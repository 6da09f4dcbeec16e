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
