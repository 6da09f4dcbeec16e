package main

// `gateway policy new`: scaffold a policy project that builds outside this
// repository.

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/aigateway/gateway/abi"
)

//go:embed templates
var templates embed.FS

const newUsage = `usage:
  gateway policy new NAME [-stage request|route] [-lang go|wat] [-dir DIR] [-abi PATH|embedded]
Writes a ready policy project into DIR (default ./NAME): source, test, Makefile,
README, a sample request.json and, in Go, a go.mod whose replace points at the
guest SDK: -abi PATH (a gateway checkout or its abi/ directory), else a checkout
found above the current directory or the gateway binary, else a copy of the SDK
this binary carries, written into DIR/sdk ("-abi embedded" forces that).
`

// scaffold holds what the templates fill in.
type scaffold struct {
	Name, Stage, Lang string
	Module            string // the Go module path of the policy
	SDKPath, SDKFrom  string // the replace target, and where it comes from in words
	Gateway           string // the gateway binary the Makefile calls
	Position          string // where `make upload` places the policy
	RunFlags          string // extra `gateway policy run` flags for request.json
	ABIDoc            string // where ABI.md is
}

// policyNew implements `gateway policy new`; args excludes "new".
func policyNew(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gateway policy new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, newUsage); fs.PrintDefaults() }
	stage := fs.String("stage", "route", "the stage the policy implements: request or route")
	lang := fs.String("lang", "go", "go (standard Go, GOOS=wasip1) or wat (WebAssembly text, wat2wasm)")
	dir := fs.String("dir", "", "the directory to create (default ./NAME)")
	sdk := fs.String("abi", "", `the guest SDK: a gateway checkout or its abi/ directory, or "embedded" (default: detected)`)
	var names []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(names) != 1 {
		fs.Usage()
		return 2
	}
	sc := scaffold{Name: names[0], Stage: *stage, Lang: *lang}
	if err := sc.validate(); err != nil {
		fmt.Fprintln(stderr, "gateway policy new:", err)
		return 2
	}
	if *dir == "" {
		*dir = sc.Name
	}
	if err := sc.write(*dir, *sdk); err != nil {
		fmt.Fprintln(stderr, "gateway policy new:", err)
		return 1
	}
	fmt.Fprintf(stdout, "created %s: a %s-stage policy in %s\n", *dir, sc.Stage, map[string]string{"go": "Go", "wat": "WebAssembly text"}[sc.Lang])
	if sc.Lang == "go" {
		fmt.Fprintf(stdout, "guest SDK: %s\n", sc.SDKFrom)
		fmt.Fprintf(stdout, "next: cd %s && make test && make && make check && make run\n", *dir)
	} else {
		fmt.Fprintf(stdout, "next: cd %s && make && make check && make run\n", *dir)
	}
	return 0
}

func (sc *scaffold) validate() error {
	if !validPolicyName(sc.Name) {
		return fmt.Errorf("name %q: a policy name matches [a-z0-9][a-z0-9_-]{0,63}", sc.Name)
	}
	if sc.Stage != "request" && sc.Stage != "route" {
		return fmt.Errorf("-stage %q: the templates cover request and route", sc.Stage)
	}
	if sc.Lang != "go" && sc.Lang != "wat" {
		return fmt.Errorf("-lang %q: want go or wat", sc.Lang)
	}
	return nil
}

func validPolicyName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '_' || c == '-'))) {
			return false
		}
	}
	return true
}

// requests are the sample requests `make run` feeds the policy.
var requests = map[string]string{
	"go/route":    `{"model":"auto","messages":[{"role":"user","content":"urgent: prod is down"}]}`,
	"wat/route":   `{"model":"auto","messages":[{"role":"user","content":"prod is down"}]}`,
	"go/request":  `{"model":"auto","messages":[{"role":"user","content":"keep this\n#gateway-ignore drop this line\nand this"}]}`,
	"wat/request": `{"model":"auto","messages":[{"role":"user","content":"What is a mutex?"}]}`,
}

