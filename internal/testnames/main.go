// Command testnames checks that `make test` runs every test that only means
// something without the race detector.
//
// `make test` runs the whole suite under -race, then a second, non-race pass
// restricted by `go test -run`. Allocation tests (testing.AllocsPerRun) and
// tests that skip themselves under -race (the raceEnabled constant of a
// `//go:build race` file, or a file built only with `!race`) pass vacuously
// under -race, so the second pass is the only place they run: a name that
// the pass's regexp does not select is a test that never runs in CI.
//
// Usage:
//
//	go run ./internal/testnames -run 'Alloc|Soak' [DIR]
//
// It prints every such test with its package and whether the pattern selects
// it, and exits 1 if one is not selected. The analysis is syntactic, per
// directory: a test counts when its body, or a function of the same
// directory's tests that it calls, directly or not, calls AllocsPerRun or
// reads a race constant.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	run := flag.String("run", "", "the -run pattern of the non-race pass (required)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: testnames -run PATTERN [DIR]")
		flag.PrintDefaults()
	}
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	if *run == "" || flag.NArg() > 1 {
		flag.Usage()
		os.Exit(2)
	}
	pattern, err := selector(*run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testnames:", err)
		os.Exit(2)
	}
	tests, err := Scan(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testnames:", err)
		os.Exit(1)
	}
	if missed := Report(os.Stdout, tests, pattern, *run); missed > 0 {
		os.Exit(1)
	}
}

// selector compiles the part of a -run pattern that go test matches against
// top-level test names (the text before the first '/').
func selector(run string) (*regexp.Regexp, error) {
	top, _, _ := strings.Cut(run, "/")
	re, err := regexp.Compile(top)
	if err != nil {
		return nil, fmt.Errorf("-run %q: %w", run, err)
	}
	return re, nil
}

// Test is a test function that is only meaningful without -race.
type Test struct {
	Dir  string // package directory, slash-separated, relative to the root
	Name string
	Why  string // what makes it race-sensitive
}

// Report prints tests, marking those pattern selects, and returns how many
// it does not.
func Report(w io.Writer, tests []Test, pattern *regexp.Regexp, run string) int {
	fmt.Fprintf(w, "tests that only mean something without -race (%d), and whether -run '%s' selects them:\n", len(tests), run)
	missed := 0
	for _, t := range tests {
		mark := "ok  "
		if !pattern.MatchString(t.Name) {
			mark = "MISS"
			missed++
		}
		fmt.Fprintf(w, "  %s %-28s %-38s %s\n", mark, t.Dir, t.Name, t.Why)
	}
	if missed > 0 {
		fmt.Fprintf(w, "%d of them never run in `make test`: name allocation tests Test…Allocs and soak tests TestSoak…\n", missed)
	}
	return missed
}

