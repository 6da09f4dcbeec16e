package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture is a small module tree: a package whose tests exercise every way
// a test becomes race-sensitive, and one with none.
var fixture = map[string]string{
	"p/race_on_test.go":  "//go:build race\n\npackage p\n\nconst raceEnabled = true\n",
	"p/race_off_test.go": "//go:build !race\n\npackage p\n\nconst raceEnabled = false\n",
	"p/p_test.go": `package p

import "testing"

func skipUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("race")
	}
}

func measure(t *testing.T, f func()) float64 { return testing.AllocsPerRun(10, f) }

func helperOfHelper(t *testing.T) { skipUnderRace(t) }

type suite struct{}

func (suite) check(t *testing.T) { _ = testing.AllocsPerRun(1, func() {}) }

func TestDirectAllocs(t *testing.T)     { _ = testing.AllocsPerRun(1, func() {}) }
func TestSkipsItself(t *testing.T)      { if raceEnabled { t.Skip() } }
func TestViaHelper(t *testing.T)        { skipUnderRace(t) }
func TestViaMeasure(t *testing.T)       { measure(t, func() {}) }
func TestTwoHops(t *testing.T)          { helperOfHelper(t) }
func TestViaMethod(t *testing.T)        { suite{}.check(t) }
func TestPlain(t *testing.T)            { t.Log("nothing to see") }
func TestCallsAnotherTest(t *testing.T) { TestDirectAllocs(t) }
func Testify(t *testing.T)              { _ = testing.AllocsPerRun(1, func() {}) }
func BenchmarkAllocs(b *testing.B)      { _ = testing.AllocsPerRun(1, func() {}) }
`,
	"p/norace_test.go": "//go:build !race\n\npackage p\n\nimport \"testing\"\n\nfunc TestOnlyWithoutRace(t *testing.T) {}\n",
	"q/q_test.go": `package q

import "testing"

func TestSoakLong(t *testing.T) { t.Log("a soak with no race check") }
`,
	"p/testdata/ignored_test.go": "package ignored\n\nimport \"testing\"\n\nfunc TestIgnored(t *testing.T) { _ = testing.AllocsPerRun(1, func() {}) }\n",
}

func writeFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, src := range fixture {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestScan(t *testing.T) {
	t.Parallel()
	tests, err := Scan(writeFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range tests {
		got = append(got, x.Dir+" "+x.Name)
	}
	want := []string{
		"p TestDirectAllocs",
		"p TestOnlyWithoutRace",
		"p TestSkipsItself",
		"p TestTwoHops",
		"p TestViaHelper",
		"p TestViaMeasure",
		"p TestViaMethod",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Scan found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, x := range tests {
		if x.Name == "TestTwoHops" && x.Why != "via helperOfHelper: reads the race constant" {
			t.Errorf("TestTwoHops: why = %q", x.Why)
		}
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	tests, err := Scan(writeFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, run string
		missed    int
	}{
		{"everything", ".", 0},
		{"allocation names only", "Allocs", 6},
		{"the convention", "Alloc|Soak", 6},
		{"a subtest pattern uses its first element", "Test(Direct|Skips|Via|Two|Only)/sub", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			re, err := selector(tt.run)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if missed := Report(&b, tests, re, tt.run); missed != tt.missed {
				t.Fatalf("missed %d, want %d:\n%s", missed, tt.missed, b.String())
			}
			if tt.missed > 0 && !strings.Contains(b.String(), "MISS p") {
				t.Fatalf("report does not name the missed tests:\n%s", b.String())
			}
		})
	}
}

// TestRepositoryNamesAreSelected runs the check on this repository with the
// pattern of the Makefile's non-race pass, so that `go test ./...` catches a
// misnamed test too.
func TestRepositoryNamesAreSelected(t *testing.T) {
	t.Parallel()
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	// The -run pattern of each recipe, by target: the non-race pass and
	// this check must select the same tests.
	runs := map[string]string{}
	target := ""
	for _, line := range strings.Split(string(makefile), "\n") {
		if name, ok := strings.CutSuffix(line, ":"); ok && !strings.HasPrefix(line, "\t") {
			target = name
			continue
		}
		if _, rest, ok := strings.Cut(line, "-run '"); ok && strings.HasPrefix(line, "\t") {
			if pat, _, ok := strings.Cut(rest, "'"); ok {
				runs[target] = pat
			}
		}
	}
	run := runs["test-allocs"]
	if run == "" || strings.Contains(run, "$") {
		t.Fatalf("the Makefile's test-allocs recipe has no literal -run pattern (%q)", run)
	}
	if runs["test-names"] != run {
		t.Fatalf("test-names checks -run %q but test-allocs runs -run %q", runs["test-names"], run)
	}
	re, err := selector(run)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := Scan("../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) < 20 {
		t.Fatalf("found only %d race-sensitive tests: the scan is broken", len(tests))
	}
	var b bytes.Buffer
	if missed := Report(&b, tests, re, run); missed > 0 {
		t.Fatal(b.String())
	}
}
