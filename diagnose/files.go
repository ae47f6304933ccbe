package diagnose

import (
	"io/fs"
	"path"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// CheckHostsFile reports what the target's releases do with one hosts.toml
// (file: its node path) that is not on the node yet: the errors check
// gives for its content (whether containerd rejects it, release by
// release), certificate files left unread.
func CheckHostsFile(fsys fs.FS, target convert.Target, file string, data []byte) []Finding {
	min, max := targetRange(target)
	ck := newChecker(Node{FS: fsys, Target: target}, min, max)
	ck.noTLS = true
	ns, ok := namespaceOf(path.Base(path.Dir(file)))
	if !ok {
		ns, _ = intendedNamespace(path.Base(path.Dir(file)))
	}
	for i, w := range windowsAt(min, max, parseBoundaries) {
		ck.c.cur, ck.c.curIndex = w, i
		ck.rel, ck.parsed = w.rel, map[string]*hostsFile{}
		if hf := ck.parseHosts(file, data, w.rel); hf != nil {
			ck.checkHosts(ns, hf)
		}
	}
	var errs []Finding
	for _, f := range ck.c.result() {
		if f.Severity == Error {
			errs = append(errs, f)
		}
	}
	return errs
}

// CheckCertsDir reports what the target's releases do with what is already
// in certsDir, read as config_path: the findings check gives for the
// directory tree and each hosts.toml in it, leaving out those about the
// paths in skip (files about to be replaced) and their directories.
func CheckCertsDir(fsys fs.FS, target convert.Target, certsDir string, skip map[string]bool) ([]Finding, error) {
	r, err := Check(Node{FS: fsys, Target: target, CertsDir: certsDir, assumeHostsMode: true})
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, f := range r.Findings {
		p := f.Pos.File
		if !strings.HasPrefix(p, certsDir+"/") || skip[p] || skip[path.Join(p, "hosts.toml")] || skip[path.Join(path.Dir(p), "hosts.toml")] {
			continue
		}
		out = append(out, f)
	}
	return out, nil
}
