package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"
)

// testResponses: stored responses round-trip, are scoped to their project,
// delete and prune.
func testResponses(t *testing.T, db newDB) {
	ctx := context.Background()
	s := open(t, db(t), nil)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	r := StoredResponse{ID: "resp_1", ProjectID: "p1", CreatedAt: t0,
		Response: []byte(`{"id":"resp_1","output":[]}`), InputItems: []byte(`[{"id":"msg_1","type":"message"}]`), Upstream: "openai"}
	if err := s.PutResponse(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Response(ctx, "p1", "resp_1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Response) != string(r.Response) || string(got.InputItems) != string(r.InputItems) || !got.CreatedAt.Equal(t0) || got.Upstream != "openai" {
		t.Fatalf("got %+v", got)
	}
	if _, err := s.Response(ctx, "p2", "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another project read it: %v", err)
	}
	if err := s.DeleteResponse(ctx, "p2", "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another project deleted it: %v", err)
	}
	if err := s.PutResponse(ctx, StoredResponse{ID: "resp_1"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty response stored: %v", err)
	}
	r.ID, r.CreatedAt = "resp_2", t0.Add(time.Hour)
	if err := s.PutResponse(ctx, r); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneResponses(ctx, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v", n, err)
	}
	if _, err := s.Response(ctx, "p1", "resp_1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pruned response still there: %v", err)
	}
	if err := s.DeleteResponse(ctx, "p1", "resp_2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteResponse(ctx, "p1", "resp_2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

// chainTurn is one turn of a test conversation: the request's new input
// items and the response object (output items spaced as a provider might).
func chainTurn(chain string, i int) (input [][]byte, response []byte) {
	text := func(n int) string { return strings.Repeat(string(rune('a'+i%26)), n) }
	in := fmt.Sprintf(`{"id":"msg_%s_u%d", "type":"message","role":"user","content":[{"type":"input_text","text":%q}]}`, chain, i, text(150+(i*37)%200))
	resp := fmt.Sprintf(`{"id":"resp_%s_%d","object":"response","output": [ {"id":"msg_%s_a%d","type":"message","role":"assistant","content":[{"type":"output_text","text":%q}]} ,
	{"id":"fc_%s_%d","type":"function_call","name":"f","arguments":"{}"} ],"usage":{"input_tokens":%d}}`, chain, i, chain, i, text(250+(i*53)%300), chain, i, i)
	return [][]byte{[]byte(in)}, []byte(resp)
}

// oldConversation is what the code before migration 9 stored for a
// response chained on one whose conversation was prevFull and response
// prevResponse: its items, then the response's output items, then input,
// as one JSON array (split with encoding/json, not the store's scanner).
func oldConversation(t *testing.T, prevFull, prevResponse []byte, input [][]byte) []byte {
	t.Helper()
	var items []json.RawMessage
	if prevFull != nil {
		var out struct{ Output []json.RawMessage }
		if err := json.Unmarshal(prevFull, &items); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(prevResponse, &out); err != nil {
			t.Fatal(err)
		}
		items = append(items, out.Output...)
	}
	for _, it := range input {
		items = append(items, it)
	}
	b := []byte{'['}
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

// itemCount is the number of items of a JSON array.
func itemCount(t *testing.T, a []byte) int {
	t.Helper()
	var items []json.RawMessage
	if err := json.Unmarshal(a, &items); err != nil {
		t.Fatal(err)
	}
	return len(items)
}

// testChain is a chain of stored responses and what each one's
// conversation must read back as.
type testChain struct {
	ids  []string
	full map[string][]byte // id → conversation
	resp map[string][]byte // id → response object
}

// putChained stores, in project, a response chained on prev ("" for none)
// with input, and records what it must read back as.
func (c *testChain) putChained(t *testing.T, s Store, project, prev, id string, at time.Time, input [][]byte, response []byte) {
	t.Helper()
	var prevFull, prevResp []byte
	inherited := 0
	if prev != "" {
		prevFull, prevResp = c.full[prev], c.resp[prev]
		inherited = itemCount(t, oldConversation(t, prevFull, prevResp, nil))
	}
	full := oldConversation(t, prevFull, prevResp, input)
	if err := s.PutResponse(ctx, StoredResponse{ID: id, ProjectID: project, CreatedAt: at, Response: response,
		InputItems: full, Prev: prev, Inherited: inherited}); err != nil {
		t.Fatal(err)
	}
	c.ids = append(c.ids, id)
	c.full[id], c.resp[id] = full, response
}

// check reads every response of the chain back, byte for byte.
func (c *testChain) check(t *testing.T, s Store, project string, skip map[string]bool) {
	t.Helper()
	for _, id := range c.ids {
		if skip[id] {
			continue
		}
		got, err := s.Response(ctx, project, id)
		if err != nil {
			t.Fatalf("read %s: %v", id, err)
		}
		if string(got.InputItems) != string(c.full[id]) || string(got.Response) != string(c.resp[id]) {
			t.Fatalf("%s reads back\n%s\nwant\n%s", id, got.InputItems, c.full[id])
		}
	}
}

func newTestChain() *testChain {
	return &testChain{full: map[string][]byte{}, resp: map[string][]byte{}}
}

// responseRow is how a response is stored: its link and its row's bytes.
func responseRow(t *testing.T, s Store, id string) (prev string, depth, bytes int64) {
	t.Helper()
	err := s.(*sqlStore).b.queryRow(ctx, `SELECT prev_id, depth, length(input_items) FROM responses WHERE id = $1`, id).Scan(&prev, &depth, &bytes)
	if err != nil {
		t.Fatalf("row %s: %v", id, err)
	}
	return prev, depth, bytes
}

// testResponseChains: a chain of 100 responses along previous_response_id
// is stored in about linear bytes (deltas and doubling checkpoints) and
// every response reads back as the full copy the old scheme stored, byte
// for byte; deleting a response in the middle, replacing one, and pruning
// the oldest half leave every other response readable and chainable;
// another project can neither read, delete nor chain on it.
func testResponseChains(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	c := newTestChain()
	const turns = 100
	for i := range turns {
		prev := ""
		if i > 0 {
			prev = c.ids[i-1]
		}
		in, resp := chainTurn("x", i)
		c.putChained(t, s, "p1", prev, fmt.Sprintf("resp_x_%d", i), t0.Add(time.Duration(i)*time.Minute), in, resp)
	}
	c.check(t, s, "p1", nil)

	var stored, oldBytes int64
	var maxDepth int64
	checkpoints := 0
	for _, id := range c.ids {
		prev, depth, n := responseRow(t, s, id)
		stored += n
		oldBytes += int64(len(c.full[id]))
		maxDepth = max(maxDepth, depth)
		if prev == "" {
			checkpoints++
		}
	}
	last := int64(len(c.full[c.ids[turns-1]]))
	t.Logf("%d turns: input_items %d bytes as deltas (%d checkpoints, deepest walk %d rows), %d as full copies; last conversation %d bytes",
		turns, stored, checkpoints, maxDepth+1, oldBytes, last)
	if stored > 3*last {
		t.Errorf("stored %d bytes for a last conversation of %d: more than 3×", stored, last)
	}
	if maxDepth >= checkpointHops {
		t.Errorf("a read walks %d rows, more than %d", maxDepth+1, checkpointHops)
	}

	// Another project: not found, not deleted, and chaining on it from
	// there stores a full copy of what the caller sent.
	if _, err := s.Response(ctx, "p2", c.ids[60]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("p2 read p1's response: %v", err)
	}
	if err := s.DeleteResponse(ctx, "p2", c.ids[60]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("p2 deleted p1's response: %v", err)
	}
	p2 := newTestChain()
	p2.full[c.ids[60]], p2.resp[c.ids[60]] = c.full[c.ids[60]], c.resp[c.ids[60]]
	in, resp := chainTurn("y", 0)
	p2.putChained(t, s, "p2", c.ids[60], "resp_y_0", t0.Add(time.Hour), in, resp)
	if prev, _, _ := responseRow(t, s, "resp_y_0"); prev != "" {
		t.Fatalf("p2's response is chained on p1's %q", prev)
	}
	p2.check(t, s, "p2", nil)

	// Delete a response in the middle that the next one is a delta of.
	mid := -1
	for i := 40; i < 80; i++ {
		if prev, _, _ := responseRow(t, s, c.ids[i+1]); prev == c.ids[i] {
			mid = i
			break
		}
	}
	if mid < 0 {
		t.Fatal("no delta between turns 40 and 80")
	}
	if err := s.DeleteResponse(ctx, "p1", c.ids[mid]); err != nil {
		t.Fatal(err)
	}
	gone := map[string]bool{c.ids[mid]: true}
	if _, err := s.Response(ctx, "p1", c.ids[mid]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted response read: %v", err)
	}
	if prev, _, _ := responseRow(t, s, c.ids[mid+1]); prev != "" {
		t.Fatalf("the deleted response's successor still chains on %q", prev)
	}
	c.check(t, s, "p1", gone)
	in, resp = chainTurn("x", 1000)
	c.putChained(t, s, "p1", c.ids[mid+1], "resp_x_fork", t0.Add(2*time.Hour), in, resp)

	// A retry replacing a response (here with another output) leaves the
	// responses chained on it as they were.
	in, resp = chainTurn("z", 85)
	_ = in
	if err := s.PutResponse(ctx, StoredResponse{ID: c.ids[85], ProjectID: "p1", CreatedAt: t0.Add(85 * time.Minute), Response: resp,
		InputItems: c.full[c.ids[85]], Prev: c.ids[84], Inherited: itemCount(t, c.full[c.ids[84]]) + 2}); err != nil {
		t.Fatal(err)
	}
	c.resp[c.ids[85]] = resp
	c.check(t, s, "p1", gone)

	// Prune the oldest half.
	cutoff := t0.Add(50 * time.Minute)
	want := int64(50)
	if mid < 50 {
		want--
	}
	if n, err := s.PruneResponses(ctx, cutoff); err != nil || n != want {
		t.Fatalf("prune: %d %v, want %d", n, err, want)
	}
	for i := range 50 {
		gone[c.ids[i]] = true
	}
	c.check(t, s, "p1", gone)
	p2.check(t, s, "p2", nil)
	in, resp = chainTurn("x", 100)
	c.putChained(t, s, "p1", c.ids[turns-1], "resp_x_100", t0.Add(3*time.Hour), in, resp)
	in, resp = chainTurn("x", 2000)
	c.putChained(t, s, "p1", c.ids[50], "resp_x_fork50", t0.Add(3*time.Hour), in, resp)
	c.check(t, s, "p1", gone)
}

// testResponseChainsConcurrent: chains written at the same time do not
// interfere, and a response chained on one being deleted at the same time
// reads back whole, whichever commits first.
func testResponseChainsConcurrent(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	const chains, turns = 4, 40
	cs := make([]*testChain, chains)
	var wg sync.WaitGroup
	for k := range chains {
		cs[k] = newTestChain()
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("c%d", k)
			for i := range turns {
				prev := ""
				if i > 0 {
					prev = cs[k].ids[i-1]
				}
				in, resp := chainTurn(name, i)
				cs[k].putChained(t, s, "p1", prev, fmt.Sprintf("resp_%s_%d", name, i), t0, in, resp)
			}
		}()
	}
	wg.Wait()
	for _, c := range cs {
		c.check(t, s, "p1", nil)
	}

	// Forks on every response of chain 0 while its even responses are
	// deleted.
	base := cs[0]
	forks := newTestChain()
	maps.Copy(forks.full, base.full)
	maps.Copy(forks.resp, base.resp)
	ins := make([][][]byte, turns)
	resps := make([][]byte, turns)
	for i := range turns {
		ins[i], resps[i] = chainTurn("f", i)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range turns {
			forks.putChained(t, s, "p1", base.ids[i], fmt.Sprintf("resp_f_%d", i), t0, ins[i], resps[i])
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < turns; i += 2 {
			if err := s.DeleteResponse(ctx, "p1", base.ids[i]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	forks.check(t, s, "p1", nil)
	gone := map[string]bool{}
	for i := 0; i < turns; i += 2 {
		gone[base.ids[i]] = true
	}
	base.check(t, s, "p1", gone)

	// Forks, an hour later, on every response of chain 1 while the
	// responses created before then are pruned (all four chains).
	base = cs[1]
	forks = newTestChain()
	maps.Copy(forks.full, base.full)
	maps.Copy(forks.resp, base.resp)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range turns {
			forks.putChained(t, s, "p1", base.ids[i], fmt.Sprintf("resp_g_%d", i), t0.Add(time.Hour), ins[i], resps[i])
		}
	}()
	go func() {
		defer wg.Done()
		for range 5 {
			if _, err := s.PruneResponses(ctx, t0.Add(time.Minute)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	forks.check(t, s, "p1", nil)
}

// testResponseOldRows: rows written before migration 9 (full copies, the
// new columns at their defaults) read as they were, can be chained on, and
// deleting one keeps what is chained on it.
func testResponseOldRows(t *testing.T, db newDB) {
	s := open(t, db(t), nil)
	c := newTestChain()
	// Six turns' worth of input, so that the next turn is not more than
	// twice as long (the checkpoint rule) and is stored as a delta.
	var in [][]byte
	for i := range 6 {
		more, _ := chainTurn("o", 10+i)
		in = append(in, more...)
	}
	_, resp := chainTurn("o", 0)
	full := oldConversation(t, nil, nil, in)
	if _, err := s.(*sqlStore).b.exec(ctx, `INSERT INTO responses (id, project_id, created_at, response, input_items, upstream)
VALUES ($1, $2, $3, $4, $5, $6)`, "resp_old", "p1", utc(t0), resp, full, ""); err != nil {
		t.Fatal(err)
	}
	c.ids, c.full["resp_old"], c.resp["resp_old"] = []string{"resp_old"}, full, resp
	for i := 1; i < 4; i++ {
		in, resp := chainTurn("o", i)
		c.putChained(t, s, "p1", c.ids[i-1], fmt.Sprintf("resp_o_%d", i), t0, in, resp)
	}
	if prev, _, _ := responseRow(t, s, "resp_o_1"); prev != "resp_old" {
		t.Fatalf("resp_o_1 is not a delta of the old row (prev %q)", prev)
	}
	c.check(t, s, "p1", nil)
	if err := s.DeleteResponse(ctx, "p1", "resp_old"); err != nil {
		t.Fatal(err)
	}
	c.check(t, s, "p1", map[string]bool{"resp_old": true})
}
