package store

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const crashDirEnv = "STORE_CRASH_CHILD_DIR"

// TestSQLiteCrash kills a process that has written to the store, without
// Close (so without a checkpoint: the rows are only in the WAL), and checks
// that a new process finds every committed row.
func TestSQLiteCrash(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSQLiteCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, SQLiteFile+"-wal")); err != nil || fi.Size() == 0 {
		t.Fatalf("no WAL left behind (was it checkpointed?): %v", err)
	}

	s := open(t, Config{DataDir: dir}, nil)
	page := must[RequestPage](t)(s.Requests(ctx, RequestQuery{Limit: 1000}))
	if len(page.Rows) != 300 {
		t.Fatalf("%d ledger rows after the crash, want 300", len(page.Rows))
	}
	if p := must[Project](t)(s.Project(ctx, "crash")); p.Name != "survives" {
		t.Fatalf("project after the crash: %+v", p)
	}
}

func crashChild(t *testing.T, dir string) {
	s, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProject(ctx, Project{ID: "crash", Name: "survives"}); err != nil {
		t.Fatal(err)
	}
	for b := range 3 {
		var rows []UsageRow
		for i := range 100 {
			rows = append(rows, usageRow(b*100+i, t0.Add(time.Duration(b*100+i)*time.Millisecond)))
		}
		if _, err := s.InsertUsage(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	// The rows are committed; die without closing anything.
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
