package engine

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The engine is split by job (issue 9; docs/contract.md lists the packages): no file of it
// grows past 600 lines, and every package under it opens with a doc
// comment that names its one job. A file that outgrows the limit is a
// room that wants splitting, not a limit to raise.
func TestEngineLayout(t *testing.T) {
	const maxLines = 600
	docs := map[string]bool{} // package directory → has a "// Package" comment
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := bytes.Count(b, []byte{'\n'}); n > maxLines {
			t.Errorf("engine/%s has %d lines (at most %d): split it by job", path, n, maxLines)
		}
		// A test-only package (the fleet and soak suites) keeps its doc
		// in a test file.
		dir := filepath.Dir(path)
		docs[dir] = docs[dir] || bytes.HasPrefix(b, []byte("// Package ")) || bytes.Contains(b, []byte("\n// Package "))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for dir, ok := range docs {
		if !ok {
			t.Errorf("engine/%s: no package doc comment naming its job", dir)
		}
	}
	if len(docs) < 10 {
		t.Fatalf("walked %d packages: the test is not looking at the engine", len(docs))
	}
}
