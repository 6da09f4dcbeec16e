package providertest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden compares got with the golden file path, or rewrites the file when
// update is set (each package's -update flag).
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// IndentJSON pretty-prints JSON for readable golden files; key order and
// string escapes are kept as the translator wrote them.
func IndentJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("output is not valid JSON: %s", b)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

// ValidSSE checks that every data line of an SSE stream other than [DONE]
// is valid JSON.
func ValidSSE(t testing.TB, b []byte) {
	t.Helper()
	for _, line := range strings.Split(string(b), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok && d != "[DONE]" && !json.Valid([]byte(d)) {
			t.Errorf("invalid JSON in stream event: %s", d)
		}
	}
}

// Inputs lists the testdata/dir fixtures ending in suffix (golden files
// excluded), by case name.
func Inputs(t testing.TB, dir, suffix string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+suffix))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no testdata/%s/*%s fixtures", dir, suffix)
	}
	out := map[string]string{}
	for _, f := range files {
		if strings.Contains(filepath.Base(f), ".golden.") {
			continue
		}
		out[strings.TrimSuffix(filepath.Base(f), suffix)] = f
	}
	return out
}
