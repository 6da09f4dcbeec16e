package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func testWebhooks(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)
	p := must[Project](t)(s.CreateProject(ctx, Project{Name: "w"}))
	w := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{URL: "https://hooks.example.com/x", Events: []string{"budget.threshold", " key.revoked "}}))
	if !strings.HasPrefix(w.ID, "wh_") || !strings.HasPrefix(w.Secret, "whsec_") || len(w.Secret) != 6+43 {
		t.Fatalf("generated %+v", w)
	}
	if !reflect.DeepEqual(w.Events, []string{"budget.threshold", "key.revoked"}) {
		t.Fatalf("events %v", w.Events)
	}
	if got := must[Webhook](t)(s.Webhook(ctx, w.ID)); !reflect.DeepEqual(got, w) {
		t.Fatalf("stored\n got %+v\nwant %+v", got, w)
	}
	c.Advance(time.Millisecond)
	scoped := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{ID: "wh-scoped", URL: "http://10.0.0.1:9000/", ProjectID: p.ID, Secret: "0123456789abcdef"}))
	_, err := s.CreateWebhook(ctx, Webhook{URL: "https://x.example/", ProjectID: "nope"})
	wantErr(t, err, ErrNotFound)
	_, err = s.CreateWebhook(ctx, Webhook{ID: "wh-scoped", URL: "https://x.example/"})
	wantErr(t, err, ErrConflict)
	for _, bad := range []string{"", "ftp://x/", "/relative", "https://"} {
		_, err = s.CreateWebhook(ctx, Webhook{URL: bad})
		wantErr(t, err, ErrInvalid)
	}

	if !w.Wants("key.revoked", "any") || w.Wants("other", "") || !scoped.Wants("x", p.ID) || scoped.Wants("x", "other") {
		t.Fatal("Wants")
	}

	c.Advance(time.Second)
	up := must[Webhook](t)(s.UpdateWebhook(ctx, w.ID, WebhookPatch{Disabled: SetTo(true), Events: SetTo[[]string](nil)}))
	if !up.Disabled || up.Events != nil || up.URL != w.URL || up.Secret != w.Secret || !up.UpdatedAt.Equal(utc(c.Now())) {
		t.Fatalf("patched %+v", up)
	}
	_, err = s.UpdateWebhook(ctx, w.ID, WebhookPatch{URL: SetTo("nope")})
	wantErr(t, err, ErrInvalid)
	list := must[[]Webhook](t)(s.ListWebhooks(ctx))
	if len(list) != 2 || list[0].ID != w.ID || list[1].ID != "wh-scoped" || !list[0].Disabled {
		t.Fatalf("list %+v", list)
	}
	if err := s.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.DeleteWebhook(ctx, w.ID), ErrNotFound)
	_, err = s.Webhook(ctx, w.ID)
	wantErr(t, err, ErrNotFound)
}

