// Package goldenseed gives fuzz targets the input files of the golden
// cases as their seed corpus.
package goldenseed

import (
	"path/filepath"
	"testing"

	"golang.org/x/tools/txtar"
)

// Files returns the content of every section of the golden archives under
// dir whose name keep accepts. A fuzz target without its seeds would still
// pass, testing nothing: Files fails the test when the archives cannot be
// read or none of their sections is kept.
func Files(t testing.TB, dir string, keep func(name string) bool) [][]byte {
	t.Helper()
	archives, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil {
		t.Fatalf("golden seeds: %v", err)
	}
	var out [][]byte
	for _, path := range archives {
		a, err := txtar.ParseFile(path)
		if err != nil {
			t.Fatalf("golden seeds: %v", err)
		}
		for _, f := range a.Files {
			if keep(f.Name) {
				out = append(out, f.Data)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("golden seeds: no matching section in %d archives under %s", len(archives), dir)
	}
	return out
}
