package anthropic

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHourTTL checks the cost-aware choice of the 1-hour TTL (gaps.go):
// a session whose turns come 7 minutes apart (past the 5-minute TTL,
// within the hour) gets it once its pauses make the expected saving
// positive, on every breakpoint of the request (longer TTLs first); a
// session whose turns come 30 seconds apart never does, nor does any
// session with Config.NoHourTTL.
func TestHourTTL(t *testing.T) {
	t.Parallel()
	big := func(tag string) string { return tag + " " + strings.Repeat("word ", 400) }
	tbl := newMinTable(nil)
	tests := []struct {
		name   string
		gap    time.Duration
		noHour bool
		// hour: some turn gets the 1-hour TTL, and every turn after it.
		hour bool
	}{
		// Each turn after a 7-minute pause re-writes its whole prompt; the
		// 1-hour premium on that pays once the estimated chance of another
		// long pause passes 65% (a few pauses in), and from then on each
		// turn reads the previous turn's 1-hour entry and writes little.
		{"7-minute pauses", 7 * time.Minute, false, true},
		{"30-second pauses", 30 * time.Second, false, false},
		{"7-minute pauses, NoHourTTL", 7 * time.Minute, true, false},
		// Past the hour nothing is remembered and nothing would be read.
		{"2-hour pauses", 2 * time.Hour, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := time.Unix(1e9, 0)
			led := newPrefixLedger(func() time.Time { return now })
			led.noHour = tt.noHour
			var msgs []string
			first := -1
			for turn := range 20 {
				if turn > 0 {
					msgs = append(msgs, big("answer"))
				}
				msgs = append(msgs, big("question"))
				out, n := addBreakpointsWith(ledgerBody(t, msgs...), "", tbl, false, led)
				hours := strings.Count(string(out), `"ttl":"1h"`)
				switch {
				case hours > 0 && hours != n:
					t.Fatalf("turn %d: %d of %d breakpoints with the 1-hour TTL: all or none (longer TTLs first)", turn+1, hours, n)
				case hours > 0 && first < 0:
					first = turn
				case hours == 0 && first >= 0:
					t.Fatalf("turn %d: back to 5 minutes after turn %d had the 1-hour TTL", turn+1, first+1)
				}
				now = now.Add(tt.gap)
			}
			if got := first >= 0; got != tt.hour {
				t.Fatalf("1-hour TTL from turn %d; want it: %v", first+1, tt.hour)
			}
			if first == 0 {
				t.Fatalf("the first turn, with no pause seen, got the 1-hour TTL")
			}
		})
	}
}

// TestHourPays checks the expected-value rule at its edges.
func TestHourPays(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		p                  float64
		prefix, read, base int
		want               bool
	}{
		{"no chance of a long pause", 0, 10000, 9000, 1000, false},
		{"small write, 10% chance", 0.1, 10000, 9500, 1000, true},
		{"whole re-write, 60% chance", 0.6, 10000, 0, 1000, false},
		{"whole re-write, 70% chance", 0.7, 10000, 0, 1000, true},
		{"nothing past the base", 0.9, 1000, 0, 1000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := hourPays(tt.p, tt.prefix, tt.read, tt.base); got != tt.want {
				t.Fatalf("hourPays(%v, %d, %d, %d) = %v, want %v", tt.p, tt.prefix, tt.read, tt.base, got, tt.want)
			}
		})
	}
}

// TestUsageHourWrites checks that the write split by TTL is read from
// usage.cache_creation (https://docs.anthropic.com/en/api/messages).
func TestUsageHourWrites(t *testing.T) {
	t.Parallel()
	var u usageCounts
	parseUsage([]byte(`{"input_tokens":5,"cache_creation_input_tokens":300,"cache_read_input_tokens":1000,"output_tokens":7,`+
		`"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200}}`), &u)
	got := u.openAI()
	if got.PromptTokens != 1305 || got.CacheWriteTokens != 300 || got.CacheWrite1h != 200 || got.CachedTokens != 1000 {
		t.Fatalf("usage %+v, want prompt 1305, writes 300 of which 1h 200, read 1000", got)
	}
}

// TestHeadHourTTL checks the client-head rule (gaps.go): a client's first
// session writes its system prompt with the 5-minute TTL; once it starts a
// second session within the hour, the head breakpoints take the 1-hour TTL
// (so a third session 20 minutes later still reads them), the conversation
// breakpoints keep their own choice; past an hour without a start, the
// client counts as new again. Not with NoHourTTL.
func TestHeadHourTTL(t *testing.T) {
	t.Parallel()
	big := func(tag string) string { return tag + " " + strings.Repeat("word ", 400) }
	tbl := newMinTable(nil)
	for _, noHour := range []bool{false, true} {
		now := time.Unix(1e9, 0)
		led := newPrefixLedger(func() time.Time { return now })
		led.noHour = noHour
		hours := func(first string) int {
			out, _ := addBreakpointsWith(ledgerBody(t, big(first)), "", tbl, false, led)
			return strings.Count(string(out), `"ttl":"1h"`)
		}
		want := []int{0, 1, 1, 0}
		if noHour {
			want = []int{0, 0, 0, 0}
		}
		for i, at := range []time.Duration{0, 10 * time.Minute, 30 * time.Minute, 100 * time.Minute} {
			now = time.Unix(1e9, 0).Add(at)
			if got := hours(fmt.Sprintf("task %d", i)); got != want[i] {
				t.Fatalf("NoHourTTL %v, session %d at %v: %d breakpoints with the 1-hour TTL, want %d", noHour, i+1, at, got, want[i])
			}
		}
	}
}

// TestLedgerConcurrent runs sessions of two clients on one ledger from
// several goroutines (the provider shares it between requests): under
// -race it checks the locking of the hour-deep ledger and its counts, and
// every request keeps at most four breakpoints, all of one TTL or the
// 1-hour ones first.
func TestLedgerConcurrent(t *testing.T) {
	t.Parallel()
	big := func(tag string) string { return tag + " " + strings.Repeat("word ", 400) }
	tbl := newMinTable(nil)
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	led := newPrefixLedger(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(97 * time.Second)
		return now
	})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var msgs []string
			for turn := range 12 {
				if turn > 0 {
					msgs = append(msgs, big("answer"))
				}
				msgs = append(msgs, big(fmt.Sprintf("session %d question %d", g, turn)))
				out, n := addBreakpointsWith(ledgerBody(t, msgs...), "", tbl, false, led)
				body := string(out)
				if n > MaxBreakpoints || strings.Count(body, `"cache_control"`) != n {
					errs <- fmt.Errorf("session %d turn %d: %d breakpoints added, %d in the body", g, turn, n, strings.Count(body, `"cache_control"`))
					return
				}
				h, short := strings.Index(body, `"ttl":"1h"`), strings.Index(body, `"cache_control":{"type":"ephemeral"}`)
				if h >= 0 && short >= 0 && short < h {
					errs <- fmt.Errorf("session %d turn %d: a 5-minute breakpoint before a 1-hour one", g, turn)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
