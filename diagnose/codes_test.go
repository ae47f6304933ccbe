package diagnose

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// TestCodesDocumented keeps README.md's finding-code table in step with
// Codes: every code listed once with its severity, no row for an unknown
// code.
func TestCodesDocumented(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "### Finding codes")
	if !ok {
		t.Fatal("README.md has no \"### Finding codes\" section")
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\| (error|warning|info) \\|")
	seen := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		code, sev := m[1], Severity(m[2])
		c, ok := Codes[code]
		switch {
		case !ok:
			t.Errorf("README documents finding code %s, which check does not have", code)
		case seen[code]:
			t.Errorf("README lists %s twice", code)
		case c.Severity != sev:
			t.Errorf("README gives %s severity %s, check %s", code, sev, c.Severity)
		}
		seen[code] = true
	}
	for code := range Codes {
		if !seen[code] {
			t.Errorf("README does not document finding code %s", code)
		}
	}
}

// TestReadmeExampleIsReal: the README's troubleshooting example is the
// output of its golden case.
func TestReadmeExampleIsReal(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "$ certsd-migrate check -v\n")
	if !ok {
		t.Fatal("README.md has no `$ certsd-migrate check -v` example")
	}
	example, _, _ := strings.Cut(rest, "```")
	a, err := txtar.ParseFile("../golden/testdata/check/troubleshoot-k0s-underscore.txtar")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for _, f := range a.Files {
		if f.Name == "want.stdout" || f.Name == "want.stderr" {
			out += string(f.Data)
		}
	}
	if example != out {
		t.Errorf("README's example differs from the golden case's output:\n--- README\n%s--- golden\n%s", example, out)
	}
}
