package store

import (
	"context"
	"errors"
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
