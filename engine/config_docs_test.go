package engine

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every ```toml block in the operator docs and the README decodes into
// Config without an unknown key: a documented setting the gateway refuses
// (or a renamed one the docs still show) fails here. Blocks may be fragments
// that fail validation; only unknown keys and syntax errors count.
func TestDocumentedTOMLDecodes(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md")
	block := regexp.MustCompile("(?s)```toml\n(.*?)```")
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(data), -1) {
			cfg := Defaults()
			if err := decodeStrict(m[1], &cfg); err != nil {
				first, _, _ := strings.Cut(strings.TrimSpace(m[1]), "\n")
				t.Errorf("%s: the block starting %q: %v", filepath.Base(f), first, err)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d toml blocks found in docs/ and README.md", checked)
	}
}
