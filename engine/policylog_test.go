package engine

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/aigateway/gateway/wasm"
)

// TestFailureLoggerRateLimit: one warning line per policy per interval, the
// next one counting the failures left out, policies independent.
func TestFailureLoggerRateLimit(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newFailureLogger(slog.New(slog.NewJSONHandler(&buf, nil)), 10*time.Second)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []struct {
		policy string
		after  time.Duration
		id     string
	}{
		{"a", 0, "r1"},
		{"a", time.Second, "r2"},                       // suppressed
		{"b", 2 * time.Second, "r3"},                   // another policy: logged
		{"a", 5 * time.Second, "r4"},                   // suppressed
		{"a", 11 * time.Second, "r5"},                  // logged, 2 left out
		{"a", 11*time.Second + time.Millisecond, "r6"}, // suppressed
	} {
		l.failed(f.policy, wasm.FailureRecord{Time: t0.Add(f.after), RequestID: f.id, Reason: "error_status", Message: "why"})
	}
	var got []string
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var line struct {
			Msg, Policy, Message string
			RequestID            string `json:"request_id"`
			Suppressed           int    `json:"suppressed_since_last"`
		}
		if err := dec.Decode(&line); err != nil {
			t.Fatal(err)
		}
		if line.Msg != "policy failed" || line.Message != "why" {
			t.Fatalf("line = %+v", line)
		}
		got = append(got, line.Policy+" "+line.RequestID+" "+string(rune('0'+line.Suppressed)))
	}
	want := []string{"a r1 0", "b r3 0", "a r5 2"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("log lines %q, want %q", got, want)
	}
}
