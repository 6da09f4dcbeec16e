package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
	"github.com/aigateway/gateway/providers/upstream"
)

// Placement follows https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching:
// at most 4 breakpoints, the prefix order tools → system → messages, a
// per-model minimum cacheable length.

// insertedTexts are the only byte sequences placement may add.
var insertedTexts = []string{ccMemberComma, ccMember, ccWrapOpen, ccWrapClose}

// onlyInserted reports whether out is in with at most n of insertedTexts
// inserted and no other byte changed, moved or removed. It searches every
// decomposition (backtracking, with failed states memoised so that inputs
// repeating the client's own members stay polynomial), so it does not
// trust the offsets the code under test computed.
func onlyInserted(in, out []byte, n int) bool {
	failed := map[[3]int]bool{}
	var rec func(i, j, k int) bool
	rec = func(i, j, k int) bool {
		for {
			if j == len(out) {
				return i == len(in)
			}
			if k > 0 {
				for _, s := range insertedTexts {
					if !bytes.HasPrefix(out[j:], []byte(s)) {
						continue
					}
					st := [3]int{i, j + len(s), k - 1}
					if failed[st] {
						continue
					}
					if rec(st[0], st[1], st[2]) {
						return true
					}
					failed[st] = true
				}
			}
			if i < len(in) && in[i] == out[j] {
				i++
				j++
				continue
			}
			return false
		}
	}
	return rec(0, 0, n)
}

// listing renders the breakpoints of a body, each marked as the client's or
// added, for the .breakpoints golden files.
func listing(before, after []string) []byte {
	var b strings.Builder
	if len(after) == 0 {
		b.WriteString("(none)\n")
	}
	for _, p := range after {
		who := "added"
		if slices.Contains(before, p) {
			who = "client"
		}
		b.WriteString(p + "\t" + who + "\n")
	}
	return []byte(b.String())
}

// checkPlacement asserts the invariants every placement keeps.
func checkPlacement(t *testing.T, in, out []byte, added int) (before, after []string) {
	t.Helper()
	if !jsonValid(out) {
		t.Fatalf("output is not valid JSON: %s", out)
	}
	before, after = providertest.AnthropicBreakpoints(in), providertest.AnthropicBreakpoints(out)
	if len(after) > MaxBreakpoints && added > 0 {
		t.Errorf("%d breakpoints in total: %v", len(after), after)
	}
	if len(after) != len(before)+added {
		t.Errorf("added %d, but breakpoints went from %v to %v", added, before, after)
	}
	for _, p := range before {
		if !slices.Contains(after, p) {
			t.Errorf("client breakpoint %s moved or lost: %v", p, after)
		}
	}
	if !onlyInserted(in, out, 2*added) {
		t.Errorf("output differs from the input by more than the inserted members")
	}
	return before, after
}

// TestCacheControlGolden: OpenAI request in → Anthropic request with
// breakpoints out, and where they went.
func TestCacheControlGolden(t *testing.T) {
	t.Parallel()
	tbl := newMinTable(nil)
	for name, path := range inputs(t, "cachecontrol", ".in.json") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := decode(t, in)
			defer providers.ReleaseRequest(r)
			call := testCall(r)
			if r.Model != "" {
				call.Model = r.Model
			}
			plain, _, err := appendRequest(nil, call)
			if err != nil {
				t.Fatal(err)
			}
			out, added := addBreakpoints(append([]byte(nil), plain...), call.Model, tbl, false)
			before, after := checkPlacement(t, plain, out, added)
			if RequestHasBreakpoints(r) != (len(before) > 0) {
				t.Errorf("RequestHasBreakpoints = %v with client breakpoints %v", !(len(before) > 0), before)
			}
			base := strings.TrimSuffix(path, ".in.json")
			golden(t, base+".golden.json", indent(t, out))
			golden(t, base+".breakpoints.golden.txt", listing(before, after))
		})
	}
}

// TestCacheControlPassthroughGolden: an Anthropic client's body in →
// upstream body out, byte for byte except the inserted members.
func TestCacheControlPassthroughGolden(t *testing.T) {
	t.Parallel()
	tbl := newMinTable(nil)
	for name, path := range inputs(t, "cachecontrol_passthrough", ".in.json") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := AppendWithModel(nil, in, "")
			if err != nil {
				t.Fatal(err)
			}
			out, added := addBreakpoints(append([]byte(nil), body...), "", tbl, true)
			before, after := checkPlacement(t, in, out, added)
			if HasBreakpoints(in) != (len(before) > 0) {
				t.Errorf("HasBreakpoints disagrees with %v", before)
			}
			if len(before) > 0 && !bytes.Equal(out, in) {
				t.Errorf("a body with the client's own breakpoints changed")
			}
			base := strings.TrimSuffix(path, ".in.json")
			golden(t, base+".golden.json", out)
			golden(t, base+".breakpoints.golden.txt", listing(before, after))
		})
	}
}

