// Package goldenseed gives fuzz targets the input files of the golden
// cases as their seed corpus.
package goldenseed

import (
	"path/filepath"

	"golang.org/x/tools/txtar"
)

// Files returns the content of every section of the golden archives under
// dir whose name keep accepts.
func Files(dir string, keep func(name string) bool) [][]byte {
	archives, _ := filepath.Glob(filepath.Join(dir, "*.txtar"))
	var out [][]byte
	for _, path := range archives {
		a, err := txtar.ParseFile(path)
		if err != nil {
			continue
		}
		for _, f := range a.Files {
			if keep(f.Name) {
				out = append(out, f.Data)
			}
		}
	}
	return out
}
