package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestFileClock checks the benchmark clock (GATEWAY_SIM_CLOCK_FILE): the
// time written to the file, re-read on every call, and the real clock
// when the file is missing or holds no number.
func TestFileClock(t *testing.T) {
	t.Parallel()
	if fileClock("") != nil {
		t.Fatal(`fileClock("") is not nil: the real clock is the provider's default`)
	}
	path := filepath.Join(t.TempDir(), "clock")
	now := fileClock(path)
	if d := time.Since(now()); d < -time.Minute || d > time.Minute {
		t.Fatalf("missing file: %v from the real clock", d)
	}
	for _, want := range []time.Time{time.Unix(1767225600, 0), time.Unix(1767229200, 5)} {
		if err := os.WriteFile(path, []byte(" "+strconv.FormatInt(want.UnixNano(), 10)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := now(); !got.Equal(want) {
			t.Fatalf("clock %v, want %v", got, want)
		}
	}
	if err := os.WriteFile(path, []byte("soon"), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(now()); d < -time.Minute || d > time.Minute {
		t.Fatalf("unreadable time: %v from the real clock", d)
	}
}
