package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// loadConfigs reads the main config and every file it imports, in the
// order containerd merges them: breadth first, each file's imports in the
// order listed, a glob's matches sorted, a file seen before skipped. A
// relative import is relative to the importing file's directory.
//
// A relative glob is where containerd releases disagree (see
// convert.Target.ImportGlobFromWorkDir): for a target that reads it from
// the daemon's working directory, it is matched from "/" (containerd's
// working directory under systemd); for a target that spans both
// behaviours, it is an error.
//
// It also returns the glob patterns (node paths) that containerd matches,
// since a file written where one matches would be imported too.
func loadConfigs(n *node, mainPath string, target convert.Target, skip func(path string) bool) ([]*convert.ConfigFile, []string, error) {
	var files []*convert.ConfigFile
	var globs []string
	loaded := map[string]bool{}
	queue := []string{filepath.Clean(mainPath)}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if loaded[path] || (skip != nil && skip(path)) {
			continue
		}
		loaded[path] = true
		f, err := readConfig(n, path)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, f)
		for _, imp := range f.Imports {
			glob := strings.Contains(imp, "*")
			if !filepath.IsAbs(imp) {
				base := filepath.Dir(path)
				if glob {
					all, some := target.ImportGlobFromWorkDir()
					switch {
					case all:
						base = "/"
					case some:
						return nil, nil, fmt.Errorf("%s: import %q is a relative glob: containerd before 1.6.29 and 1.7.0–1.7.15 match it from the daemon's working directory, later releases from %s; pass --containerd-version (or make the import absolute)", path, imp, base)
					}
				}
				imp = filepath.Join(base, imp)
			}
			imp = filepath.Clean(imp)
			if !glob {
				queue = append(queue, imp)
				continue
			}
			globs = append(globs, imp)
			matches, err := n.glob(imp)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: import %q: %w", path, imp, err)
			}
			sort.Strings(matches)
			queue = append(queue, matches...)
		}
	}
	return files, globs, nil
}

// readConfig reads and parses one config file.
func readConfig(n *node, path string) (*convert.ConfigFile, error) {
	data, _, err := n.readInput(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return convert.ParseConfig(path, data)
}

// unwrapPathError drops the path from an *fs.PathError: messages name the
// node path, not the path under --root.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
