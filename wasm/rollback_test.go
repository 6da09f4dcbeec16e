package wasm

import (
	"errors"
	"testing"
)

// TestRollback walks a configured policy through uploads, rollbacks, a
// delete and a restart: every rollback undoes the last change, a restart
// keeps what it would restore, and each rollback is published like an
// upload or a delete.
func TestRollback(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	cfg := []PolicyConfig{{Name: "r", Module: testdata("echo.wasm"), Stages: []string{"route"}}}
	h := newHost(t, Options{DataDir: data})
	if err := h.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	var changes []string
	h.OnChange(func(name, digest string, module []byte) {
		changes = append(changes, name+":"+digest)
	})
	fixed, echo := readTestdata(t, "fixed.wasm"), readTestdata(t, "echo.wasm")
	fixedHex, echoHex := digestHex(fixed), digestHex(echo)
	state := func(h *Host, wantRoute, wantOrigin, wantTo string) {
		t.Helper()
		if got := routeModel(t, h); got != wantRoute {
			t.Fatalf("route = %s, want %s", got, wantRoute)
		}
		if i, _ := h.Get("r"); i.Origin != wantOrigin || i.RollbackTo != wantTo {
			t.Fatalf("origin %q rollback_to %q, want %q %q", i.Origin, i.RollbackTo, wantOrigin, wantTo)
		}
	}

	if _, err := h.Rollback("r"); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("Rollback of a module never replaced = %v", err)
	}
	if _, err := h.Rollback("nope"); !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("Rollback(nope) = %v", err)
	}
	mustUpload := func(m []byte) {
		t.Helper()
		if _, err := h.Upload("r", m); err != nil {
			t.Fatal(err)
		}
	}
	mustRollback := func(h *Host) {
		t.Helper()
		if _, err := h.Rollback("r"); err != nil {
			t.Fatal(err)
		}
	}
	mustUpload(fixed)
	state(h, "fixed/model", "upload", testdata("echo.wasm")) // back would be the configured module
	mustUpload(fixed)                                        // the same module again changes nothing
	state(h, "fixed/model", "upload", testdata("echo.wasm"))
	mustUpload(echo)
	state(h, "mock/echo", "upload", "upload:"+fixedHex)
	mustRollback(h)
	state(h, "fixed/model", "upload", "upload:"+echoHex)
	if last := changes[len(changes)-1]; last != "r:"+fixedHex {
		t.Fatalf("the rollback published %s", last)
	}

	// A restart keeps the running upload and the previous one.
	h3 := newHost(t, Options{DataDir: data})
	if err := h3.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	state(h3, "fixed/model", "upload", "upload:"+echoHex)
	mustRollback(h3) // toggles back
	state(h3, "mock/echo", "upload", "upload:"+fixedHex)

	// After a delete, a rollback restores the upload that was deleted; a
	// rollback over the configured module deletes the upload again.
	if err := h.Delete("r"); err != nil {
		t.Fatal(err)
	}
	state(h, "mock/echo", "file", "upload:"+fixedHex)
	mustRollback(h)
	state(h, "fixed/model", "upload", testdata("echo.wasm"))
	mustRollback(h)
	state(h, "mock/echo", "file", "upload:"+fixedHex)
	if last := changes[len(changes)-1]; last != "r:" {
		t.Fatalf("the rollback to the configured module published %q, want a delete", last)
	}
}

// TestRollbackUploadOnly: the first upload of a policy that gateway.toml
// does not configure has nothing to go back to (deleting it is a delete);
// its second upload rolls back to the first.
func TestRollbackUploadOnly(t *testing.T) {
	t.Parallel()
	h := newHost(t, Options{})
	if err := h.Configure(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Upload("x", readTestdata(t, "fixed.wasm")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Rollback("x"); !errors.Is(err, ErrNoPrevious) {
		t.Fatalf("Rollback of a first upload = %v", err)
	}
	if _, err := h.Upload("x", readTestdata(t, "echo.wasm")); err != nil {
		t.Fatal(err)
	}
	info, err := h.Rollback("x")
	if err != nil || info.Digest != digestHex(readTestdata(t, "fixed.wasm")) {
		t.Fatalf("Rollback = %+v, %v", info, err)
	}
	if err := h.Delete("x"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Rollback("x"); !errors.Is(err, ErrUnknownPolicy) {
		t.Fatalf("Rollback of a deleted upload-only policy = %v", err)
	}
}
