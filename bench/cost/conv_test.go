package cost

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func chatBody(msgs string) []byte {
	return []byte(`{"model":"m","max_tokens":100,"messages":[` + msgs + `]}`)
}

func ref(content, path string, msg int) string {
	h := sha256.Sum256([]byte(strings.TrimRight(content, "\n")))
	return "[unchanged: " + path + " (sha256 " + hex.EncodeToString(h[:4]) + "…), identical to the copy in message " + string(rune('0'+msg)) + "]"
}

// TestMeaning checks which rewrites the fake model reads past (the same
// answer) and which it does not (a different answer).
func TestMeaning(t *testing.T) {
	t.Parallel()
	const file = "package main\n\nfunc main() {\n\tprintln(\"hello, world\")\n}\n"
	const rules = "<custom_instructions>\nAlways answer in English and keep every answer short and to the point.\n</custom_instructions>"
	q := func(s string) string {
		return `"` + strings.NewReplacer(`"`, `\"`, "\n", `\n`, "\t", `\t`).Replace(s) + `"`
	}
	tests := []struct {
		name string
		a, b []byte
		same bool
	}{
		{"identical", chatBody(`{"role":"user","content":"hi"}`), chatBody(`{"role":"user","content":"hi"}`), true},
		{"string content or one text part", chatBody(`{"role":"user","content":"hi"}`), chatBody(`{"role":"user","content":[{"type":"text","text":"hi"}]}`), true},
		{"white space", chatBody(`{"role":"user","content":"fix  the\n\nbug"}`), chatBody(`{"role":"user","content":"fix the bug"}`), true},
		{"chat-template markers", chatBody(`{"role":"user","content":"<|im_start|>user\nfix the bug<|im_end|>\n<|im_start|>assistant\n"}`), chatBody(`{"role":"user","content":"fix the bug"}`), true},
		{"empty IDE tag", chatBody(`{"role":"user","content":"<linter_errors>\n</linter_errors>\nfix the bug"}`), chatBody(`{"role":"user","content":"fix the bug"}`), true},
		{"repeated instruction block", chatBody(`{"role":"user","content":` + q(rules+"\na") + `},{"role":"assistant","content":"ok"},{"role":"user","content":` + q(rules+"\nb") + `}`),
			chatBody(`{"role":"user","content":` + q(rules+"\na") + `},{"role":"assistant","content":"ok"},{"role":"user","content":"b"}`), true},
		{"first instruction block removed", chatBody(`{"role":"user","content":` + q(rules+"\na") + `}`), chatBody(`{"role":"user","content":"a"}`), false},
		{"a user's word removed", chatBody(`{"role":"user","content":"do not delete the file"}`), chatBody(`{"role":"user","content":"do delete the file"}`), false},
		{"tool result deduplicated", chatBody(`{"role":"tool","tool_call_id":"c1","content":` + q(file) + `},{"role":"tool","tool_call_id":"c2","content":` + q(file) + `}`),
			chatBody(`{"role":"tool","tool_call_id":"c1","content":` + q(file) + `},{"role":"tool","tool_call_id":"c2","content":` + q(ref(file, "tool output", 1)) + `}`), true},
		{"whole fence deduplicated", chatBody(`{"role":"user","content":` + q("```go main.go\n"+file+"```\nA") + `},{"role":"user","content":` + q("```go main.go\n"+file+"```\nB") + `}`),
			chatBody(`{"role":"user","content":` + q("```go main.go\n"+file+"```\nA") + `},{"role":"user","content":` + q(ref(file, "main.go", 1)+"\nB") + `}`), true},
		{"fence contents deduplicated", chatBody(`{"role":"user","content":` + q("```go main.go\n"+file+"```\nA") + `},{"role":"user","content":` + q("```go main.go\n"+file+"```\nB") + `}`),
			chatBody(`{"role":"user","content":` + q("```go main.go\n"+file+"```\nA") + `},{"role":"user","content":` + q("```go main.go\n"+ref(file, "main.go", 1)+"\n```\nB") + `}`), true},
		{"reference to a copy the request does not carry", chatBody(`{"role":"tool","tool_call_id":"c2","content":` + q(file) + `}`),
			chatBody(`{"role":"tool","tool_call_id":"c2","content":` + q(ref(file, "tool output", 1)) + `}`), false},
		{"max_tokens", chatBody(`{"role":"user","content":"hi"}`), []byte(`{"model":"m","max_tokens":101,"messages":[{"role":"user","content":"hi"}]}`), false},
		{"model and stream are not meaning", chatBody(`{"role":"user","content":"hi"}`), []byte(`{"model":"other","stream":true,"max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ca, da, err := Meaning(FormatOpenAI, tt.a)
			if err != nil {
				t.Fatal(err)
			}
			cb, db, err := Meaning(FormatOpenAI, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if (da == db) != tt.same {
				t.Fatalf("same meaning = %v, want %v; %s", da == db, tt.same, ConvDiff(ca, cb))
			}
			if (ConvDiff(ca, cb) == "") != tt.same {
				t.Fatalf("ConvDiff disagrees with the digests: %q", ConvDiff(ca, cb))
			}
		})
	}
}

// TestTranslationKeepsMeaning checks that the baseline's translation to
// Anthropic's format (with or without breakpoints) means what the
// OpenAI-format original means, for every OpenAI request of a trace.
func TestTranslationKeepsMeaning(t *testing.T) {
	t.Parallel()
	tr := Generate(5, SmallMix())
	n := 0
	for _, r := range tr.Requests {
		if r.Format != FormatOpenAI {
			continue
		}
		_, want, err := Meaning(FormatOpenAI, r.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, bp := range []bool{false, true} {
			ab, err := ToAnthropic(r.Body, "claude-sonnet-4-5", bp)
			if err != nil {
				t.Fatal(err)
			}
			if _, got, err := Meaning(FormatAnthropic, ab); err != nil || got != want {
				t.Fatalf("request %d (%s), breakpoints %v: translation changes the meaning (%v)", r.ID, r.Kind, bp, err)
			}
		}
		n++
	}
	if n == 0 {
		t.Fatal("no OpenAI-format request")
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	call := func(id, args string) Answer {
		return Answer{ToolCalls: []ToolCall{{ID: id, Name: "read_file", Args: args}}, Finish: "tool"}
	}
	tests := []struct {
		name      string
		want, got Answer
		same      bool
	}{
		{"equal text", Answer{Text: "a b", Finish: "stop"}, Answer{Text: "a b", Finish: "stop"}, true},
		{"other text", Answer{Text: "a b", Finish: "stop"}, Answer{Text: "a c", Finish: "stop"}, false},
		{"other finish", Answer{Text: "a", Finish: "stop"}, Answer{Text: "a", Finish: "length"}, false},
		{"arguments as JSON values", call("c1", `{"path":"a","n":1}`), call("c1", `{ "n": 1, "path": "a" }`), true},
		{"other arguments", call("c1", `{"path":"a"}`), call("c1", `{"path":"b"}`), false},
		{"other call id", call("c1", `{}`), call("c2", `{}`), false},
		{"missing call", call("c1", `{}`), Answer{Finish: "tool"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if d := Diff(tt.want, tt.got); (d == "") != tt.same {
				t.Fatalf("Diff = %q, want same = %v", d, tt.same)
			}
		})
	}
}

func TestAnswerForDeterministic(t *testing.T) {
	t.Parallel()
	c, d, err := Meaning(FormatOpenAI, chatBody(`{"role":"user","content":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	a, b := AnswerFor("openai", "gpt-4o", c, d), AnswerFor("openai", "gpt-4o", c, d)
	if Diff(a, b) != "" {
		t.Fatal("two answers to one request differ")
	}
	if Diff(a, AnswerFor("openai", "gpt-4o-mini", c, d)) == "" {
		t.Fatal("two models give the same answer")
	}
}
