package convert

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestWarningCodesDocumented keeps the README's list of warning codes, which
// automation filters on, in step with the code.
func TestWarningCodesDocumented(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "diag.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		spec, ok := node.(*ast.ValueSpec)
		if !ok || len(spec.Names) != 1 || !strings.HasPrefix(spec.Names[0].Name, "Warn") {
			return true
		}
		code, err := strconv.Unquote(spec.Values[0].(*ast.BasicLit).Value)
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !strings.Contains(string(readme), "`"+code+"`") {
			t.Errorf("README does not document warning code %s (%s)", code, spec.Names[0].Name)
		}
		return true
	})
	if n < 20 {
		t.Errorf("found only %d warning codes in diag.go", n)
	}
}
