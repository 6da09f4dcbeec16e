package cost

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func startFakes(t *testing.T) *Upstreams {
	t.Helper()
	tok, err := NewTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	up, err := StartUpstreams(tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	return up
}

// TestReplayDirect replays a small trace against the fakes, as the baseline
// does: every answer is the fake model's, the prices apply, the client's own
// breakpoints (Claude Code) are read back on later turns, and OpenAI's
// automatic caching applies to repeated long prefixes.
func TestReplayDirect(t *testing.T) {
	up := startFakes(t)
	tr := Generate(2, SmallMix())
	res, err := Replay(tr, up, Target{Name: "baseline", Strong: "anthropic/claude-sonnet-4-5"}, &http.Client{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	prices := Prices{
		"anthropic/claude-sonnet-4-5": {Input: 3, Output: 15, CachedInput: 0.3, CacheWrite: 3.75},
		"openai/gpt-4.1":              {Input: 2, Output: 8, CachedInput: 0.5},
		"openai/gpt-4o":               {Input: 2.5, Output: 10, CachedInput: 1.25},
		"openai/gpt-4o-mini":          {Input: 0.15, Output: 0.6, CachedInput: 0.075},
		"gemini/gemini-2.5-pro":       {Input: 1.25, Output: 10, CachedInput: 0.31},
		"gemini/gemini-2.5-flash":     {Input: 0.3, Output: 2.5, CachedInput: 0.075},
		"deepseek/deepseek-chat":      {Input: 0.28, Output: 0.42, CachedInput: 0.028},
	}
	s := Summarize("baseline", res, prices)
	if s.Errors != 0 || s.Differ != 0 || len(s.UnknownPrices) != 0 {
		t.Fatalf("errors %v, differences %v, unpriced %v", s.Failures, s.Differences, s.UnknownPrices)
	}
	if s.Calls != len(tr.Requests) || s.CostUSD <= 0 {
		t.Fatalf("%d calls for %d requests, cost %v", s.Calls, len(tr.Requests), s.CostUSD)
	}
	read := map[string]int{}
	for _, r := range res {
		for _, c := range r.Calls {
			read[r.Req.Kind] += c.CachedTokens
			if r.Req.Kind == "agent" && c.Provider == "anthropic" && (c.CachedTokens > 0 || c.CacheWriteTokens > 0) {
				t.Fatalf("request %d: an OpenAI-format client's request cached on Anthropic without breakpoints", r.Req.ID)
			}
		}
	}
	if read["claude-code"] == 0 {
		t.Error("Claude Code's own breakpoints were never read back")
	}
	openaiRead := 0
	for _, r := range res {
		for _, c := range r.Calls {
			if c.Provider == "openai" {
				openaiRead += c.CachedTokens
			}
		}
	}
	if openaiRead == 0 {
		t.Error("no automatic OpenAI cache hit on repeated prefixes")
	}
	acct, err := Account(res, res, prices, up.Tok, "anthropic/claude-sonnet-4-5")
	if err != nil {
		t.Fatal(err)
	}
	if acct.ResponseCache.Hits != 0 || acct.PromptEdits.Requests != 0 || acct.PromptCache.Calls != 0 {
		t.Fatalf("the baseline against itself shows savings: %+v", acct)
	}
}

// TestFakeUsage checks that the fakes report, in each provider's wire
// format, the usage they record, streams included.
func TestFakeUsage(t *testing.T) {
	up := startFakes(t)
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 300)
	client := &http.Client{Timeout: time.Minute}
	oa := []byte(`{"model":"gpt-4.1","max_tokens":64,"messages":[{"role":"system","content":"` + long + `"},{"role":"user","content":"hi"}]}`)
	for i, stream := range []bool{false, true, false} {
		up.Begin(i, Epoch.Add(time.Duration(i)*time.Second))
		body := oa
		if stream {
			body = []byte(strings.Replace(string(oa), `"max_tokens":64`, `"max_tokens":64,"stream":true,"stream_options":{"include_usage":true}`, 1))
		}
		resp, b, err := post(client, up.OpenAIURL+"/chat/completions", body, map[string]string{"Authorization": "Bearer k"})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %v: %v %s", resp, err, b)
		}
		a, u, err := ParseOpenAIAnswer(b, stream)
		if err != nil || u == nil {
			t.Fatalf("parse: %v (usage %v)", err, u)
		}
		calls := up.Calls()
		c := calls[len(calls)-1]
		if u.PromptTokens != c.PromptTokens || u.PromptTokensDetails.CachedTokens != c.CachedTokens || u.CompletionTokens != c.OutputTokens || Diff(c.Answer, a) != "" {
			t.Fatalf("request %d: usage %+v answer %+v, recorded %+v", i, u, a, c)
		}
		if i > 0 && c.CachedTokens == 0 {
			t.Fatalf("request %d: the repeated prompt was not cached", i)
		}
	}
	an := []byte(`{"model":"claude-sonnet-4-5","max_tokens":64,"system":[{"type":"text","text":"` + long + `","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`)
	for i := range 2 {
		up.Begin(10+i, Epoch.Add(time.Minute))
		resp, b, err := post(client, up.AnthropicURL+"/v1/messages", an, map[string]string{"x-api-key": "k", "anthropic-version": "2023-06-01"})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %v: %v %s", resp, err, b)
		}
		var m struct {
			Usage struct {
				Input    int `json:"input_tokens"`
				Creation int `json:"cache_creation_input_tokens"`
				Read     int `json:"cache_read_input_tokens"`
				Output   int `json:"output_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		calls := up.Calls()
		c := calls[len(calls)-1]
		u := m.Usage
		if u.Read != c.CachedTokens || u.Creation != c.CacheWriteTokens || u.Input+u.Read+u.Creation != c.PromptTokens || u.Output != c.OutputTokens {
			t.Fatalf("request %d: usage %+v, recorded %+v", i, u, c)
		}
		if (i == 0) != (u.Creation > 0) || (i == 1) != (u.Read > 0) {
			t.Fatalf("request %d: usage %+v, want a write then a read", i, u)
		}
	}
}

func TestRepairUsageJSON(t *testing.T) {
	t.Parallel()
	bad := []byte(`"rows":[],"total":{,"requests":0,"cost_usd":0.5}}`)
	var doc struct {
		Total UsageTotals `json:"total"`
	}
	if err := json.Unmarshal(RepairUsageJSON(bad), &doc); err != nil || doc.Total.CostUSD != 0.5 {
		t.Fatalf("repaired %s: %v %+v", RepairUsageJSON(bad), err, doc)
	}
	good := []byte(`{"rows":[],"total":{"requests":1}}`)
	if string(RepairUsageJSON(good)) != string(good) {
		t.Fatal("valid JSON changed")
	}
}

// TestFakeUsageGeminiDeepSeek checks that the Gemini fake answers
// generateContent and streamGenerateContent?alt=sse with usageMetadata
// (cachedContentTokenCount on a hit only, promptTokenCount including it:
// https://ai.google.dev/api/generate-content#UsageMetadata), and the
// DeepSeek fake Chat Completions with prompt_cache_hit_tokens +
// prompt_cache_miss_tokens = prompt_tokens
// (https://api-docs.deepseek.com/api/create-chat-completion).
func TestFakeUsageGeminiDeepSeek(t *testing.T) {
	up := startFakes(t)
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 300)
	client := &http.Client{Timeout: time.Minute}
	oa := []byte(`{"model":"gemini-2.5-flash","max_tokens":64,"messages":[{"role":"system","content":"` + long + `"},{"role":"user","content":"hi"}]}`)
	gb, err := ToGemini(oa)
	if err != nil {
		t.Fatal(err)
	}
	for i, method := range []string{":generateContent", ":streamGenerateContent?alt=sse"} {
		up.Begin(i, Epoch.Add(time.Duration(i)*time.Second))
		resp, b, err := post(client, up.GeminiURL+"/v1beta/models/gemini-2.5-flash"+method, gb, map[string]string{"x-goog-api-key": "k"})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %v: %v %s", resp, err, b)
		}
		stream := i == 1
		a, err := ParseGeminiAnswer(b, stream)
		if err != nil {
			t.Fatal(err)
		}
		last := b
		if stream {
			ev := strings.Split(strings.TrimSpace(string(b)), "\r\n\r\n")
			last = []byte(strings.TrimPrefix(ev[len(ev)-1], "data: "))
		}
		var m struct {
			Usage struct {
				Prompt, Cached, Candidates int
				Has                        bool
			}
		}
		var raw struct {
			UsageMetadata map[string]json.RawMessage `json:"usageMetadata"`
		}
		if err := json.Unmarshal(last, &raw); err != nil {
			t.Fatalf("%s: %v", last, err)
		}
		_ = json.Unmarshal(raw.UsageMetadata["promptTokenCount"], &m.Usage.Prompt)
		_ = json.Unmarshal(raw.UsageMetadata["candidatesTokenCount"], &m.Usage.Candidates)
		_, m.Usage.Has = raw.UsageMetadata["cachedContentTokenCount"]
		_ = json.Unmarshal(raw.UsageMetadata["cachedContentTokenCount"], &m.Usage.Cached)
		calls := up.Calls()
		c := calls[len(calls)-1]
		if m.Usage.Prompt != c.PromptTokens || m.Usage.Cached != c.CachedTokens || m.Usage.Candidates != c.OutputTokens || Diff(c.Answer, a) != "" {
			t.Fatalf("request %d: usage %+v answer %+v, recorded %+v", i, m.Usage, a, c)
		}
		if (i == 0) == m.Usage.Has || (i == 1 && c.CachedTokens == 0) {
			t.Fatalf("request %d: usage %+v: want a miss (no cachedContentTokenCount) then a hit", i, m.Usage)
		}
	}
	ds := []byte(strings.Replace(string(oa), "gemini-2.5-flash", "deepseek-chat", 1))
	for i := range 2 {
		up.Begin(10+i, Epoch.Add(time.Minute))
		resp, b, err := post(client, up.DeepSeekURL+"/chat/completions", ds, map[string]string{"Authorization": "Bearer k"})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %v: %v %s", resp, err, b)
		}
		var m struct {
			Usage struct {
				Prompt int `json:"prompt_tokens"`
				Hit    int `json:"prompt_cache_hit_tokens"`
				Miss   int `json:"prompt_cache_miss_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		calls := up.Calls()
		c := calls[len(calls)-1]
		u := m.Usage
		if u.Hit+u.Miss != u.Prompt || u.Prompt != c.PromptTokens || u.Hit != c.CachedTokens || (i == 0) != (u.Hit == 0) {
			t.Fatalf("request %d: usage %+v, recorded %+v; want a miss then a hit", i, u, c)
		}
	}
}

// TestFakeUsageHourTTL checks the Anthropic fake's 1-hour TTL on the wire
// (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching,
// "1-hour cache duration"): "ttl": "1h" writes an entry that a request 30
// minutes later reads, the usage splits the write in
// cache_creation.ephemeral_1h_input_tokens, and a 5-minute breakpoint
// before a 1-hour one is a 400.
func TestFakeUsageHourTTL(t *testing.T) {
	up := startFakes(t)
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 300)
	client := &http.Client{Timeout: time.Minute}
	hdr := map[string]string{"x-api-key": "k", "anthropic-version": "2023-06-01"}
	an := []byte(`{"model":"claude-sonnet-4-5","max_tokens":64,"system":[{"type":"text","text":"` + long + `","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":"hi"}]}`)
	for i, at := range []time.Duration{0, 30 * time.Minute} {
		up.Begin(i, Epoch.Add(at))
		resp, b, err := post(client, up.AnthropicURL+"/v1/messages", an, hdr)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %v: %v %s", resp, err, b)
		}
		var m struct {
			Usage struct {
				Creation int `json:"cache_creation_input_tokens"`
				Read     int `json:"cache_read_input_tokens"`
				Split    struct {
					Short int `json:"ephemeral_5m_input_tokens"`
					Hour  int `json:"ephemeral_1h_input_tokens"`
				} `json:"cache_creation"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		u := m.Usage
		calls := up.Calls()
		c := calls[len(calls)-1]
		if u.Split.Hour+u.Split.Short != u.Creation || u.Split.Hour != c.CacheWrite1hTokens {
			t.Fatalf("request %d: usage %+v, recorded %+v", i, u, c)
		}
		if i == 0 && (u.Split.Hour == 0 || u.Split.Short != 0) || i == 1 && (u.Read == 0 || u.Creation != 0) {
			t.Fatalf("request %d: usage %+v, want a 1-hour write, then a read 30 minutes later", i, u)
		}
	}
	bad := []byte(`{"model":"claude-sonnet-4-5","max_tokens":64,"system":[{"type":"text","text":"` + long + `","cache_control":{"type":"ephemeral"}}],` +
		`"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}}]}]}`)
	up.Begin(2, Epoch.Add(31*time.Minute))
	resp, b, err := post(client, up.AnthropicURL+"/v1/messages", bad, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Fatalf("5 minutes before 1 hour: status %d %s, want 400", resp.StatusCode, b)
	}
}