func testOutbox(t *testing.T, db newDB) {
	cfg := db(t)
	c := newClock()
	s := open(t, cfg, c)
	w := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{URL: "https://hooks.example.com/"}))
	off := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{URL: "https://off.example.com/", Disabled: true}))
	var ids []string
	for i := range 3 {
		ids = append(ids, must[string](t)(s.EnqueueDelivery(ctx, w.ID, "budget.threshold", []byte(fmt.Sprintf(`{"n":%d}`, i)))))
		c.Advance(time.Millisecond)
	}
	offID := must[string](t)(s.EnqueueDelivery(ctx, off.ID, "x", nil))
	_, err := s.EnqueueDelivery(ctx, "wh_nope", "x", nil)
	wantErr(t, err, ErrNotFound)

	now := c.Now()
	got := must[[]Delivery](t)(s.DueDeliveries(ctx, now, 10, 30*time.Second))
	if len(got) != 3 {
		t.Fatalf("claimed %d, want 3 (the disabled endpoint's delivery waits)", len(got))
	}
	for i, d := range got {
		if d.ID != ids[i] || d.Attempts != 1 || string(d.Payload) != fmt.Sprintf(`{"n":%d}`, i) || !d.ClaimedUntil.Equal(utc(now.Add(30*time.Second))) {
			t.Fatalf("claim %d = %+v", i, d)
		}
	}
	// Leased: nobody else gets them until the lease ends.
	if got := must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(29*time.Second), 10, 30*time.Second)); len(got) != 0 {
		t.Fatalf("claimed leased rows: %+v", got)
	}
	if err := s.MarkDelivered(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, ids[1], now.Add(time.Minute), "HTTP 503"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkFailed(ctx, ids[2], time.Time{}, strings.Repeat("é", 2000)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.MarkDelivered(ctx, "dlv_nope"), ErrNotFound)
	wantErr(t, s.MarkFailed(ctx, "dlv_nope", now, ""), ErrNotFound)
	// ids[1] is due again only at its retry time.
	if got := must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(59*time.Second), 10, time.Minute)); len(got) != 0 {
		t.Fatalf("retried early: %+v", got)
	}

	// Deliveries persist across a restart.
	s.Close()
	s = open(t, cfg, c)
	got = must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(time.Minute), 10, time.Minute))
	if len(got) != 1 || got[0].ID != ids[1] || got[0].Attempts != 2 || got[0].LastError != "HTTP 503" {
		t.Fatalf("after reopen: %+v", got)
	}
	// A claim that is never marked (the claimer died) comes back after its lease.
	got = must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(3*time.Minute), 10, time.Minute))
	if len(got) != 1 || got[0].ID != ids[1] || got[0].Attempts != 3 {
		t.Fatalf("expired lease: %+v", got)
	}
	list := must[[]Delivery](t)(s.ListDeliveries(ctx, w.ID, 0))
	if len(list) != 3 || list[0].ID != ids[2] || list[2].ID != ids[0] {
		t.Fatalf("list %+v", list)
	}
	if list[2].DeliveredAt.IsZero() || list[0].FailedAt.IsZero() || len(list[0].LastError) > maxLastError || list[0].Attempts != 1 {
		t.Fatalf("finished states: %+v", list)
	}
	// Enabling the endpoint releases its delivery.
	must[Webhook](t)(s.UpdateWebhook(ctx, off.ID, WebhookPatch{Disabled: SetTo(false)}))
	got = must[[]Delivery](t)(s.DueDeliveries(ctx, now.Add(3*time.Minute), 10, time.Minute))
	if len(got) != 1 || got[0].ID != offID || len(got[0].Payload) != 0 {
		t.Fatalf("re-enabled: %+v", got)
	}
	_, err = s.DueDeliveries(ctx, now, 0, time.Minute)
	wantErr(t, err, ErrInvalid)
	// Deleting an endpoint deletes its deliveries.
	if err := s.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if list := must[[]Delivery](t)(s.ListDeliveries(ctx, w.ID, 0)); len(list) != 0 {
		t.Fatalf("orphans: %+v", list)
	}
}

