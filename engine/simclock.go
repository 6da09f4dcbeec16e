package engine

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// fileClock returns a clock that reads the time, in Unix nanoseconds, from
// the file at path on every call, falling back to the real clock when the
// file is missing or unreadable; nil (the real clock) when path is "".
//
// It exists for the cost benchmark (bench/cost), which replays an hour of
// traffic in about a minute: the prefix ledger's view of Anthropic's cache
// lifetimes (5 minutes, an hour) and of a session's pauses must run on the
// trace's time, as the fake upstreams' caches do. The harness writes the
// file before each request (GATEWAY_SIM_CLOCK_FILE). Nothing else reads
// it; in production the variable is unset and time.Now is used.
func fileClock(path string) func() time.Time {
	if path == "" {
		return nil
	}
	return func() time.Time {
		b, err := os.ReadFile(path)
		if err != nil {
			return time.Now()
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return time.Now()
		}
		return time.Unix(0, ns)
	}
}