// TestCacheControlRules covers the rules one at a time, with the minimum
// set to 0 where it is not under test.
func TestCacheControlRules(t *testing.T) {
	t.Parallel()
	anyLen := minTable{{"", 0}}
	long := strings.Repeat("x", 8000)
	tests := []struct {
		name       string
		body       string
		table      minTable
		onlyIfNone bool
		want       []string
	}{
		{"one shot gets no conversation breakpoint",
			`{"system":"s","messages":[{"role":"user","content":"hi"}]}`, anyLen, false, []string{"system[0]"}},
		{"the final and previous user turns",
			`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`, anyLen, false,
			[]string{"messages[0].content[0]", "messages[2].content[0]"}},
		{"assistant prefill: the user turn before it",
			`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"assistant","content":"{"}]}`, anyLen, false,
			[]string{"messages[0].content[0]", "messages[2].content[0]"}},
		{"consecutive user messages: the last one",
			`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"user","content":[{"type":"text","text":"d"}]}]}`, anyLen, false,
			[]string{"messages[0].content[0]", "messages[3].content[0]"}},
		{"thinking and empty text are skipped",
			`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":[{"type":"text","text":"c"},{"type":"text","text":""},{"type":"thinking","thinking":"t"}]}]}`, anyLen, false,
			[]string{"messages[0].content[0]", "messages[2].content[0]"}},
		{"an empty tool object",
			`{"tools":[{}],"messages":[{"role":"user","content":"a"}]}`, anyLen, false, []string{"tools[0]"}},
		{"cache_control null is neither counted nor overwritten",
			`{"tools":[{"name":"f","cache_control":null}],"system":[{"type":"text","text":"s","cache_control":null}],"messages":[{"role":"user","content":"a"}]}`, anyLen, false, nil},
		{"more than four client breakpoints: none added",
			`{"tools":[{"name":"f","cache_control":{"type":"ephemeral"}},{"name":"g","cache_control":{"type":"ephemeral"}}],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}},{"type":"text","text":"t","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`, anyLen, false,
			[]string{"tools[0]", "tools[1]", "system[0]", "system[1]", "messages[0].content[0]"}},
		{"nested tool_result breakpoints count",
			`{"system":"s","messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r","cache_control":{"type":"ephemeral"}}]}]}]}`, anyLen, true,
			[]string{"messages[2].content[0].content[0]"}},
		{"passthrough with a top-level cache_control: untouched",
			`{"cache_control":{"type":"ephemeral"},"system":"s","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`, anyLen, true,
			[]string{"cache_control"}},
		{"a client 1h breakpoint: ours only after it",
			`{"tools":[{"name":"f"}],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"1h"}}],"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`, anyLen, false,
			[]string{"system[0]", "messages[0].content[0]", "messages[2].content[0]"}},
		{"a client 5m ttl does not restrict",
			`{"tools":[{"name":"f"}],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral","ttl":"5m"}}],"messages":[{"role":"user","content":"a"}]}`, anyLen, false,
			[]string{"tools[0]", "system[0]"}},
		{"below the minimum: nothing",
			`{"model":"claude-sonnet-4-20250514","system":"` + strings.Repeat("y", 4000) + `","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`, newMinTable(nil), false, nil},
		{"the minimum counts tools, system and messages before the breakpoint",
			`{"model":"claude-sonnet-4-20250514","tools":[{"name":"f","description":"` + long[:3600] + `"}],"system":"` + long[:1000] + `","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`, newMinTable(nil), false,
			[]string{"system[0]", "messages[0].content[0]", "messages[2].content[0]"}},
		{"haiku needs 2048 tokens",
			`{"model":"claude-3-5-haiku-20241022","system":"` + long[:6000] + `","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"` + long[:3000] + `"}]}`, newMinTable(nil), false,
			[]string{"messages[2].content[0]"}},
		{"image data does not count toward the minimum",
			`{"model":"claude-sonnet-4-20250514","system":"s","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + long + `"}}]},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`, newMinTable(nil), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.body)
			if !jsonValid(in) {
				t.Fatalf("bad test body")
			}
			out, added := addBreakpoints(append([]byte(nil), in...), "", tt.table, tt.onlyIfNone)
			_, after := checkPlacement(t, in, out, added)
			if !slices.Equal(after, tt.want) {
				t.Errorf("breakpoints %v, want %v\n%s", after, tt.want, out)
			}
		})
	}
}

