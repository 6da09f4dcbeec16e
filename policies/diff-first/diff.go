package main

import (
	"bytes"

	"github.com/aigateway/gateway/abi"
)

// defaultRule is the seed's diff-first policy, reworded.
const defaultRule = `Editing policy: when you change code, answer with a unified diff (a ` + "```diff" + ` block with --- a/PATH and +++ b/PATH headers and @@ hunks) that covers only the lines that change, not the whole file. Keep patches minimal and do not reformat untouched code. If you need a file you have not seen, ask for it or read it with a tool instead of guessing. Never paste a large file back in full.`

var (
	rule      = []byte(defaultRule)
	separator = []byte("\n\n")
	roleSys   = []byte("system")
	tagKey    = []byte("diff_first")
	tagVal    = []byte("applied")
)

func configure(cfg []byte) string {
	rule = []byte(defaultRule)
	if len(cfg) == 0 || string(cfg) == "null" {
		return ""
	}
	if !abi.JSONValid(cfg) || cfg[0] != '{' {
		return "config must be a JSON object"
	}
	if v := abi.JSONGet(cfg, "rule"); v != nil {
		s, _, ok := abi.JSONUnquote(v, nil)
		if !ok || len(s) == 0 || len(s) > 8<<10 {
			return "rule must be a non-empty string of at most 8 KiB"
		}
		rule = append([]byte(nil), s...)
	}
	return ""
}

// Edit intent: a change verb together with a code signal, in one user
// message.
var (
	verbs = abi.NewMatcher("fix", "change", "modify", "edit", "update", "refactor", "rename",
		"rewrite", "implement", "add ", "remove", "delete", "replace", "patch", "apply",
		"make it", "convert", "migrate", "optimize", "optimise")
	codeSignals = abi.NewMatcher("```", ".go", ".py", ".js", ".ts", ".tsx", ".jsx", ".rs",
		".java", ".c", ".cpp", ".h", ".rb", ".php", ".cs", ".kt", ".swift", ".sql", ".yaml",
		".yml", ".json", ".toml", "function", "method", "class ", "file", "code", "bug",
		"test", "struct", "module", "component", "endpoint", "handler")
)

// isEditRequest reports whether a user message asks for a code change: an
// edit verb in its prose, and a code signal (a code fence, or a file or code
// word in its prose). Pasted code itself is not scanned.
func isEditRequest(text []byte) bool {
	var v, s abi.Set
	fences := abi.Prose(text, func(p []byte) {
		verbs.Scan(p, &v)
		codeSignals.Scan(p, &s)
	})
	return v != (abi.Set{}) && (fences > 0 || s != abi.Set{})
}

func onRequest(c *abi.Call) abi.Status {
	if c.Flags()&abi.FlagJSON != 0 {
		return abi.StatusOK
	}
	edit := false
	n := c.MessageCount()
	for i := 0; i < n && !edit; i++ {
		if string(c.Role(i)) == "user" && isEditRequest(c.Text(i)) {
			edit = true
		}
	}
	if !edit {
		return abi.StatusOK
	}
	sys := c.SystemIndex()
	var st abi.Status
	if sys < 0 {
		st = c.Insert(0, roleSys, rule)
	} else {
		text := c.Text(sys)
		if bytes.Contains(text, rule) {
			return abi.StatusOK
		}
		add := append(c.Scratch[:0], separator...)
		add = append(add, rule...)
		c.Scratch = add
		st = c.Replace(sys, len(text), len(text), add)
	}
	if st != abi.StatusOK {
		return c.Fail("diff-first: could not add the rule")
	}
	c.Tag(tagKey, tagVal)
	return abi.StatusOK
}
