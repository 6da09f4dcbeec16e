package tenant

import (
	"context"
	"testing"
	"time"

	"github.com/aigateway/gateway/engine/store"
)

func TestDirectoryFollowsTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	static := StaticKey{Hash: store.HashKey("toml-key"), ProjectID: "default", Name: "env"}
	d, err := New(ctx, st, []StaticKey{static}, []string{"default"}, Options{TouchInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	snap := d.Snapshot()
	if k := snap.Lookup(static.Hash); k == nil || !k.Static || k.ID != StaticKeyID(static.Hash) || snap.Project("default") == nil {
		t.Fatalf("static key or implicit project missing: %+v", k)
	}
	if _, err := st.CreateProject(ctx, store.Project{ID: "acme", Name: "Acme", Models: []string{"fast"}}); err != nil {
		t.Fatal(err)
	}
	ck, err := st.CreateKey(ctx, store.NewKey{ProjectID: "acme", Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Snapshot().Lookup(ck.Hash) != nil {
		t.Fatal("a change showed before Refresh")
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	snap = d.Snapshot()
	k := snap.Lookup(store.HashKey(ck.Secret))
	if k == nil || k.Revoked || k.ProjectID != "acme" || !snap.Project("acme").Allows("fast") || snap.Project("acme").Allows("slow") {
		t.Fatalf("after refresh: %+v", k)
	}
	// A touch is written by the next flush.
	k.Touch(time.Now())
	d.flushTouches(ctx)
	if got, _ := st.Key(ctx, ck.ID); got.LastUsedAt.IsZero() {
		t.Fatal("last use not written")
	}
	// Revocation and project deletion.
	if err := st.RevokeKey(ctx, ck.ID); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if k := d.Snapshot().Lookup(ck.Hash); k == nil || !k.Revoked {
		t.Fatalf("revoked key: %+v", k)
	}
	ck2, _ := st.CreateKey(ctx, store.NewKey{ProjectID: "acme"})
	if err := st.DeleteProject(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if k := d.Snapshot().Lookup(ck2.Hash); k == nil || !k.Revoked || d.Snapshot().Project("acme") != nil {
		t.Fatalf("key of a deleted project: %+v", k)
	}
}

func TestKeyExpiry(t *testing.T) {
	t.Parallel()
	now := time.Now()
	k := Key{ExpiresAt: now}
	if !k.Expired(now) || k.Expired(now.Add(-time.Second)) || (&Key{}).Expired(now) {
		t.Fatal("expiry")
	}
}
