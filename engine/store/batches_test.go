package store

import (
	"errors"
	"testing"
	"time"
)

// testBatches: files and batches are scoped to their project, statuses move
// once under their From guard, items finish once and are counted, leases
// exclude a second owner, lists page, and pruning keeps what an unfinished
// batch reads.
func testBatches(t *testing.T, db newDB) {
	c := newClock()
	s := open(t, db(t), c)
	f := must[File](t)(s.PutFile(ctx, File{ProjectID: "p1", Purpose: "batch", Filename: "in.jsonl", Content: []byte("{}\n{}\n")}))
	if f.ID == "" || f.Bytes != 6 {
		t.Fatalf("file %+v", f)
	}
	if _, err := s.File(ctx, "p2", f.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another project read the file: %v", err)
	}
	got := must[File](t)(s.FileContent(ctx, "p1", f.ID))
	if string(got.Content) != "{}\n{}\n" || got.Filename != "in.jsonl" || !got.CreatedAt.Equal(utc(t0)) {
		t.Fatalf("content %+v", got)
	}
	if fs, more := must2[File](t)(s.ListFiles(ctx, "p1", FileQuery{Purpose: "batch"})); len(fs) != 1 || fs[0].Content != nil || more {
		t.Fatalf("list files %+v", fs)
	}
	// Files page by a cursor either way; two created in the same instant
	// keep one order (the id breaks the tie).
	fids := []string{f.ID}
	for i := 0; i < 3; i++ {
		if i != 1 {
			c.Advance(time.Second)
		}
		fids = append(fids, must[File](t)(s.PutFile(ctx, File{ProjectID: "p1", Purpose: "batch", Filename: "more.jsonl", Content: []byte("{}\n")})).ID)
	}
	var asc, desc []string
	for _, order := range []bool{true, false} {
		after := ""
		for n := 0; ; n++ {
			page, more := must2[File](t)(s.ListFiles(ctx, "p1", FileQuery{After: after, Limit: 1, Ascending: order}))
			if len(page) != 1 || n > len(fids) {
				t.Fatalf("page %d: %+v", n, page)
			}
			if order {
				asc = append(asc, page[0].ID)
			} else {
				desc = append(desc, page[0].ID)
			}
			if !more {
				break
			}
			after = page[0].ID
		}
	}
	if len(asc) != 4 || asc[0] != f.ID || len(desc) != 4 || desc[3] != f.ID {
		t.Fatalf("asc %v desc %v", asc, desc)
	}
	for i := range asc {
		if asc[i] != desc[3-i] {
			t.Fatalf("asc %v is not desc %v reversed", asc, desc)
		}
	}
	if _, _, err := s.ListFiles(ctx, "p2", FileQuery{After: f.ID}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another project's file as a cursor: %v", err)
	}
	for _, id := range fids[1:] {
		if err := s.DeleteFile(ctx, "p1", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteFile(ctx, "p2", f.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another project deleted the file: %v", err)
	}

	var ids []string
	for i := 0; i < 3; i++ {
		b := must[Batch](t)(s.CreateBatch(ctx, Batch{ProjectID: "p1", KeyID: "k1", Endpoint: "/v1/chat/completions",
			InputFileID: f.ID, CompletionWindow: "24h", ExpiresAt: c.Now().Add(24 * time.Hour), Metadata: []byte(`{"a":"b"}`)}))
		ids = append(ids, b.ID)
		c.Advance(time.Second)
	}
	if _, err := s.Batch(ctx, "p2", ids[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another project read the batch: %v", err)
	}
	page, more := must2[Batch](t)(s.ListBatches(ctx, "p1", "", 2))
	if len(page) != 2 || !more || page[0].ID != ids[2] || page[1].ID != ids[1] {
		t.Fatalf("first page %v %v", page, more)
	}
	page, more = must2[Batch](t)(s.ListBatches(ctx, "p1", page[1].ID, 2))
	if len(page) != 1 || more || page[0].ID != ids[0] || string(page[0].Metadata) != `{"a":"b"}` {
		t.Fatalf("second page %v %v", page, more)
	}
	if page, _ = must2[Batch](t)(s.ListBatches(ctx, "p2", "", 10)); len(page) != 0 {
		t.Fatalf("another project listed batches: %v", page)
	}

	id := ids[0]
	items := []BatchItem{{Line: 1, CustomID: "a", Body: []byte(`{"x":1}`)}, {Line: 2, CustomID: "b", Body: []byte(`{}`)},
		{Line: 3, CustomID: "c", Body: []byte(`{}`), State: ItemFailed, Result: []byte(`{"bad":true}`)}}
	if ok := must[bool](t)(s.UpdateBatch(ctx, id, BatchUpdate{From: []string{BatchValidating}, Status: BatchInProgress, Items: items})); !ok {
		t.Fatal("validating → in_progress not applied")
	}
	if ok := must[bool](t)(s.UpdateBatch(ctx, id, BatchUpdate{From: []string{BatchValidating}, Status: BatchInProgress, Items: items})); ok {
		t.Fatal("second transition applied")
	}
	pending := must[[]BatchItem](t)(s.BatchItems(ctx, id, ItemPending, 0, 10))
	if len(pending) != 2 || pending[0].CustomID != "a" || string(pending[0].Body) != `{"x":1}` {
		t.Fatalf("pending %+v", pending)
	}
	if ok := must[bool](t)(s.FinishItem(ctx, id, 1, ItemCompleted, []byte(`{"ok":1}`))); !ok {
		t.Fatal("finish not applied")
	}
	if ok := must[bool](t)(s.FinishItem(ctx, id, 1, ItemFailed, []byte(`{}`))); ok {
		t.Fatal("item finished twice")
	}
	b := must[Batch](t)(s.Batch(ctx, "p1", id))
	if b.Status != BatchInProgress || b.Total != 3 || b.Completed != 1 || b.Failed != 1 || b.InProgressAt.IsZero() || b.KeyID != "k1" {
		t.Fatalf("batch %+v", b)
	}
	if rest := must[[]BatchItem](t)(s.BatchItems(ctx, id, ItemPending, 1, 10)); len(rest) != 1 || rest[0].Line != 2 {
		t.Fatalf("after line 1: %+v", rest)
	}

	// Leases: one owner at a time until the lease runs out or is released.
	until := c.Now().Add(time.Minute)
	if !must[bool](t)(s.ClaimBatch(ctx, id, "r1", until)) || must[bool](t)(s.ClaimBatch(ctx, id, "r2", until)) {
		t.Fatal("lease not exclusive")
	}
	if !must[bool](t)(s.ClaimBatch(ctx, id, "r1", until.Add(time.Minute))) {
		t.Fatal("renewal refused")
	}
	if err := s.ReleaseBatch(ctx, id, "r1"); err != nil {
		t.Fatal(err)
	}
	if !must[bool](t)(s.ClaimBatch(ctx, id, "r2", until)) {
		t.Fatal("released batch not claimable")
	}
	c.Advance(2 * time.Minute)
	if !must[bool](t)(s.ClaimBatch(ctx, id, "r3", c.Now().Add(time.Minute))) {
		t.Fatal("expired lease not claimable")
	}

	if act := must[[]Batch](t)(s.ActiveBatches(ctx)); len(act) != 3 {
		t.Fatalf("active %d", len(act))
	}
	out := File{ProjectID: "p1", Purpose: "batch_output", Filename: "out.jsonl", Content: []byte("{}\n")}
	if ok := must[bool](t)(s.UpdateBatch(ctx, id, BatchUpdate{From: []string{BatchInProgress, BatchFinalizing}, Status: BatchCompleted,
		OutputFileID: "file-out", Files: []File{{ID: "file-out", ProjectID: out.ProjectID, Purpose: out.Purpose, Filename: out.Filename, Content: out.Content}}})); !ok {
		t.Fatal("completion not applied")
	}
	b = must[Batch](t)(s.Batch(ctx, "", id))
	if b.Status != BatchCompleted || b.OutputFileID != "file-out" || b.CompletedAt.IsZero() {
		t.Fatalf("completed batch %+v", b)
	}
	if _, err := s.FileContent(ctx, "p1", "file-out"); err != nil {
		t.Fatal(err)
	}

	// Pruning: the finished batch goes with its items and old files, but
	// the input file of the unfinished batches stays.
	nb, nf, err := s.PruneBatches(ctx, c.Now().Add(time.Hour))
	if err != nil || nb != 1 || nf != 1 {
		t.Fatalf("prune: %d batches %d files %v", nb, nf, err)
	}
	if _, err := s.Batch(ctx, "p1", id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pruned batch: %v", err)
	}
	if _, err := s.File(ctx, "p1", f.ID); err != nil {
		t.Fatalf("input file of a running batch pruned: %v", err)
	}
	if _, err := s.UpdateBatch(ctx, ids[1], BatchUpdate{Status: BatchCompleted}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unguarded update: %v", err)
	}
}

func must2[T any](t *testing.T) func(page []T, more bool, err error) ([]T, bool) {
	return func(page []T, more bool, err error) ([]T, bool) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return page, more
	}
}