func TestMinCacheTokens(t *testing.T) {
	t.Parallel()
	p, err := New(Config{CacheMinTokens: map[string]int{"claude-sonnet-4-5": 2048, "claude-3-haiku": 1024}})
	if err != nil {
		t.Fatal(err)
	}
	for model, want := range map[string]int{
		"claude-sonnet-4-20250514":   1024,
		"claude-sonnet-4-5-20250929": 2048, // override
		"claude-opus-4-1-20250805":   1024,
		"claude-opus-4-5-20251101":   4096,
		"claude-3-5-haiku-20241022":  2048,
		"claude-3-haiku-20240307":    1024, // override
		"claude-haiku-4-5-20251001":  4096,
		"claude-haiku-9":             2048, // unknown haiku
		"claude-unknown":             1024,
	} {
		if got := p.MinCacheTokens(model); got != want {
			t.Errorf("MinCacheTokens(%q) = %d, want %d", model, got, want)
		}
	}
}

// TestCacheControlNextTurnReads: over an agent loop, each turn's previous-
// turn breakpoint sits exactly where the turn before put its final one, so
// the entry it wrote is read whatever the number of blocks in between.
func TestCacheControlNextTurnReads(t *testing.T) {
	t.Parallel()
	sys := strings.Repeat("Follow the house style. ", 300)
	msgs := []string{`{"role":"system","content":"` + sys + `"}`, `{"role":"user","content":"Fix the failing tests."}`}
	var prevFinal string
	for turn := range 6 {
		body := `{"model":"claude-sonnet-4-20250514","messages":[` + strings.Join(msgs, ",") + `],"tools":` + weatherTool + `}`
		r := decode(t, []byte(body))
		call := testCall(r)
		plain, _, err := appendRequest(nil, call)
		if err != nil {
			t.Fatal(err)
		}
		out, added := addBreakpoints(append([]byte(nil), plain...), call.Model, newMinTable(nil), false)
		providers.ReleaseRequest(r)
		_, after := checkPlacement(t, plain, out, added)
		if turn > 0 && !slices.Contains(after, prevFinal) {
			t.Fatalf("turn %d: breakpoints %v do not include the previous final %s", turn, after, prevFinal)
		}
		prevFinal = after[len(after)-1] // prompt order: the final one is last
		// The model calls many tools in parallel: more blocks than
		// Anthropic's ~20-block look-back between two turns.
		var calls, results []string
		for i := range 12 {
			id := "call_" + string(rune('a'+turn)) + string(rune('a'+i))
			calls = append(calls, `{"id":"`+id+`","type":"function","function":{"name":"get_weather","arguments":"{}"}}`)
			results = append(results, `{"role":"tool","tool_call_id":"`+id+`","content":"sunny"}`)
		}
		msgs = append(msgs, `{"role":"assistant","tool_calls":[`+strings.Join(calls, ",")+`]}`)
		msgs = append(msgs, results...)
	}
}

