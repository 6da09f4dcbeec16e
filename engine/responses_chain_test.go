package engine

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/engine/store"
	sqlitedriver "github.com/ncruces/go-sqlite3/driver"
)

// TestResponsesChainStoredAsDeltas: a conversation continued turn after
// turn with previous_response_id through POST /v1/responses lists, at every
// turn, the previous turn's input items byte for byte, then its output
// items, then the new input; the store keeps it in about linear bytes
// (rows chained on the previous one hold only the new items); deleting a
// response in the middle leaves the next one listing its whole
// conversation and chainable.
func TestResponsesChainStoredAsDeltas(t *testing.T) {
	t.Parallel()
	var dir string
	g := startGatewayWith(t, "", nil, func(c *Config) { dir = c.sqliteDir() })
	type list struct {
		Data    []json.RawMessage `json:"data"`
		HasMore bool              `json:"has_more"`
	}
	items := func(id string) []json.RawMessage {
		t.Helper()
		status, body := g.get(t, "/v1/responses/"+id+"/input_items?order=asc&limit=100", nil)
		var l list
		if status != 200 || json.Unmarshal([]byte(body), &l) != nil || l.HasMore {
			t.Fatalf("input_items of %s: %d %s", id, status, body)
		}
		return l.Data
	}
	post := func(prev string, i int) (id string, output []json.RawMessage) {
		t.Helper()
		in := fmt.Sprintf(`turn %d %s`, i, strings.Repeat("w", 100+i*7%90))
		body := fmt.Sprintf(`{"model":"mock/echo","input":[{"role":"user","content":%q}]`, in)
		if prev != "" {
			body += `,"previous_response_id":"` + prev + `"`
		}
		status, _, got := g.post(t, "/v1/responses", body+"}", nil)
		var r struct {
			ID     string            `json:"id"`
			Output []json.RawMessage `json:"output"`
		}
		if status != 200 || json.Unmarshal([]byte(got), &r) != nil {
			t.Fatalf("turn %d: %d %s", i, status, got)
		}
		return r.ID, r.Output
	}
	const turns = 40
	var ids []string
	var prevItems, prevOutput []json.RawMessage
	last := 0
	for i := range turns {
		prev := ""
		if i > 0 {
			prev = ids[i-1]
		}
		id, out := post(prev, i)
		got := items(id)
		want := append(append([]json.RawMessage{}, prevItems...), prevOutput...)
		if len(got) != len(want)+1 || !strings.Contains(string(got[len(want)]), fmt.Sprintf(`turn %d `, i)) {
			t.Fatalf("turn %d: %d items, want %d then the new input", i, len(got), len(want)+1)
		}
		for k := range want {
			if string(got[k]) != string(want[k]) {
				t.Fatalf("turn %d, item %d:\n%s\nwant\n%s", i, k, got[k], want[k])
			}
		}
		ids = append(ids, id)
		prevItems, prevOutput = got, out
		b, _ := json.Marshal(got)
		last = len(b)
	}

	db, err := sqlitedriver.Open((&url.URL{Scheme: "file", Path: filepath.Join(dir, store.SQLiteFile), RawQuery: "mode=ro"}).String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var stored, deltas int
	if err := db.QueryRow(`SELECT SUM(length(input_items)), SUM(prev_id <> '') FROM responses`).Scan(&stored, &deltas); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d turns: %d bytes of input items stored, %d rows deltas; last conversation %d bytes", turns, stored, deltas, last)
	if deltas < turns/2 || stored > 3*last {
		t.Fatalf("%d deltas of %d rows, %d bytes stored for a last conversation of %d", deltas, turns, stored, last)
	}
	var chained string
	if err := db.QueryRow(`SELECT prev_id FROM responses WHERE id = ?`, ids[turns-1]).Scan(&chained); err != nil || chained != ids[turns-2] {
		t.Fatalf("the last response is not stored as a delta of the one before: %q %v", chained, err)
	}

	// Delete the one before last: the last lists the same items and can
	// be continued.
	before := items(ids[turns-1])
	req, _ := http.NewRequest("DELETE", g.url+"/v1/responses/"+ids[turns-2], nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("delete: %v %v", err, resp)
	}
	resp.Body.Close()
	after := items(ids[turns-1])
	a, _ := json.Marshal(after)
	b, _ := json.Marshal(before)
	if string(a) != string(b) {
		t.Fatalf("after deleting the previous response, input_items\n%s\nwant\n%s", a, b)
	}
	id, _ := post(ids[turns-1], turns)
	if got := items(id); len(got) != len(after)+len(prevOutput)+1 {
		t.Fatalf("chained after the delete: %d items, want %d", len(got), len(after)+len(prevOutput)+1)
	}
}

// TestResponsesWholeWithoutDeltas: [store] response_deltas = false stores
// every chained response whole (prev_id empty), as gateways before
// migration 9 read them, with the same conversation.
func TestResponsesWholeWithoutDeltas(t *testing.T) {
	t.Parallel()
	var dir string
	g := startGatewayWith(t, "[store]\nresponse_deltas = false\n", nil, func(c *Config) { dir = c.sqliteDir() })
	prev := ""
	for i := range 3 {
		body := fmt.Sprintf(`{"model":"mock/echo","input":"turn %d"`, i)
		if prev != "" {
			body += `,"previous_response_id":"` + prev + `"`
		}
		status, _, got := g.post(t, "/v1/responses", body+"}", nil)
		var r struct{ ID string }
		if status != 200 || json.Unmarshal([]byte(got), &r) != nil {
			t.Fatalf("turn %d: %d %s", i, status, got)
		}
		prev = r.ID
	}
	status, body := g.get(t, "/v1/responses/"+prev+"/input_items?order=asc", nil)
	if status != 200 || strings.Count(body, `"type":"message"`) != 5 { // three inputs, two answers
		t.Fatalf("input_items: %d %s", status, body)
	}
	db, err := sqlitedriver.Open((&url.URL{Scheme: "file", Path: filepath.Join(dir, store.SQLiteFile), RawQuery: "mode=ro"}).String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows, deltas int
	if err := db.QueryRow(`SELECT COUNT(*), SUM(prev_id <> '') FROM responses`).Scan(&rows, &deltas); err != nil || rows != 3 || deltas != 0 {
		t.Fatalf("%d rows, %d of them deltas (%v): want 3 whole", rows, deltas, err)
	}
}
