package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
func loadConfigs(root, mainPath string, target convert.Target, skip func(path string) bool) ([]*convert.ConfigFile, []string, error) {
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
		f, err := readConfig(root, path)
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
			matches, err := filepath.Glob(onDisk(root, imp))
			if err != nil {
				return nil, nil, fmt.Errorf("%s: import %q: %w", path, imp, err)
			}
			sort.Strings(matches)
			for _, m := range matches {
				queue = append(queue, nodePath(root, m))
			}
		}
	}
	return files, globs, nil
}

// readConfig reads and parses one config file.
func readConfig(root, path string) (*convert.ConfigFile, error) {
	data, err := os.ReadFile(onDisk(root, path))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, unwrapPathError(err))
	}
	return convert.ParseConfig(path, data)
}

// onDisk maps a node path to this machine's path under root.
func onDisk(root, path string) string {
	if root == "" {
		return path
	}
	return filepath.Join(root, path)
}

// nodePath is the inverse of onDisk.
func nodePath(root, path string) string {
	if root == "" {
		return path
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return "/" + filepath.ToSlash(rel)
}

// readIfExists returns a file's content and mode, or nil if it is absent.
func readIfExists(path string) ([]byte, fs.FileMode, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if !info.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if data == nil {
		data = []byte{}
	}
	return data, info.Mode().Perm(), nil
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