func testOutboxConcurrentClaims(t *testing.T, db newDB) {
	cfg := db(t)
	stores := []Store{open(t, cfg, nil), open(t, cfg, nil)} // two replicas
	w := must[Webhook](t)(stores[0].CreateWebhook(ctx, Webhook{URL: "https://hooks.example.com/"}))
	const n = 150
	want := map[string]bool{}
	for range n {
		want[must[string](t)(stores[0].EnqueueDelivery(ctx, w.ID, "e", []byte("{}")))] = true
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		claims = map[string]int{}
	)
	now := time.Now().Add(time.Hour) // every row is due
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%2]
			for {
				got, err := s.DueDeliveries(ctx, now, 7, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					claims[d.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claims) != n {
		t.Fatalf("claimed %d distinct rows, want %d", len(claims), n)
	}
	for id, k := range claims {
		if k != 1 || !want[id] {
			t.Fatalf("row %s claimed %d times", id, k)
		}
	}
}

func testAudit(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)
	actions := []string{"project.create", "key.revoke", "policy.put", "cache.purge", "reload", "project.delete"}
	for i := range 25 {
		e := AuditEntry{Actor: "admin", Action: actions[i%len(actions)], Target: fmt.Sprintf("t%d", i%4)}
		if i%3 == 0 {
			e.Before = json.RawMessage(`{"rpm": 1}`)
			e.After = json.RawMessage(`{"rpm":2,"name":"x"}`)
		}
		if i%7 == 0 {
			e.Time = c.Now() // explicit, equal to the previous: the id breaks the tie
		}
		if err := s.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
		if i%7 != 6 {
			c.Advance(time.Second)
		}
	}
	wantErr(t, s.Audit(ctx, AuditEntry{Action: ""}), ErrInvalid)
	wantErr(t, s.Audit(ctx, AuditEntry{Action: "x", After: json.RawMessage(`{`)}), ErrInvalid)

	page := func(q AuditQuery) []AuditEntry {
		t.Helper()
		var all []AuditEntry
		for i := 0; ; i++ {
			p := must[AuditPage](t)(s.AuditLog(ctx, q))
			all = append(all, p.Entries...)
			if p.Next == "" {
				return all
			}
			if i > 30 {
				t.Fatal("paging does not end")
			}
			q.Cursor = p.Next
		}
	}
	all := page(AuditQuery{Limit: 10})
	if len(all) != 25 {
		t.Fatalf("%d entries", len(all))
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.Time.Before(b.Time) || a.Time.Equal(b.Time) && a.ID <= b.ID {
			t.Fatalf("not newest first at %d: %+v then %+v", i, a, b)
		}
	}
	var before, after any
	json.Unmarshal(all[len(all)-1].Before, &before)
	json.Unmarshal(all[len(all)-1].After, &after)
	if !reflect.DeepEqual(before, map[string]any{"rpm": 1.0}) || !reflect.DeepEqual(after, map[string]any{"rpm": 2.0, "name": "x"}) {
		t.Fatalf("before/after round trip: %s %s", all[len(all)-1].Before, all[len(all)-1].After)
	}
	if all[len(all)-1].Action != "project.create" || all[len(all)-1].Actor != "admin" || all[1].Before != nil {
		t.Fatalf("entries %+v", all[len(all)-1])
	}
	count := func(q AuditQuery, keep func(AuditEntry) bool) {
		t.Helper()
		want := 0
		for _, e := range all {
			if keep(e) {
				want++
			}
		}
		got := page(q)
		if len(got) != want || want == 0 {
			t.Fatalf("%+v: %d entries, want %d", q, len(got), want)
		}
		for _, e := range got {
			if !keep(e) {
				t.Fatalf("%+v: unexpected %+v", q, e)
			}
		}
	}
	count(AuditQuery{Action: "key.revoke", Limit: 2}, func(e AuditEntry) bool { return e.Action == "key.revoke" })
	count(AuditQuery{Action: "project.", Limit: 3}, func(e AuditEntry) bool { return strings.HasPrefix(e.Action, "project.") })
	count(AuditQuery{Action: "p*"}, func(e AuditEntry) bool { return strings.HasPrefix(e.Action, "p") })
	count(AuditQuery{Target: "t1", From: all[20].Time, To: all[2].Time}, func(e AuditEntry) bool {
		return e.Target == "t1" && !e.Time.Before(all[20].Time) && e.Time.Before(all[2].Time)
	})
	_, err := s.AuditLog(ctx, AuditQuery{Cursor: encodeCursor(t0, "not-a-number")})
	wantErr(t, err, ErrInvalid)
}

func testPrune(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)
	var rows []UsageRow
	for i := range 12 {
		rows = append(rows, usageRow(i, t0.Add(time.Duration(i)*time.Hour)))
	}
	must[int](t)(s.InsertUsage(ctx, rows))
	if n := must[int64](t)(s.PruneUsage(ctx, rows[5].Time)); n != 5 {
		t.Fatalf("pruned %d rows, want 5", n)
	}
	if p := must[RequestPage](t)(s.Requests(ctx, RequestQuery{})); len(p.Rows) != 7 || p.Rows[6].ID != rows[5].ID {
		t.Fatalf("left %+v", p.Rows)
	}

	w := must[Webhook](t)(s.CreateWebhook(ctx, Webhook{URL: "https://h.example/"}))
	done := must[string](t)(s.EnqueueDelivery(ctx, w.ID, "e", nil))
	pending := must[string](t)(s.EnqueueDelivery(ctx, w.ID, "e", nil))
	if err := s.MarkDelivered(ctx, done); err != nil {
		t.Fatal(err)
	}
	if n := must[int64](t)(s.PruneDeliveries(ctx, c.Now().Add(time.Second))); n != 1 {
		t.Fatalf("pruned %d deliveries, want 1", n)
	}
	if l := must[[]Delivery](t)(s.ListDeliveries(ctx, w.ID, 0)); len(l) != 1 || l[0].ID != pending {
		t.Fatalf("left %+v", l)
	}
}
