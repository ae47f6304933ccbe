package migrate

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// k0s reads its containerd drop-ins (/etc/k0s/containerd.d/*.toml) in two
// ways, by release (pkg/component/worker/containerd in k0s):
//
//   - before 1.36 (containerd 1.7), k0s merges every drop-in with a
//     plugins."io.containerd.grpc.v1.cri" table into its own CRI config,
//     /run/k0s/containerd-cri.toml, which it regenerates at every start
//     and on every drop-in change; its /etc/k0s/containerd.toml imports
//     that file and the other drop-ins by name (handleImports, v1.27.5–
//     v1.35.x);
//   - from 1.36 (containerd 2.3), /etc/k0s/containerd.toml (version 3)
//     imports the drop-ins with a glob, and k0s refuses to start when one
//     has a version other than 3 or a plugins."io.containerd.grpc.v1.cri"
//     table.
//
// The layout is told from what /etc/k0s/containerd.toml imports, or from
// --k0s-version.

const (
	k0sDropInDir = "/etc/k0s/containerd.d"
	k0sRunDir    = "/run/k0s/"
)

// k0sLayout is how a k0s node's drop-ins reach containerd.
type k0sLayout int

const (
	notK0s       k0sLayout = iota
	k0sMerging             // before 1.36
	k0sImporting           // 1.36+
)

// parseK0sVersion reads "1.35", "v1.36.3+k0s.0" and the like.
func parseK0sVersion(s string) (major, minor int, err error) {
	num := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(num, "+-"); i > 0 {
		num = num[:i]
	}
	parts := strings.Split(num, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, 0, fmt.Errorf("invalid k0s version %q: want MAJOR.MINOR[.PATCH]", s)
	}
	if major, err = strconv.Atoi(parts[0]); err == nil {
		minor, err = strconv.Atoi(parts[1])
	}
	if err != nil {
		return 0, 0, fmt.Errorf("invalid k0s version %q: want MAJOR.MINOR[.PATCH]", s)
	}
	return major, minor, nil
}

// detectK0sLayout tells the layout from the main config, or from the
// k0s version the user named.
func detectK0sLayout(main *convert.ConfigFile, k0sVersion string) (k0sLayout, error) {
	if k0sVersion != "" {
		major, minor, err := parseK0sVersion(k0sVersion)
		if err != nil {
			return notK0s, err
		}
		if major == 1 && minor < 36 {
			return k0sMerging, nil
		}
		return k0sImporting, nil
	}
	if !main.K0sManaged {
		return notK0s, nil // a drop-in named with --config is read as it is
	}
	for _, imp := range main.Imports {
		if strings.HasPrefix(filepath.Clean(imp), k0sRunDir) {
			return k0sMerging, nil
		}
	}
	return k0sImporting, nil
}

// k0sTarget is the containerd a k0s layout runs: 1.7 before k0s 1.36
// (its output, with --to-config-version 3, is for the 2.3 of 1.36), 2.3
// and later from 1.36 (embedded-bins/Makefile.variables).
func k0sTarget(layout k0sLayout, toVersion3 bool) convert.Target {
	if layout == k0sMerging && !toVersion3 {
		t, _ := convert.ParseTarget("1.7")
		t.Explicit = false
		return t
	}
	t, _ := convert.ParseTarget("2")
	from, _ := convert.ParseTarget("2.3")
	t.Min, t.Explicit = from.Min, false
	return t
}

// k0sMergedFiles replaces, for a node where k0s merges its drop-ins, the
// generated /run/k0s file with the drop-ins it is made of: those are the
// files that hold the settings, and the ones to edit.
func k0sMergedFiles(n *node, files []*convert.ConfigFile) ([]*convert.ConfigFile, error) {
	var out []*convert.ConfigFile
	loaded := map[string]bool{}
	for _, f := range files {
		if strings.HasPrefix(f.Path, k0sRunDir) {
			continue
		}
		loaded[f.Path] = true
		out = append(out, f)
	}
	matches, err := n.glob(path.Join(k0sDropInDir, "*.toml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(matches)
	var merged []*convert.ConfigFile
	for _, m := range matches {
		p := m
		if loaded[p] {
			continue
		}
		f, err := readConfig(n, p)
		if err != nil {
			return nil, err
		}
		f.MarkK0sMerged()
		merged = append(merged, f)
	}
	for _, f := range out {
		if path.Dir(f.Path) == k0sDropInDir {
			f.MarkK0sMerged() // imported by name, as with --k0s-version on a glob layout
		}
	}
	// k0s merges them in glob order, after the files containerd imports.
	return append(out, merged...), nil
}
