package main

import (
	"bytes"
	"crypto/sha256"
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
			got := policytest.RunNative(t, "dedup", abi.StageRequest, c, nil, abi.ConfigureHandler(configure), onRequest)
			policytest.Golden(t, "testdata", c.Name, got)
		})
	}
}

// finalTexts runs dedup on in and returns every message's text afterwards.
func finalTexts(t testing.TB, in *wasm.Input) [][]byte {
	var out wasm.Output
	if st := wasm.RunNative("dedup", abi.StageRequest, nil, in, &out, onRequest); st != abi.StatusOK {
		t.Fatalf("dedup failed: %v %s", st, out.AppendText(nil))
	}
	texts := make([][]byte, len(in.Messages))
	for i := range in.Messages {
		texts[i] = in.Messages[i].Text
	}
	for _, m := range out.Messages() {
		if m.Orig >= 0 {
			texts[m.Orig] = m.Text
		}
	}
	return texts
}

// TestPrefixStable checks what keeps provider prompt caches hitting: dedup
// of the first k messages of a conversation gives exactly the first k
// results of dedup of the whole conversation, for every k, and the first
// message is never edited.
func TestPrefixStable(t *testing.T) {
	for _, c := range policytest.Cases(t, "testdata") {
		if len(c.Config) > 0 {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			if err := wasm.ConfigureNative(nil, abi.ConfigureHandler(configure)); err != nil {
				t.Fatal(err)
			}
			full := c.Input(t)
			want := finalTexts(t, full)
			if !bytes.Equal(want[0], full.Messages[0].Text) {
				t.Fatal("the first message was edited")
			}
			var req map[string]json.RawMessage
			if err := json.Unmarshal(c.Request, &req); err != nil {
				t.Fatal(err)
			}
			var msgs []json.RawMessage
			if err := json.Unmarshal(req["messages"], &msgs); err != nil {
				t.Fatal(err)
			}
			for k := 1; k < len(msgs); k++ {
				req["messages"], _ = json.Marshal(msgs[:k])
				c2 := c
				c2.Request, _ = json.Marshal(req)
				got := finalTexts(t, c2.Input(t))
				for i := 0; i < k; i++ {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("prefix of %d messages: message %d is\n%q\nalone but\n%q\nin the full conversation", k, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	defer configure(nil)
	tests := []struct {
		name, cfg, want string
		check           func(config) bool
	}{
		{"empty", ``, "", func(c config) bool { return c == defaultConfig() }},
		{"null", `null`, "", func(c config) bool { return c == defaultConfig() }},
		{"object", `{}`, "", func(c config) bool { return c == defaultConfig() }},
		{"all keys", `{"min_bytes": 64, "files": false, "tool_results": true}`, "",
			func(c config) bool { return c.minBytes == 64 && !c.files && c.toolResults }},
		{"negative", `{"min_bytes": -1}`, "min_bytes", nil},
		{"fraction", `{"min_bytes": 1.5}`, "min_bytes", nil},
		{"not bool", `{"files": "yes"}`, "files must be a boolean", nil},
		{"unknown key", `{"min_size": 10}`, `unknown config key "min_size"`, nil},
		{"not object", `[1]`, "JSON object", nil},
		{"invalid", `{"min_bytes":`, "JSON object", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configure(nil)
			got := configure([]byte(tt.cfg))
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("configure(%s) = %q, want %q", tt.cfg, got, tt.want)
			}
			if tt.check != nil && !tt.check(cfg) {
				t.Fatalf("configure(%s) gave %+v", tt.cfg, cfg)
			}
			if tt.want != "" && cfg != defaultConfig() {
				t.Fatalf("a refused config changed the settings: %+v", cfg)
			}
		})
	}
}

// blockStrings renders the blocks of text as "path|content" for tests.
func blockStrings(text string) []string {
	var out []string
	for _, b := range findBlocks([]byte(text), nil) {
		out = append(out, text[b.pStart:b.pEnd]+"|"+text[b.cStart:b.cEnd])
	}
	return out
}

func TestFindBlocks(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"continue", "```typescript /src/cart.ts (1-20)\nA\nB\n```\nwhy?", []string{"/src/cart.ts|A\nB"}},
		{"continue no range", "```go server/x.go\nA\n```", []string{"server/x.go|A"}},
		{"cursor lang:path", "```typescript:src/cart.ts\nA\n```", []string{"src/cart.ts|A"}},
		{"cursor citation", "```12:15:app/components/Todo.tsx\nA\n```", []string{"app/components/Todo.tsx|A"}},
		{"cursor path=", "```path=src/cart.ts, lines=1-27\nA\n```", []string{"src/cart.ts|A"}},
		{"title=", "```go title=\"main.go\"\nA\n```", []string{"main.go|A"}},
		{"bare path info", "```src/main.rs\nA\n```", []string{"src/main.rs|A"}},
		{"copilot comment", "```ts\n// filepath: src/x.ts\nA\n```", []string{"src/x.ts|// filepath: src/x.ts\nA"}},
		{"html comment", "```html\n<!-- filepath: web/index.html -->\nA\n```", []string{"web/index.html|<!-- filepath: web/index.html -->\nA"}},
		{"aider", "app.py\n```\nA\n```\n", []string{"app.py|A"}},
		{"File:", "File: money/util.py\n```python\nA\n```", []string{"money/util.py|A"}},
		{"bold File:", "**File:** money/util.py\n```python\nA\n```", []string{"money/util.py|A"}},
		{"heading", "### server/handler.go\n\n```go\nA\n```", []string{"server/handler.go|A"}},
		{"heading backticks", "#### `server/handler.go`\n```go\nA\n```", []string{"server/handler.go|A"}},
		{"backticks colon", "`path/to/file.py`:\n\n```python\nA\n```", []string{"path/to/file.py|A"}},
		{"file tag", "<file path=\"src/types.ts\">\n```ts\nA\n```\n</file>", []string{"src/types.ts|A"}},
		{"makefile", "Makefile\n```make\nA\n```", []string{"Makefile|A"}},
		{"cline", "x\n<file_content path=\"src/types.ts\">\nA\nB\n</file_content>\ny", []string{"src/types.ts|A\nB"}},
		{"cline final", "<final_file_content path=\"a/b.go\">\nA\n</final_file_content>", []string{"a/b.go|A"}},
		{"aider source fence", "app.py\n<source>\nA\n</source>\n", []string{"app.py|A"}},
		{"anthropic document", "<document index=\"1\">\n<source>docs/x.md</source>\n<document_content>\nA\n</document_content>\n</document>", []string{"docs/x.md|A"}},
		{"two blocks", "a.go\n```go\nA\n```\nb.go\n```go\nB\n```", []string{"a.go|A", "b.go|B"}},
		{"longer fence", "x.md\n````md\n```go\nA\n```\n````", []string{"x.md|```go\nA\n```"}},
		{"tilde", "x.py\n~~~python\nA\n~~~", []string{"x.py|A"}},
		{"empty content", "x.py\n```\n```", []string{"x.py|"}},
		{"crlf", "x.py\r\n```\r\nA\r\n```\r\n", []string{"x.py|A\r"}},

		{"no path", "```go\nA\n```", nil},
		{"prose before", "Here is the code:\n```go\nA\n```", nil},
		{"version is no path", "1.2.3\n```\nA\n```", nil},
		{"url is no path", "https://example.com/x.go\n```go\nA\n```", nil},
		{"lang only", "```python\nA\n```", nil},
		{"unclosed", "x.go\n```go\nA\n", nil},
		{"unclosed hides the rest", "```go\nA\nb.go\n```go\nB\n```", nil},
		{"inline code", "x.go\n```x```\nA\n```", nil},
		{"indented 4", "x.go\n    ```go\n    A\n    ```", nil},
		{"two blank lines", "x.go\n\n\n```go\nA\n```", nil},
		{"tag without path", "<file_content>\nA\n</file_content>", nil},
		{"tag unclosed", "<file_content path=\"a.go\">\nA\n", nil},
		{"directory", "src/\n```\nA\n```", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := blockStrings(tt.text)
			if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") {
				t.Fatalf("findBlocks(%q)\n got %q\nwant %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestPathish(t *testing.T) {
	for s, want := range map[string]bool{
		"main.go": true, "src/x": true, ".env": true, "a\\b\\c.cs": true, "C:\\src\\x.go": true,
		"Dockerfile": true, "__init__.py": true, "über/datei.txt": true, "x.tar.gz": true,
		"": false, "go": false, "1.2.3": false, "v1.2": false, "i.e.": false, "a b.go": false,
		"src/": false, "/": false, "http://x.io/a.go": false, "`x.go`": false, "x.go:": false,
		"(x.go)": false, "key=val.go": false, ".": false, "x.verylongextension": false,
		strings.Repeat("a", maxPathLen) + ".go": false, "\xff.go": false,
	} {
		if got := pathish([]byte(s)); got != want {
			t.Errorf("pathish(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestReference(t *testing.T) {
	sum := [4]byte{0x1a, 0x2b, 0x3c, 0x4d}
	got := string(appendRef(nil, []byte("src/a.go"), []byte("src/a.go"), sum, 2))
	if want := "[unchanged: src/a.go (sha256 1a2b3c4d…), identical to the copy in message 3]"; got != want {
		t.Fatalf("reference = %q, want %q", got, want)
	}
	got = string(appendRef(nil, []byte("tool output"), []byte("src/a.go"), sum, 0))
	if !strings.HasSuffix(got, "identical to src/a.go in message 1]") {
		t.Fatalf("reference = %q", got)
	}
}

// TestOnlyLaterCopies checks the edit rules on a conversation built in
// code: the first copy and assistant messages stay, later copies in user and
// tool messages become references, and a user's own words stay.
func TestOnlyLaterCopies(t *testing.T) {
	configure(nil)
	file := strings.Repeat("func f() {}\n", 60)
	block := "a.go\n```go\n" + file + "```"
	in := &wasm.Input{}
	in.AddMessage([]byte("user"), []byte("first:\n"+block), 0)
	in.AddMessage([]byte("assistant"), []byte("echo:\n"+block), 0)
	in.AddMessage([]byte("tool"), []byte(file), abi.MsgToolResult)
	in.AddMessage([]byte("user"), []byte("again:\n"+block+"\nthanks"), 0)
	in.AddMessage([]byte("user"), []byte("with an image:\n"+block), abi.MsgParts|abi.MsgImage)
	got := finalTexts(t, in)
	ref := "[unchanged: a.go (sha256 "
	for i, want := range []string{"first:\n" + block, "echo:\n" + block, "[unchanged: tool output", "again:\na.go\n" + ref, "with an image:\n" + block} {
		if !strings.HasPrefix(string(got[i]), want) {
			t.Errorf("message %d = %.80q…, want prefix %.80q", i, got[i], want)
		}
	}
	if !strings.HasSuffix(string(got[3]), "identical to the copy in message 1]\nthanks") {
		t.Errorf("message 3 = %q", got[3])
	}
	if !strings.Contains(string(got[2]), "identical to a.go in message 1]") {
		t.Errorf("message 2 = %q", got[2])
	}
}

func TestDisabled(t *testing.T) {
	defer configure(nil)
	file := strings.Repeat("line of a file\n", 60)
	in := &wasm.Input{}
	in.AddMessage([]byte("tool"), []byte(file), abi.MsgToolResult)
	in.AddMessage([]byte("tool"), []byte(file), abi.MsgToolResult)
	if configure([]byte(`{"tool_results": false}`)) != "" {
		t.Fatal("config refused")
	}
	var out wasm.Output
	wasm.RunNative("dedup", abi.StageRequest, nil, in, &out, onRequest)
	if len(out.Edits) != 0 {
		t.Fatalf("tool_results=false still edited: %s", out.AppendText(nil))
	}
}

// FuzzFindBlocks checks the detector's invariants on any bytes: blocks in
// order, without overlap, inside the text, the content inside the replaced
// range, and a path that passes pathish.
func FuzzFindBlocks(f *testing.F) {
	for _, s := range []string{
		"a.go\n```go\nx\n```\n",
		"```ts:src/x.ts\nA\n```",
		"```path=src/x.ts, lines=1-2\nA\n```",
		"<file_content path=\"a\">\nA\n</file_content>",
		"<document>\n<source>a.md</source>\n<document_content>\nA\n</document_content>",
		"### x/y\n\n~~~\nA\n~~~",
		"```ts\n// filepath: a/b.ts\nA\n```",
		"app.py\n<source>\nA\n</source>",
		"x.go\n```\n\xff\xfe\n```",
		"`a.go`:\n```\n````\n```",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		blocks := findBlocks(text, nil)
		prev := 0
		for _, b := range blocks {
			if !(prev <= b.start && b.start <= b.cStart && b.cStart <= b.cEnd && b.cEnd <= b.end && b.end <= len(text)) {
				t.Fatalf("bad block %+v (prev end %d, len %d) in %q", b, prev, len(text), text)
			}
			if b.pStart >= b.pEnd || b.pEnd > len(text) || b.pStart < 0 || !pathish(text[b.pStart:b.pEnd]) {
				t.Fatalf("bad path %+v in %q", b, text)
			}
			prev = b.end
		}
	})
}

// FuzzDedup checks that dedup never fails a request and never grows a
// message, whatever the bytes (invalid UTF-8 included).
func FuzzDedup(f *testing.F) {
	f.Add([]byte("a.go\n```go\n"+strings.Repeat("x", 40)+"\n```"), []byte("tail"))
	f.Add([]byte("<file_content path=\"a\">\n\x80"+strings.Repeat("y", 40)+"\n</file_content>"), []byte(""))
	f.Add([]byte("\xbf"+strings.Repeat("z", 40)), []byte("\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		defer configure(nil)
		if configure([]byte(`{"min_bytes": 8}`)) != "" {
			t.Fatal("config refused")
		}
		in := &wasm.Input{}
		in.AddMessage([]byte("user"), a, 0)
		in.AddMessage([]byte("tool"), a, abi.MsgToolResult)
		in.AddMessage([]byte("user"), append(append([]byte(nil), a...), b...), 0)
		for i, txt := range finalTexts(t, in) {
			if len(txt) > len(in.Messages[i].Text) {
				t.Fatalf("message %d grew: %q -> %q", i, in.Messages[i].Text, txt)
			}
		}
	})
}

// TestSum256 checks the built-in SHA-256 against crypto/sha256 on every
// length around the block and padding boundaries.
func TestSum256(t *testing.T) {
	data := make([]byte, 300)
	for i := range data {
		data[i] = byte(i*7 + 3)
	}
	for n := 0; n <= len(data); n++ {
		if got, want := sum256(data[:n]), sha256.Sum256(data[:n]); got != want {
			t.Fatalf("sum256 of %d bytes = %x, want %x", n, got, want)
		}
	}
}

func FuzzSum256(f *testing.F) {
	f.Add([]byte("abc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if sum256(b) != sha256.Sum256(b) {
			t.Fatalf("sum256(%x) differs from crypto/sha256", b)
		}
	})
}
