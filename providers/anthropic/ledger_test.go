package anthropic

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// ledgerBody renders a Messages body: a long system prompt, then msgs as
// alternating user/assistant text messages (user first).
func ledgerBody(t *testing.T, msgs ...string) []byte {
	t.Helper()
	type block struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type msg struct {
		Role    string  `json:"role"`
		Content []block `json:"content"`
	}
	body := struct {
		Model     string  `json:"model"`
		MaxTokens int     `json:"max_tokens"`
		System    []block `json:"system"`
		Messages  []msg   `json:"messages"`
	}{Model: "claude-sonnet-4-5", MaxTokens: 1024, System: []block{{"text", strings.Repeat("system prompt ", 400)}}}
	for i, m := range msgs {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		body.Messages = append(body.Messages, msg{role, []block{{"text", m}}})
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// markedTexts returns the message texts that carry a breakpoint.
func markedTexts(t *testing.T, b []byte) []string {
	t.Helper()
	var r struct {
		Messages []struct {
			Content []struct {
				Text         string          `json:"text"`
				CacheControl json.RawMessage `json:"cache_control"`
			} `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range r.Messages {
		for _, c := range m.Content {
			if c.CacheControl != nil {
				out = append(out, c.Text[:min(len(c.Text), 12)])
			}
		}
	}
	return out
}

// TestLedgerPlacement checks the cost-aware conversation breakpoint: an
// appending client keeps its final-turn breakpoint; a client that rewrites
// its last messages every turn (Aider: repository map, done exchanges, then
// the files and the request, rewritten) gets it where its next turn will
// still match, from its second turn on, and on a later session's first turn
// (the same tools and system prompt: the same client).
func TestLedgerPlacement(t *testing.T) {
	t.Parallel()
	big := func(tag string) string { return tag + " " + strings.Repeat("word ", 1200) }
	tbl := newMinTable(nil)
	t.Run("appending chat", func(t *testing.T) {
		t.Parallel()
		led := newPrefixLedger(nil)
		turns := [][]string{
			{big("q1-"), "a1-", "q2-"},
			{big("q1-"), "a1-", "q2-", "a2-", "q3-"},
			{big("q1-"), "a1-", "q2-", "a2-", "q3-", "a3-", "q4-"},
		}
		for i, msgs := range turns {
			out, _ := addBreakpointsWith(ledgerBody(t, msgs...), "", tbl, false, led)
			got := markedTexts(t, out)
			if len(got) == 0 || got[len(got)-1] != msgs[len(msgs)-1][:min(12, len(msgs[len(msgs)-1]))] {
				t.Fatalf("turn %d: breakpoints on %q, want the final user turn marked", i, got)
			}
		}
	})
	t.Run("aider rewrites its tail", func(t *testing.T) {
		t.Parallel()
		led := newPrefixLedger(nil)
		rmap := big("repo-map")
		files := func(v string) string { return big("files-" + v) }
		turns := [][]string{
			{rmap, "ok-map", files("v1"), "ok-files", "req1"},
			{rmap, "ok-map", "req1", "ans1", files("v2"), "ok-files", "req2"},
			{rmap, "ok-map", "req1", "ans1", "req2", "ans2", files("v3"), "ok-files", "req3"},
		}
		want := [][]string{
			nil, // no history: the stateless rules (final turn)
			{"ok-map", "ans1"},
			{"ans1", "ans2"},
		}
		for i, msgs := range turns {
			out, _ := addBreakpointsWith(ledgerBody(t, msgs...), "", tbl, false, led)
			got := markedTexts(t, out)
			if want[i] != nil && strings.Join(got, ",") != strings.Join(want[i], ",") {
				t.Fatalf("turn %d: breakpoints on %q, want %q", i, got, want[i])
			}
		}
		// A new session of the same client, first turn: the tail length
		// learnt above puts the breakpoint after the map's "Ok".
		out, _ := addBreakpointsWith(ledgerBody(t, big("other-map"), "ok-map", files("w1"), "ok-files", "reqA"), "", tbl, false, led)
		if got := markedTexts(t, out); strings.Join(got, ",") != "ok-map" {
			t.Fatalf("new session: breakpoints on %q, want [ok-map]", got)
		}
	})
	t.Run("entries expire", func(t *testing.T) {
		t.Parallel()
		led := newPrefixLedger(nil)
		now := time.Unix(1e9, 0)
		led.now = func() time.Time { return now }
		h1, h2 := []uint64{1, 2, 3}, []uint64{1, 2, 3, 4, 5}
		if h := led.observe(9, h1); h.shared != -1 {
			t.Fatalf("first: %+v", h)
		}
		if h := led.observe(9, h2); h.shared != 2 || h.tail != 0 {
			t.Fatalf("appended: %+v, want shared 2, tail 0", h)
		}
		// Boundaries are remembered an hour (to see pauses up to the 1-hour
		// TTL); past 5 minutes the prefix is no longer live in the cache.
		now = now.Add(6 * time.Minute)
		if h := led.observe(9, []uint64{1, 2, 3, 4, 5, 6, 7}); h.shared != 4 || h.tail != 0 || h.live {
			t.Fatalf("after 5 minutes: %+v, want shared 4, tail 0, not live", h)
		}
		now = now.Add(61 * time.Minute)
		if h := led.observe(9, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}); h.shared != -1 || h.tail != -1 {
			t.Fatalf("after the hour: %+v, want no shared boundary and no tail (the client's is an hour old too)", h)
		}
	})
}

// TestNoLedgerSwitch checks Config.NoLedger ([optimize]
// anthropic_cache_ledger = false): the provider keeps no ledger, so an
// Aider-style second turn gets the stateless final-turn breakpoint instead
// of the ledger's placement (texts clipped to 12 bytes by markedTexts).
func TestNoLedgerSwitch(t *testing.T) {
	t.Parallel()
	big := func(tag string) string { return tag + " " + strings.Repeat("word ", 1200) }
	turns := [][]string{
		{big("repo-map"), "ok-map", big("files-v1"), "ok-files", "req1"},
		{big("repo-map"), "ok-map", "req1", "ans1", big("files-v2"), "ok-files", "req2"},
	}
	for _, off := range []bool{false, true} {
		p, err := New(Config{BaseURL: "http://127.0.0.1:1", APIKey: "k", CacheControl: true, NoLedger: off})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, msgs := range turns {
			out, _ := addBreakpointsWith(ledgerBody(t, msgs...), "", p.minTokens, false, p.ledger)
			got = markedTexts(t, out)
		}
		want := "ok-map,ans1"
		if off {
			want = "files-v2 wor,req2" // candidates 4 and 1, both rewritten next turn
		}
		if strings.Join(got, ",") != want {
			t.Fatalf("NoLedger %v: second turn's breakpoints on %q, want %s", off, got, want)
		}
	}
}