// Scan finds the race-sensitive tests of every package under root, sorted by
// directory and name.
func Scan(root string) ([]Test, error) {
	byDir := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, "_test.go") {
			byDir[filepath.Dir(path)] = append(byDir[filepath.Dir(path)], path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Test
	for dir, files := range byDir {
		tests, err := scanDir(files)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(root, dir)
		for i := range tests {
			tests[i].Dir = filepath.ToSlash(rel)
		}
		out = append(out, tests...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dir != out[j].Dir {
			return out[i].Dir < out[j].Dir
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// fn is one function declaration of a directory's test files.
type fn struct {
	decl     *ast.FuncDecl
	noRace   bool   // declared in a file built only without -race
	why      string // set once the function is known to be race-sensitive
	isTest   bool
	calls    map[string]bool
	raceRefs bool
	allocs   bool
}

// scanDir analyses the test files of one directory.
func scanDir(files []string) ([]Test, error) {
	fset := token.NewFileSet()
	var parsed []*ast.File
	raceConsts := map[string]bool{}
	noRaceFile := map[*ast.File]bool{}
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, f)
		switch buildsWithRace(f) {
		case onlyRace:
			for _, d := range f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
					for _, s := range g.Specs {
						for _, n := range s.(*ast.ValueSpec).Names {
							raceConsts[n.Name] = true
						}
					}
				}
			}
		case onlyNoRace:
			noRaceFile[f] = true
		}
	}
	funcs := map[string]*fn{}
	var order []*fn
	for _, f := range parsed {
		for _, d := range f.Decls {
			decl, ok := d.(*ast.FuncDecl)
			if !ok || decl.Body == nil {
				continue
			}
			x := &fn{decl: decl, noRace: noRaceFile[f], isTest: isTest(decl), calls: map[string]bool{}}
			ast.Inspect(decl.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					if pkg, ok := n.X.(*ast.Ident); ok && pkg.Name == "testing" && n.Sel.Name == "AllocsPerRun" {
						x.allocs = true
					}
					x.calls[n.Sel.Name] = true // a method of the tests' own types
				case *ast.Ident:
					if raceConsts[n.Name] {
						x.raceRefs = true
					}
					x.calls[n.Name] = true
				}
				return true
			})
			var why []string
			if x.allocs {
				why = append(why, "calls testing.AllocsPerRun")
			}
			if x.raceRefs {
				why = append(why, "reads the race constant")
			}
			if x.noRace && x.isTest {
				why = append(why, "is built only without -race")
			}
			x.why = strings.Join(why, ", ")
			if decl.Recv == nil {
				funcs[decl.Name.Name] = x
			} else if _, dup := funcs[decl.Name.Name]; !dup {
				funcs[decl.Name.Name] = x
			}
			order = append(order, x)
		}
	}
	// Propagate through helpers until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, x := range order {
			if x.why != "" {
				continue
			}
			for name := range x.calls {
				if h, ok := funcs[name]; ok && h != x && h.why != "" && !h.isTest {
					x.why = "via " + name + ": " + strings.TrimPrefix(h.why[strings.Index(h.why, ":")+1:], " ")
					if !strings.HasPrefix(h.why, "via ") {
						x.why = "via " + name + ": " + h.why
					}
					changed = true
					break
				}
			}
		}
	}
	var out []Test
	for _, x := range order {
		if x.isTest && x.why != "" {
			out = append(out, Test{Name: x.decl.Name.Name, Why: x.why})
		}
	}
	return out, nil
}

// isTest reports whether d is a top-level test: func TestXxx(*testing.T).
func isTest(d *ast.FuncDecl) bool {
	name := d.Name.Name
	if d.Recv != nil || !strings.HasPrefix(name, "Test") || name == "TestMain" {
		return false
	}
	if rest := name[len("Test"):]; rest != "" && strings.ToLower(rest[:1]) == rest[:1] && !strings.ContainsAny(rest[:1], "0123456789_") {
		return false // Testify is not a test
	}
	p := d.Type.Params.List
	if len(p) != 1 || len(p[0].Names) > 1 {
		return false
	}
	star, ok := p[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}

type raceBuild int

const (
	either raceBuild = iota
	onlyRace
	onlyNoRace
)

// buildsWithRace tells whether f's build constraint requires, forbids or
// ignores the race tag.
func buildsWithRace(f *ast.File) raceBuild {
	for _, g := range f.Comments {
		if g.Pos() >= f.Package {
			break
		}
		for _, c := range g.List {
			if !constraint.IsGoBuild(c.Text) {
				continue
			}
			expr, err := constraint.Parse(c.Text)
			if err != nil {
				continue
			}
			// Other tags are taken as satisfied: the question is only
			// what -race changes.
			with := expr.Eval(func(string) bool { return true })
			without := expr.Eval(func(tag string) bool { return tag != "race" })
			switch {
			case with && !without:
				return onlyRace
			case !with && without:
				return onlyNoRace
			}
		}
	}
	return either
}
