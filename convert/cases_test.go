package convert

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// testCase is one txtar archive of a table-driven test kept as data under
// testdata/: its comment says what the case is about, its sections hold
// the TOML in and out.
type testCase struct {
	name    string
	archive *txtar.Archive
}

func loadCases(t testing.TB, dir string) []testCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	var cases []testCase
	for _, p := range paths {
		a, err := txtar.ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, testCase{name: strings.TrimSuffix(filepath.Base(p), ".txtar"), archive: a})
	}
	return cases
}

// section returns a section's content, "" if the case has none.
func (c testCase) section(name string) string {
	for _, f := range c.archive.Files {
		if f.Name == name {
			return string(f.Data)
		}
	}
	return ""
}

func (c testCase) mustSection(t testing.TB, name string) string {
	t.Helper()
	s := c.section(name)
	if s == "" {
		t.Fatalf("%s has no %s section", c.name, name)
	}
	return s
}
