package providertest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
)

// SchemaCoversReads fails t for every member name that the functions funcs
// of the Go source file read from a client body — a double-quoted literal
// passed to jsonscan.Get or GetTrusted, or listed in a case clause — and
// that no object of s checks: a second spelling of it would pass
// jsonscan.CheckNames. (Raw `"value"` literals compare values, not names,
// and are skipped.) A function of funcs missing from the file fails too.
func SchemaCoversReads(t testing.TB, s *jsonscan.Schema, file string, funcs ...string) {
	t.Helper()
	checked := map[string]bool{}
	visited := map[*jsonscan.Schema]bool{}
	var collect func(s *jsonscan.Schema)
	collect = func(s *jsonscan.Schema) {
		if s == nil || visited[s] {
			return
		}
		visited[s] = true
		for i := 0; i < s.Names.Len(); i++ {
			checked[s.Names.Name(i)] = true
			collect(s.Sub(i))
		}
	}
	collect(s)
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, fn := range funcs {
		want[fn] = true
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || !want[fd.Name.Name] {
			continue
		}
		delete(want, fd.Name.Name)
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			var lits []ast.Expr
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Get" || sel.Sel.Name == "GetTrusted") && len(n.Args) == 2 {
					lits = append(lits, n.Args[1])
				}
			case *ast.CaseClause:
				lits = n.List
			}
			for _, e := range lits {
				lit, ok := e.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || !strings.HasPrefix(lit.Value, `"`) {
					continue
				}
				if name, _ := strconv.Unquote(lit.Value); !checked[name] {
					t.Errorf("%s: %s reads member %q, which the schema does not check", file, fd.Name.Name, name)
				}
			}
			return true
		})
	}
	for fn := range want {
		t.Errorf("%s: no function %s", file, fn)
	}
}