// write creates dir and the project in it; it refuses a directory that
// exists and is not empty.
func (sc *scaffold) write(dir, sdk string) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty", dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	sc.Module = "example.com/policies/" + sc.Name
	sc.Gateway = gatewayBinary()
	sc.ABIDoc = "https://github.com/aigateway/gateway/blob/main/abi/ABI.md"
	if sc.Stage == "route" {
		sc.Position = "before:router"
	}
	if sc.Lang == "wat" && sc.Stage == "route" {
		sc.RunFlags = ` -header "X-Gateway-Priority: high"`
	}
	files := map[string]string{ // output file -> template
		"Makefile":     sc.Lang + "/Makefile.tmpl",
		"README.md":    "README.md.tmpl",
		"request.json": "",
	}
	if sc.Lang == "go" {
		if err := sc.findSDK(abs, sdk); err != nil {
			return err
		}
		if sc.SDKPath != "./sdk" {
			sc.ABIDoc = filepath.Join(sc.SDKPath, "ABI.md")
		} else {
			sc.ABIDoc = "sdk/ABI.md"
		}
		files["go.mod"] = "go/go.mod.tmpl"
		files["main.go"] = "go/main_" + sc.Stage + ".go.tmpl"
		files["exports_wasip1.go"] = "go/exports_" + sc.Stage + ".go.tmpl"
		files[strings.ReplaceAll(sc.Name, "-", "_")+"_test.go"] = "go/test_" + sc.Stage + ".go.tmpl"
	} else {
		files[sc.Name+".wat"] = "wat/" + sc.Stage + ".wat.tmpl"
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	for out, tmpl := range files {
		var b bytes.Buffer
		if tmpl == "" {
			b.WriteString(requests[sc.Lang+"/"+sc.Stage] + "\n")
		} else {
			t, err := template.New(filepath.Base(tmpl)).ParseFS(templates, "templates/"+tmpl)
			if err != nil {
				return fmt.Errorf("BUG: template %s: %w", tmpl, err)
			}
			if err := t.Execute(&b, sc); err != nil {
				return fmt.Errorf("BUG: template %s: %w", tmpl, err)
			}
		}
		if err := os.WriteFile(filepath.Join(abs, out), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if sc.Lang == "go" && sc.SDKPath == "./sdk" {
		return writeSDK(filepath.Join(abs, "sdk"))
	}
	return nil
}

// findSDK decides where go.mod's replace points: the -abi flag, a checkout
// above the project or the current directory or the gateway binary, or the
// SDK copy this binary carries.
func (sc *scaffold) findSDK(projectDir, flagValue string) error {
	switch flagValue {
	case "embedded":
		sc.SDKPath, sc.SDKFrom = "./sdk", "the copy of the SDK written by gateway policy new into ./sdk"
		return nil
	case "":
	default:
		for _, dir := range []string{filepath.Join(flagValue, "abi"), flagValue} {
			if isSDK(dir) {
				abs, err := filepath.Abs(dir)
				if err != nil {
					return err
				}
				sc.SDKPath, sc.SDKFrom = abs, "the gateway checkout given with -abi ("+abs+")"
				return nil
			}
		}
		return fmt.Errorf("-abi %s: neither it nor its abi/ holds the guest SDK (a go.mod of module github.com/aigateway/gateway/abi)", flagValue)
	}
	var starts []string
	starts = append(starts, filepath.Dir(projectDir))
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, start := range starts {
		for dir := start; ; dir = filepath.Dir(dir) {
			if isSDK(filepath.Join(dir, "abi")) {
				sc.SDKPath = filepath.Join(dir, "abi")
				sc.SDKFrom = "the gateway checkout at " + dir
				return nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	sc.SDKPath, sc.SDKFrom = "./sdk", "the copy of the SDK written by gateway policy new into ./sdk (no gateway checkout found)"
	return nil
}

// isSDK reports whether dir holds the guest SDK module.
func isSDK(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.TrimSpace(s.Text()) == "module github.com/aigateway/gateway/abi" {
			return true
		}
	}
	return false
}

// writeSDK writes the SDK this binary carries (abi.Source) into dir,
// without its tests.
func writeSDK(dir string) error {
	return fs.WalkDir(abi.Source, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, path), 0o755)
		}
		if strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := abi.Source.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, path), b, 0o644)
	})
}

// gatewayBinary is the command the Makefile calls: this binary when it is
// an installed one, else "gateway" from PATH.
func gatewayBinary() string {
	exe, err := os.Executable()
	if err != nil || strings.Contains(exe, string(filepath.Separator)+"go-build") || strings.HasSuffix(exe, ".test") {
		return "gateway"
	}
	if _, err := os.Stat(exe); errors.Is(err, fs.ErrNotExist) {
		return "gateway"
	}
	return exe
}
