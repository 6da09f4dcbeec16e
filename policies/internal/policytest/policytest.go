// Package policytest runs the built-in policies' golden test cases, natively
// (the policy's Go code in-process) and through the Wasm host (the committed
// module), against the same golden files.
package policytest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/wasm"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Case is one test case file: testdata/cases/NAME.json.
type Case struct {
	Name    string
	Headers map[string]string `json:"headers"`
	Project string            `json:"project"`
	// Config overrides the policy's default config for this case.
	Config json.RawMessage `json:"config"`
	// Request is the OpenAI chat completion body.
	Request json.RawMessage `json:"request"`
	// Response is the upstream answer, for the response stage.
	Response json.RawMessage `json:"response"`
}

// Cases loads every case under dir/cases, sorted by name.
func Cases(t testing.TB, dir string) []Case {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "cases", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases in %s/cases: %v", dir, err)
	}
	sort.Strings(files)
	out := make([]Case, 0, len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c Case
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		c.Name = strings.TrimSuffix(filepath.Base(f), ".json")
		out = append(out, c)
	}
	return out
}

// Input builds the request view of c.
func (c Case) Input(t testing.TB) *wasm.Input {
	t.Helper()
	in := new(wasm.Input)
	if err := wasm.InputFromOpenAI(c.Request, in); err != nil {
		t.Fatalf("case %s: %v", c.Name, err)
	}
	names := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		in.AddHeader([]byte(k), []byte(c.Headers[k]))
	}
	in.Project = []byte(c.Project)
	in.Response = c.Response
	return in
}

// ConfigOr returns the case's config, or def.
func (c Case) ConfigOr(def []byte) []byte {
	if len(c.Config) > 0 {
		return c.Config
	}
	return def
}

// Golden compares got with dir/golden/NAME.txt, rewriting it under -update.
func Golden(t testing.TB, dir, name string, got []byte) {
	t.Helper()
	path := filepath.Join(dir, "golden", name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// RunNative configures and runs a policy's Go handlers in-process on c and
// returns the Output's text dump.
func RunNative(t testing.TB, policy string, stage abi.Stage, c Case, defConfig []byte,
	configure func(*abi.Call) abi.Status, handler func(*abi.Call) abi.Status) []byte {
	t.Helper()
	cfg := c.ConfigOr(defConfig)
	if err := wasm.ConfigureNative(cfg, configure); err != nil {
		t.Fatalf("case %s: %v", c.Name, err)
	}
	var out wasm.Output
	wasm.RunNative(policy, stage, cfg, c.Input(t), &out, handler)
	return out.AppendText(nil)
}
