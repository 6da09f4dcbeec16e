package cost

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Synthetic but realistic content: source files (Go, TypeScript, Python),
// prose for system prompts and questions, tool outputs. Everything is drawn
// from the caller's rng, so a seed fixes every byte.

var (
	verbs  = strings.Fields("get set load save parse build apply check find update remove handle render fetch merge split resolve compute validate encode decode flush open close start stop reset sync")
	nouns  = strings.Fields("user order item cart price token session cache config request response route model file path buffer entry record event queue worker batch limit budget rule policy account invoice report")
	fields = strings.Fields("id name count total rate limit offset size status kind owner created updated expires key value items price qty sku email region tier retries timeout")
	types  = strings.Fields("string int int64 float64 bool []byte time.Duration error")
	pkgs   = strings.Fields("fmt strings errors time sort bytes context sync strconv io")
	prose  = strings.Fields(`the a an to of and in is for that this it with on as be you your can use should must not never always when if before after
each every file code change test tool user task step result output command project repository function error message answer request
make sure only then also keep avoid prefer explain read write edit run check verify follow instructions carefully current working
directory existing new small clear concise correct complete relevant context information available workspace editor terminal diff`)
	questions = []string{
		"How do I make %s handle an empty input without panicking?",
		"Why does %s return the wrong total when the rate is zero?",
		"Can you refactor %s so that it takes a context and respects cancellation?",
		"Add table-driven tests for %s covering the error paths.",
		"What is the performance cost of %s on large inputs, and how would you optimize it?",
		"Rename %s to something clearer and update the callers.",
		"Explain what %s does.",
		"What does this do? I mean %s in particular.",
		"Design a migration plan to move %s to the new storage backend without downtime; consider backwards compatibility and production deployment.",
		"Review %s for security issues: injection, unchecked input, secrets in logs.",
		"Add a docstring to %s.",
		"Fix the typo in the error message of %s.",
	}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// sentence writes n words of prose, capitalised, with a full stop.
func sentence(rng *rand.Rand, n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = pick(rng, prose)
	}
	return title(strings.Join(w, " ")) + "."
}

// paragraph writes k sentences.
func paragraph(rng *rand.Rand, k int) string {
	s := make([]string, k)
	for i := range s {
		s[i] = sentence(rng, 8+rng.IntN(14))
	}
	return strings.Join(s, " ")
}

