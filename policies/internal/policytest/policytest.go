// Package policytest runs the built-in policies' golden test cases, natively
// (the policy's Go code in-process) and through the Wasm host (the committed
// module), against the same golden files.
package policytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/engine/policyinput"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
	"github.com/valyala/fasthttp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Case is one test case file: testdata/cases/NAME.json.
type Case struct {
	Name    string
	Headers map[string]string `json:"headers"`
	Project string            `json:"project"`
	// Config overrides the policy's default config for this case.
	Config json.RawMessage `json:"config"`
	// Request is the OpenAI chat completion body; the gateway must accept it.
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

// Input builds the request view of c as the gateway does: the server's
// decode of the body (providers.Request), the headers parsed off the wire,
// then engine/policyinput.Fill. A case whose request the gateway would
// refuse fails the test.
func (c Case) Input(t testing.TB) *wasm.Input {
	t.Helper()
	r := new(providers.Request)
	if err := r.Decode(c.Request); err != nil {
		t.Fatalf("case %s: the gateway refuses the request: %v", c.Name, err)
	}
	var h *fasthttp.RequestHeader
	if len(c.Headers) > 0 {
		names := make([]string, 0, len(c.Headers))
		for k := range c.Headers {
			names = append(names, k)
		}
		sort.Strings(names)
		var head strings.Builder
		head.WriteString("POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")
		for _, k := range names {
			head.WriteString(k + ": " + c.Headers[k] + "\r\n")
		}
		head.WriteString("\r\n")
		h = new(fasthttp.RequestHeader)
		if err := h.Read(bufio.NewReader(strings.NewReader(head.String()))); err != nil {
			t.Fatalf("case %s: headers: %v", c.Name, err)
		}
	}
	in := new(wasm.Input)
	policyinput.Fill(in, r, c.Project, h)
	in.Response = c.Response
	return in
}

// RequestInput builds the view of a request body with no headers, as Input
// does.
func RequestInput(t testing.TB, body []byte) *wasm.Input {
	t.Helper()
	return Case{Name: "request", Request: body}.Input(t)
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
