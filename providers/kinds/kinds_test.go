package kinds

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// TestKindsWellFormed checks what the engine relies on: unique kind and
// preset names, a constructor for every kind, one owner per environment
// variable, and a base URL wherever the kind cannot run without one.
func TestKindsWellFormed(t *testing.T) {
	t.Parallel()
	kindNames, presets, envs := map[string]bool{}, map[string]bool{}, map[string]string{}
	for _, k := range All {
		if k.Name == "" || strings.ContainsAny(k.Name, "/ ") || kindNames[k.Name] {
			t.Errorf("kind %q: empty, duplicate or with '/' or spaces", k.Name)
		}
		kindNames[k.Name] = true
		if k.New == nil {
			t.Errorf("kind %s: no New", k.Name)
		}
		for _, p := range k.Presets {
			if p.Name == "" || strings.ContainsAny(p.Name, "/ ") || presets[p.Name] {
				t.Errorf("kind %s: preset %q empty, duplicate or with '/' or spaces", k.Name, p.Name)
			}
			presets[p.Name] = true
			for _, env := range []string{p.APIKeyEnv, p.BaseURLEnv} {
				if env == "" {
					continue
				}
				if owner, ok := envs[env]; ok {
					t.Errorf("%s is claimed by presets %s and %s", env, owner, p.Name)
				}
				envs[env] = p.Name
			}
			if k.EnabledBy == providers.ByKey && (p.BaseURL == "" || p.APIKeyEnv == "") {
				t.Errorf("preset %s: a kind enabled by its key needs a default base URL and a key variable", p.Name)
			}
			if k.EnabledBy == providers.ByBaseURL && p.BaseURLEnv == "" {
				t.Errorf("preset %s: a kind enabled by its base URL needs a variable to set it", p.Name)
			}
		}
	}
	if got, want := All.Names(), "openai, anthropic, gemini, ollama or mock"; got != want {
		t.Errorf("Names() = %q, want %q (error messages name the kinds in this order)", got, want)
	}
}

// TestPresetsBuild builds every preset from its defaults, as the engine
// does for a provider whose key is set.
func TestPresetsBuild(t *testing.T) {
	t.Parallel()
	for _, k := range All {
		for _, p := range k.Presets {
			t.Run(p.Name, func(t *testing.T) {
				t.Parallel()
				pr, err := k.New(providers.Settings{Name: p.Name, BaseURL: p.BaseURL, APIKey: "k"})
				if err != nil && p.BaseURL != "" {
					t.Fatal(err)
				}
				if err == nil && pr.Name() != p.Name {
					t.Fatalf("Name() = %q, want %q", pr.Name(), p.Name)
				}
			})
		}
	}
}

// TestEveryKindListed keeps All in step with the provider packages: every
// package under providers/ that declares a top-level Kind is listed once.
func TestEveryKindListed(t *testing.T) {
	t.Parallel()
	dirs, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		pkgs, err := parser.ParseDir(token.NewFileSet(), filepath.Join("..", d.Name()), func(fi os.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, pkg := range pkgs {
			for _, f := range pkg.Files {
				if o := f.Scope.Lookup("Kind"); o != nil && o.Kind == ast.Var {
					declared = append(declared, d.Name())
				}
			}
		}
	}
	if len(declared) != len(All) {
		t.Fatalf("packages declaring a Kind: %v; kinds listed in All: %s: add the missing one to kinds.go", declared, All.Names())
	}
}
