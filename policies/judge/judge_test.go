package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/policies/internal/policytest"
	"github.com/aigateway/gateway/wasm"
)

// The handlers share package-level state (as one Wasm instance does), so
// these tests do not run in parallel.

func TestGolden(t *testing.T) {
	for _, c := range policytest.Cases(t, "testdata") {
		t.Run(c.Name, func(t *testing.T) {
			got := policytest.RunNative(t, "judge", abi.StageResponse, c, nil, abi.ConfigureHandler(configure), onResponse)
			policytest.Golden(t, "testdata", c.Name, got)
		})
	}
}

// chat returns an OpenAI chat.completion body answering content.
func chat(content, finish string) []byte {
	b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{
		"message": map[string]any{"role": "assistant", "content": content}, "finish_reason": finish}}})
	return b
}

// TestJudgeTable is the (request, response) -> verdict table, run through
// the ABI in-process.
func TestJudgeTable(t *testing.T) {
	configure(nil)
	long := "TCP splits a byte stream into segments, numbers every byte, and acknowledges what arrived. " +
		"Lost segments are retransmitted after a timeout or three duplicate acknowledgements. " +
		"Flow control keeps a fast sender from overrunning a slow receiver with a sliding window, " +
		"and congestion control backs off when the network drops packets. The price is latency: " +
		"a handshake before the first byte, and head-of-line blocking when one segment is lost."
	code := "```go\nfunc add(a, b int) int { return a + b }\n```"
	tests := []struct {
		name, request, response string
		flags                   uint64
		escalate                bool
		rule                    string
	}{
		// Refusals: only in the first 200 characters, only in prose.
		{"hard refusal", "Explain TCP.", "I cannot help with that.", 0, true, ruleRefusal},
		{"apology refusal", "Explain TCP.", "Sorry, but I can't do this.", 0, true, ruleRefusal},
		{"refusal case-insensitive", "Explain TCP.", "I CAN'T HELP with networking questions.", 0, true, ruleRefusal},
		{"refusal after 200 chars", "Explain TCP.", long + " I can't help with UDP.", 0, false, ruleOK},
		{"refusal inside code", "Explain TCP.", "```\necho \"I can't help\"\n```\nThat line prints a message.", 0, false, ruleOK},
		{"soft refusal short", "Who wrote zstd?", "I'm not sure.", 0, true, ruleRefusal},
		{"soft refusal with code", "Sum two ints in Go?", "I'm not sure this is idiomatic:\n" + code, 0, false, ruleOK},
		{"soft refusal long", "Explain TCP.", "I'm not sure how deep you want to go. " + long, 0, false, ruleOK},
		{"soft refusal asking back", "Fix my build.", "I'm not sure what you mean. Which build tool do you use?", 0, false, ruleClarifying},

		// Empty and short.
		{"empty", "Explain TCP.", "", 0, true, ruleEmpty},
		{"one char is an answer", "2+2?", "4", 0, false, ruleOK},

		// Code requests.
		{"write a function", "Write a function that adds two ints.", "Use the plus operator on both arguments.", 0, true, ruleNoCode},
		{"write a function answered", "Write a function that adds two ints.", code, 0, false, ruleOK},
		{"implement handler", "Please implement the login handler.", "Sure, it checks the password.", 0, true, ruleNoCode},
		{"give me a script", "Give me a bash script to back up /etc.", "Use tar and cron.", 0, true, ruleNoCode},
		{"convert to rust", "Convert this to Rust:\n```python\nprint(1)\n```", "Rust has println!.", 0, true, ruleNoCode},
		{"write in python", "Can you write it in Python?", "Python would do this well.", 0, true, ruleNoCode},
		{"indented code counts", "Write a function that adds two ints.", "Here:\n\n    func add(a, b int) int {\n        return a + b\n    }", 0, false, ruleOK},
		{"question about code", "Why does this function return nil?", "Because the map is empty.", 0, false, ruleOK},
		{"fix is not write", "Fix the bug in main.go", "The loop variable is captured; copy it first.", 0, false, ruleOK},
		{"explain how to write", "Explain how to write a unit test in Go.", "Name it TestX and take *testing.T.", 0, false, ruleOK},
		{"do not write code", "Don't write code, just describe the approach for the parser.", "Tokenise, then parse recursively.", 0, false, ruleOK},
		{"no code please", "Create a plan for the migration, no code.", "First back up, then migrate.", 0, false, ruleOK},
		{"blog post is not code", "Write a blog post about Python.", "Python turns 35 this year.", 0, false, ruleOK},
		{"code in the request only", "```go\nfunc write() {}\n```\nWhat is this?", "A function stub.", 0, false, ruleOK},
		{"clarifying question", "Write a function to sort the records.", "Which language do you use?", 0, false, ruleClarifying},
		{"tools defined", "Write a function that adds two ints.", "Done: I added it to math.go.", abi.FlagTools, false, ruleOK},
		{"json mode", "Write a function spec as JSON.", `{"name":"add"}`, abi.FlagJSON, false, ruleOK},

		// Repetition: prose loops escalate, code repeats do not.
		{"sentence loop", "Explain TCP.", strings.Repeat("TCP is a reliable transport protocol. ", 3), 0, true, ruleRepetition},
		{"line loop", "Explain TCP.", strings.Repeat("- TCP retransmits lost segments\n", 3), 0, true, ruleRepetition},
		{"word loop", "Explain TCP.", "TCP is very very very very reliable.", 0, true, ruleRepetition},
		{"phrase loop", "Explain TCP.", "It is and then and then and then done.", 0, false, ruleOK},
		{"longer phrase loop", "Explain TCP.", "It keeps sending packets sending packets sending packets forever.", 0, true, ruleRepetition},
		{"short words repeat", "Laugh.", "ha ha ha ha ha", 0, false, ruleOK},
		{"repeated lines in code", "Print tick thrice without a loop.", "```go\nfmt.Println(\"tick tock tick\")\nfmt.Println(\"tick tock tick\")\nfmt.Println(\"tick tock tick\")\nfmt.Println(\"tick tock tick\")\n```", 0, false, ruleOK},
		{"common phrase thrice is fine", "Explain the design.", "In the code, errors wrap. In the code, logs are structured. In the code, tests are tables.", 0, false, ruleOK},
		{"twice is fine", "Explain TCP.", strings.Repeat("TCP is a reliable transport protocol. ", 2), 0, false, ruleOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &wasm.Input{Flags: tt.flags, Response: chat(tt.response, "stop")}
			in.AddMessage([]byte("user"), []byte(tt.request), 0)
			var out wasm.Output
			if st := wasm.RunNative("judge", abi.StageResponse, nil, in, &out, onResponse); st != abi.StatusOK || !out.Verdict.Set {
				t.Fatalf("no verdict: %v %s", st, out.AppendText(nil))
			}
			rule := string(out.TagValue("judge.rule"))
			if out.Verdict.Escalate != tt.escalate || rule != tt.rule {
				t.Fatalf("verdict escalate=%v rule=%s (%s), want escalate=%v rule=%s",
					out.Verdict.Escalate, rule, out.Verdict.Reason, tt.escalate, tt.rule)
			}
			if s := out.Verdict.Score; s < 0 || s > 1000 || (tt.escalate && s >= scoreAccept) || (!tt.escalate && s < scoreAccept) {
				t.Fatalf("score %d does not match escalate=%v", s, tt.escalate)
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name, body, text string
		tool, trunc, ref bool
	}{
		{"openai", `{"choices":[{"message":{"content":"hi \"there\"\n"},"finish_reason":"stop"}]}`, "hi \"there\"\n", false, false, false},
		{"openai parts", `{"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"text","text":"b\u00e9"}]}}]}`, "a\nbé", false, false, false},
		{"openai escapes twice", `{"choices":[{"message":{"content":"x\ty"}},{"message":{"content":"second choice"}}]}`, "x\ty", false, false, false},
		{"openai length", `{"choices":[{"message":{"content":"cut"},"finish_reason":"length"}]}`, "cut", false, true, false},
		{"openai filter", `{"choices":[{"message":{"content":""},"finish_reason":"content_filter"}]}`, "", false, false, true},
		{"openai tool", `{"choices":[{"message":{"content":null,"tool_calls":[{"id":"1"}]}}]}`, "", true, false, false},
		{"openai empty tool list", `{"choices":[{"message":{"content":"x","tool_calls":[]}}]}`, "x", false, false, false},
		{"legacy text", `{"choices":[{"text":"old"}]}`, "old", false, false, false},
		{"anthropic", `{"content":[{"type":"text","text":"a"},{"type":"tool_use","id":"t"}],"stop_reason":"tool_use"}`, "a", true, false, false},
		{"anthropic refusal", `{"content":[],"stop_reason":"refusal"}`, "", false, false, true},
		{"gemini", `{"candidates":[{"content":{"parts":[{"text":"g"}]},"finishReason":"MAX_TOKENS"}]}`, "g", false, true, false},
		{"gemini safety", `{"candidates":[{"content":{"parts":[]},"finishReason":"SAFETY"}]}`, "", false, false, true},
		{"gemini function", `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]}`, "", true, false, false},
		{"ollama", `{"message":{"role":"assistant","content":"o"},"done_reason":"length"}`, "o", false, true, false},
		{"plain text", `just text`, "just text", false, false, false},
		{"invalid json", `{"choices":[`, `{"choices":[`, false, false, false},
	}
	var scratch []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a answer
			parseResponse([]byte(tt.body), &a, &scratch)
			if string(a.text) != tt.text || a.toolCalls != tt.tool || a.truncated != tt.trunc || a.refusal != tt.ref {
				t.Fatalf("got text=%q tool=%v trunc=%v refusal=%v", a.text, a.toolCalls, a.truncated, a.refusal)
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	defer configure(nil)
	tests := []struct{ cfg, want string }{
		{``, ""},
		{`{}`, ""},
		{`{"min_chars": 10, "require_code_for_code_requests": false, "extra_refusals": ["Nope, I Won't"]}`, ""},
		{`{"min_chars": -1}`, "min_chars"},
		{`{"require_code_for_code_requests": 1}`, "must be a boolean"},
		{`{"extra_refusals": "x"}`, "array"},
		{`{"extra_refusals": [""]}`, "non-empty"},
		{`{"extra_refusals": [3]}`, "non-empty"},
		{`{"extra_refusals": ["` + strings.Repeat("x", 121) + `"]}`, "at most 120"},
		{`{"extra_refusals": [` + strings.Repeat(`"x",`, 64) + `"y"]}`, "at most 64"},
		{`{"strict": true}`, `unknown config key "strict"`},
		{`[]`, "JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg, func(t *testing.T) {
			configure(nil)
			got := configure([]byte(tt.cfg))
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("configure(%s) = %q, want %q", tt.cfg, got, tt.want)
			}
		})
	}
	if configure([]byte(`{"extra_refusals": ["Nope, I Won't"]}`)) != "" {
		t.Fatal("refused")
	}
	if id := refusal([]byte("nope, i won\u2019t do it")); id < 0 || cfg.phrase[id] != "nope, i won't" {
		t.Fatalf("extra refusal (curly quote) not matched: %d", id)
	}
}

// FuzzJudge checks that any response body gets a valid verdict and never
// fails the call.
func FuzzJudge(f *testing.F) {
	f.Add([]byte(`{"choices":[{"message":{"content":"I can't help"}}]}`), []byte("Write a function"))
	f.Add([]byte(`{"content":[{"type":"text","text":"a a a a"}]}`), []byte(""))
	f.Add([]byte("```\nx\n```\n\xff\xfe"), []byte("write code"))
	f.Fuzz(func(t *testing.T, body, request []byte) {
		configure(nil)
		in := &wasm.Input{Response: body}
		in.AddMessage([]byte("user"), request, 0)
		var out wasm.Output
		if st := wasm.RunNative("judge", abi.StageResponse, nil, in, &out, onResponse); st != abi.StatusOK || !out.Verdict.Set {
			t.Fatalf("no verdict for %q: %v %s", body, st, out.AppendText(nil))
		}
	})
}

func TestHasCode(t *testing.T) {
	for text, want := range map[string]bool{
		"```go\nx\n```": true,
		"  ~~~\nx":      true,
		"Here:\n\n    a := 1\n    b := 2\n    c := 3": true,
		"def f():\n    return 1\nclass A:\n    pass":  true,
		"SELECT id FROM t;\nSELECT 2;":                true,
		"Use `x := 1` inline.":                        false,
		"Select the file.\nSelect Save.":              false,
		"Import the module.\nImport the data.":        false,
		"    one indented line":                       false,
	} {
		if got := hasCode([]byte(text)); got != want {
			t.Errorf("hasCode(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestIsClarifying(t *testing.T) {
	for text, want := range map[string]bool{
		"Which language do you use?":                        true,
		"Could you clarify the input format.":               true,
		"Do you want me to add tests? **":                   true,
		"Done. The function is in math.go.":                 false,
		"```go\nx := f() // why?\n```\nThat is the answer.": false,
	} {
		if got := isClarifying([]byte(text)); got != want {
			t.Errorf("isClarifying(%q) = %v, want %v", text, got, want)
		}
	}
}