// TestCacheControlE2E: the fake upstream receives the breakpoints on both
// paths, and cache reads and writes land in the usage, streaming or not.
func TestCacheControlE2E(t *testing.T) {
	t.Parallel()
	sys := strings.Repeat("You review Go code for the gateway. ", 150)
	openAI := `{"model":"claude-sonnet-4-20250514","messages":[{"role":"system","content":"` + sys + `"},` +
		`{"role":"user","content":"Review engine/chat.go."},{"role":"assistant","content":"It looks fine."},{"role":"user","content":"And engine/usage.go?"}],"tools":` + weatherTool + `%s}`
	passBody := `{"model":"claude-sonnet-4-20250514","max_tokens":100,"system":"` + sys + `",` +
		`"messages":[{"role":"user","content":"Review engine/chat.go."},{"role":"assistant","content":"It looks fine."},{"role":"user","content":"And engine/usage.go?"}]%s}`
	// The tool alone is under the minimum: no breakpoint of its own.
	wantChat := []string{"system[0]", "messages[0].content[0]", "messages[2].content[0]"}
	wantPass := []string{"system[0]", "messages[0].content[0]", "messages[2].content[0]"}
	for _, on := range []bool{true, false} {
		for _, stream := range []bool{false, true} {
			name := map[bool]string{false: "off", true: "on"}[on] + "/" + map[bool]string{false: "non-streaming", true: "streaming"}[stream]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				a := &providertest.Anthropic{Reply: "Looks fine too.", APIKey: testKey, InputTokens: 12, CacheRead: 1400, CacheCreation: 300}
				srv, err := providertest.StartAnthropic(a)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = srv.Close() })
				p, err := New(Config{BaseURL: srv.URL, APIKey: testKey, Timeout: 10 * time.Second, CacheControl: on,
					Options: upstream.Options{IdleTimeout: 10 * time.Second}})
				if err != nil {
					t.Fatal(err)
				}
				extra := ""
				if stream {
					extra = `,"stream":true`
				}
				wantUsage := providers.Usage{PromptTokens: 12 + 1400 + 300, CompletionTokens: 3, CachedTokens: 1400, CacheWriteTokens: 300, Set: true}

				// Translated: OpenAI in.
				r := decode(t, []byte(strings.Replace(openAI, "%s", extra, 1)))
				defer providers.ReleaseRequest(r)
				r.IncludeUsage = true
				resp, err := p.Chat(context.Background(), testCall(r))
				if err != nil {
					t.Fatal(err)
				}
				var u providers.Usage
				if stream {
					c := accumulate(t, resp.Stream)
					u = resp.Stream.Usage()
					if c.Usage == nil || c.Usage.Details.Cached != 1400 {
						t.Errorf("client usage chunk %+v", c.Usage)
					}
				} else {
					u = resp.Usage
				}
				resp.Close()
				if u != wantUsage {
					t.Errorf("Chat usage %+v, want %+v", u, wantUsage)
				}
				got := providertest.AnthropicBreakpoints(srv.Last().Body)
				if want := wantChat; !on && got != nil || on && !slices.Equal(got, want) {
					t.Errorf("upstream breakpoints %v (cache control %v), want %v", got, on, want)
				}

				// Passthrough: Anthropic in.
				in := []byte(strings.Replace(passBody, "%s", extra, 1))
				resp, err = p.Messages(context.Background(), in, "", headers{}, nil, stream)
				if err != nil {
					t.Fatal(err)
				}
				if stream {
					drain(t, resp.Stream)
					u = resp.Stream.Usage()
				} else {
					u = resp.Usage
				}
				resp.Close()
				if u != wantUsage {
					t.Errorf("Messages usage %+v, want %+v", u, wantUsage)
				}
				up := srv.Last().Body
				got = providertest.AnthropicBreakpoints(up)
				if !on {
					if !bytes.Equal(up, in) {
						t.Errorf("passthrough changed the body with cache control off")
					}
				} else if !slices.Equal(got, wantPass) || !onlyInserted(in, up, 2*len(wantPass)) {
					t.Errorf("upstream breakpoints %v, want %v:\n%s", got, wantPass, up)
				}

				// count_tokens is never changed.
				resp, err = p.CountTokens(context.Background(), in, "", headers{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Close()
				if !bytes.Equal(srv.Last().Body, in) {
					t.Errorf("count_tokens body changed")
				}
			})
		}
	}
}

// TestWithCacheControl: the copy differs only in the switch.
func TestWithCacheControl(t *testing.T) {
	t.Parallel()
	p, err := New(Config{CacheControl: true})
	if err != nil {
		t.Fatal(err)
	}
	q := p.WithCacheControl(false)
	if !p.cfg.CacheControl || q.cfg.CacheControl || q.client != p.client || q.Name() != p.Name() {
		t.Errorf("WithCacheControl: %+v from %+v", q.cfg, p.cfg)
	}
}

// FuzzCacheControl: on any body the passthrough accepts, placement yields
// valid JSON that differs from the input only by inserted members, and no
// input, valid or not, makes the scanner panic.
func FuzzCacheControl(f *testing.F) {
	addFiles(f, "testdata/cachecontrol_passthrough/*.in.json")
	f.Add([]byte(`{"tools":[{}],"system":"s","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":[{"type":"text","text":"c"}]}]}`))
	f.Add([]byte(`{"messages":[{"role":"user","content":[{"type":"tool_result","content":[{"type":"text","text":"x","cache_control":{"ttl":"1h"}}]}]}]}`))
	anyLen := minTable{{"", 0}}
	f.Fuzz(func(t *testing.T, body []byte) {
		// Arbitrary bytes straight into the scanner: no panic.
		_, _ = addBreakpoints(append([]byte(nil), body...), "", anyLen, false)
		b, err := AppendWithModel(nil, body, "")
		if err != nil {
			return
		}
		for _, onlyIfNone := range []bool{false, true} {
			out, added := addBreakpoints(append([]byte(nil), b...), "", anyLen, onlyIfNone)
			if !json.Valid(out) {
				t.Fatalf("invalid JSON out:\n%s\nfrom\n%s", out, b)
			}
			if added > MaxBreakpoints {
				t.Fatalf("added %d breakpoints", added)
			}
			if !onlyInserted(b, out, 2*added) {
				t.Fatalf("more than the inserted members changed:\n%s\nfrom\n%s", out, b)
			}
		}
	})
}