// document writes a markdown document of about tokens tokens: headings,
// paragraphs and bullet lists, like a coding agent's system prompt.
func document(rng *rand.Rand, heading string, tokens int) string {
	var b strings.Builder
	b.WriteString("# " + heading + "\n\n")
	for b.Len() < tokens*5 {
		b.WriteString("## " + title(pick(rng, prose)) + " " + pick(rng, prose) + "\n\n")
		b.WriteString(paragraph(rng, 3+rng.IntN(4)) + "\n\n")
		if rng.IntN(2) == 0 {
			for range 3 + rng.IntN(5) {
				b.WriteString("- " + sentence(rng, 6+rng.IntN(12)) + "\n")
			}
			b.WriteString("\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func ident(rng *rand.Rand) string { return pick(rng, verbs) + title(pick(rng, nouns)) }

func langOf(path string) string {
	switch {
	case strings.HasSuffix(path, ".go"):
		return "go"
	case strings.HasSuffix(path, ".ts"):
		return "typescript"
	case strings.HasSuffix(path, ".py"):
		return "python"
	}
	return ""
}

// sourceFile writes a source file of about lines lines in path's language.
func sourceFile(rng *rand.Rand, path string, lines int) string {
	var b strings.Builder
	n := 0
	line := func(format string, a ...any) {
		fmt.Fprintf(&b, format+"\n", a...)
		n++
	}
	switch langOf(path) {
	case "go":
		pkg := pick(rng, nouns)
		line("// Package %s %s", pkg, strings.ToLower(sentence(rng, 8)))
		line("package %s", pkg)
		line("")
		line("import (")
		for range 2 + rng.IntN(3) {
			line("\t%q", pick(rng, pkgs))
		}
		line(")")
		line("")
		typ := title(pick(rng, nouns))
		line("// %s %s", typ, strings.ToLower(sentence(rng, 9)))
		line("type %s struct {", typ)
		for range 3 + rng.IntN(5) {
			line("\t%s %s", title(pick(rng, fields)), pick(rng, types))
		}
		line("}")
		line("")
		for n < lines {
			fn := title(ident(rng))
			line("// %s %s", fn, strings.ToLower(sentence(rng, 6+rng.IntN(10))))
			line("func (x *%s) %s(ctx context.Context, %s %s) (%s, error) {", typ, fn, pick(rng, fields), pick(rng, types), pick(rng, types))
			for range 3 + rng.IntN(10) {
				switch rng.IntN(6) {
				case 0:
					line("\tif x.%s == nil {", title(pick(rng, fields)))
					line("\t\treturn nil, fmt.Errorf(\"%s %%s: %%w\", x.%s, err)", pick(rng, verbs), title(pick(rng, fields)))
					line("\t}")
				case 1:
					line("\tfor _, %s := range x.%s {", pick(rng, nouns), title(pick(rng, fields)))
					line("\t\t%s += %s.%s", pick(rng, fields), pick(rng, nouns), title(pick(rng, fields)))
					line("\t}")
				case 2:
					line("\t%s, err := x.%s(ctx, %s)", pick(rng, fields), title(ident(rng)), pick(rng, fields))
					line("\tif err != nil {")
					line("\t\treturn nil, err")
					line("\t}")
				case 3:
					line("\t// %s", sentence(rng, 5+rng.IntN(9)))
				default:
					line("\t%s := %s.%s(%s, %d)", pick(rng, fields), pick(rng, pkgs), title(ident(rng)), pick(rng, fields), rng.IntN(1000))
				}
			}
			line("\treturn %s, nil", pick(rng, fields))
			line("}")
			line("")
		}
	case "typescript":
		line("import { %s, %s } from \"./%s\";", title(ident(rng)), title(ident(rng)), pick(rng, nouns))
		line("")
		typ := title(pick(rng, nouns))
		line("export interface %s {", typ)
		for range 3 + rng.IntN(5) {
			line("  %s: %s;", pick(rng, fields), pick(rng, []string{"string", "number", "boolean", "Date", "string[]"}))
		}
		line("}")
		line("")
		for n < lines {
			fn := ident(rng)
			line("/** %s */", sentence(rng, 6+rng.IntN(10)))
			line("export async function %s(%s: %s, opts?: Partial<%s>): Promise<%s> {", fn, pick(rng, nouns), typ, typ, typ)
			for range 3 + rng.IntN(10) {
				switch rng.IntN(5) {
				case 0:
					line("  if (!%s.%s) {", pick(rng, nouns), pick(rng, fields))
					line("    throw new Error(`%s: missing ${%s.%s}`);", pick(rng, verbs), pick(rng, nouns), pick(rng, fields))
					line("  }")
				case 1:
					line("  for (const %s of %s.%s ?? []) {", pick(rng, nouns), pick(rng, nouns), pick(rng, fields))
					line("    %s += %s.%s;", pick(rng, fields), pick(rng, nouns), pick(rng, fields))
					line("  }")
				case 2:
					line("  // %s", sentence(rng, 5+rng.IntN(9)))
				default:
					line("  const %s = await %s(%s, %d);", pick(rng, fields), ident(rng), pick(rng, fields), rng.IntN(1000))
				}
			}
			line("  return { ...%s, ...opts };", pick(rng, nouns))
			line("}")
			line("")
		}
	default: // python
		line("\"\"\"%s\"\"\"", sentence(rng, 10))
		line("from __future__ import annotations")
		line("")
		line("import %s", pick(rng, []string{"json", "logging", "os", "re", "time"}))
		line("")
		for n < lines {
			fn := strings.ToLower(pick(rng, verbs) + "_" + pick(rng, nouns))
			line("def %s(%s, %s=None):", fn, pick(rng, nouns), pick(rng, fields))
			line("    \"\"\"%s\"\"\"", sentence(rng, 6+rng.IntN(10)))
			for range 3 + rng.IntN(10) {
				switch rng.IntN(5) {
				case 0:
					line("    if not %s.%s:", pick(rng, nouns), pick(rng, fields))
					line("        raise ValueError(f\"%s: {%s!r}\")", pick(rng, verbs), pick(rng, fields))
				case 1:
					line("    for %s in %s.%s:", pick(rng, nouns), pick(rng, nouns), pick(rng, fields))
					line("        %s += %s.%s", pick(rng, fields), pick(rng, nouns), pick(rng, fields))
				case 2:
					line("    # %s", sentence(rng, 5+rng.IntN(9)))
				default:
					line("    %s = %s_%s(%s, %d)", pick(rng, fields), pick(rng, verbs), pick(rng, nouns), pick(rng, fields), rng.IntN(1000))
				}
			}
			line("    return %s", pick(rng, fields))
			line("")
			line("")
		}
	}
	return b.String()
}

// edit changes a few lines of content, as a code edit does.
func edit(rng *rand.Rand, content string) string {
	lines := strings.Split(content, "\n")
	for range 1 + rng.IntN(3) {
		i := rng.IntN(len(lines))
		switch rng.IntN(3) {
		case 0:
			lines[i] = lines[i] + " // " + pick(rng, prose) + " " + pick(rng, prose)
		case 1:
			lines = append(lines[:i], append([]string{"\t// " + sentence(rng, 7)}, lines[i:]...)...)
		default:
			lines[i] = strings.ReplaceAll(lines[i], pick(rng, fields), pick(rng, fields))
		}
	}
	return strings.Join(lines, "\n")
}

// repo is a project's files.
type repo struct {
	name  string
	paths []string
	files map[string]string
}

func newRepo(rng *rand.Rand, name string, lang string, n int) *repo {
	ext := map[string]string{"go": ".go", "typescript": ".ts", "python": ".py"}[lang]
	dirs := []string{"internal/", "pkg/", "src/", "cmd/server/", "lib/"}
	r := &repo{name: name, files: map[string]string{}}
	for len(r.paths) < n {
		p := pick(rng, dirs) + pick(rng, nouns) + "/" + pick(rng, verbs) + "_" + pick(rng, nouns) + ext
		if _, ok := r.files[p]; ok {
			continue
		}
		r.paths = append(r.paths, p)
		r.files[p] = sourceFile(rng, p, 40+rng.IntN(260))
	}
	return r
}

// funcName returns the name of some function in content (for questions).
func funcName(rng *rand.Rand, content string) string {
	var names []string
	for _, l := range strings.Split(content, "\n") {
		for _, kw := range []string{"func (x *", "export async function ", "def "} {
			if i := strings.Index(l, kw); i >= 0 {
				rest := l[i+len(kw):]
				if kw == "func (x *" {
					if j := strings.Index(rest, ") "); j >= 0 {
						rest = rest[j+2:]
					}
				}
				if j := strings.IndexByte(rest, '('); j > 0 {
					names = append(names, rest[:j])
				}
			}
		}
	}
	if len(names) == 0 {
		return "this function"
	}
	return "`" + pick(rng, names) + "`"
}

// testOutput is a test run's output for a repo state.
func testOutput(rng *rand.Rand, r *repo, pass bool) string {
	var b strings.Builder
	for range 6 + rng.IntN(10) {
		p := pick(rng, r.paths)
		fmt.Fprintf(&b, "=== RUN   Test%s\n--- PASS: Test%s (0.%02ds)\n", title(ident(rng)), title(ident(rng)), rng.IntN(100))
		_ = p
	}
	if !pass {
		p := pick(rng, r.paths)
		fmt.Fprintf(&b, "=== RUN   Test%s\n    %s:%d: got %d, want %d\n--- FAIL: Test%s (0.01s)\nFAIL\nexit status 1\n", title(ident(rng)), p, 10+rng.IntN(200), rng.IntN(100), rng.IntN(100), title(ident(rng)))
	} else {
		b.WriteString("PASS\nok  \t" + r.name + "\t0.412s\n")
	}
	return b.String()
}

// searchOutput is a grep-like result listing.
func searchOutput(rng *rand.Rand, r *repo) string {
	var b strings.Builder
	for range 5 + rng.IntN(20) {
		p := pick(rng, r.paths)
		lines := strings.Split(r.files[p], "\n")
		i := rng.IntN(len(lines))
		fmt.Fprintf(&b, "%s:%d:%s\n", p, i+1, lines[i])
	}
	return b.String()
}

func listOutput(rng *rand.Rand, r *repo) string {
	n := 10 + rng.IntN(len(r.paths))
	if n > len(r.paths) {
		n = len(r.paths)
	}
	return strings.Join(r.paths[:n], "\n") + "\n"
}

// reply is a plausible assistant chat answer with a code block.
func reply(rng *rand.Rand, lang, code string) string {
	lines := strings.Split(code, "\n")
	start := rng.IntN(max(1, len(lines)-12))
	snippet := strings.Join(lines[start:min(len(lines), start+6+rng.IntN(12))], "\n")
	return paragraph(rng, 2+rng.IntN(3)) + "\n\n```" + lang + "\n" + snippet + "\n```\n\n" + paragraph(rng, 1+rng.IntN(3))
}
