package gemini

import (
	"io"

	"bytes"
	"encoding/json"
	"flag"
	"github.com/aigateway/gateway/providers"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with the golden file path, or rewrites it with
// -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
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

// indent pretty-prints JSON for readable golden files; key order and string
// escapes are kept as the translator wrote them.
func indent(t *testing.T, b []byte) []byte {
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

// validSSE checks that every data line of an SSE stream other than [DONE]
// is valid JSON.
func validSSE(t *testing.T, b []byte) {
	t.Helper()
	for _, line := range strings.Split(string(b), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok && d != "[DONE]" && !json.Valid([]byte(d)) {
			t.Errorf("invalid JSON in stream event: %s", d)
		}
	}
}

// inputs lists testdata/dir files ending in suffix, by case name.
func inputs(t *testing.T, dir, suffix string) map[string]string {
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

func jsonValid(b []byte) bool { return json.Valid(b) }

// accumulateBytes folds an OpenAI SSE byte stream.
func accumulateBytes(t testing.TB, b []byte) completion {
	return accumulate(t, &byteStream{b: b})
}

type byteStream struct {
	b    []byte
	done bool
}

func (s *byteStream) Next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	s.done = true
	return s.b, nil
}
func (s *byteStream) Usage() providers.Usage { return providers.Usage{} }
func (s *byteStream) Close() error           { return nil }
