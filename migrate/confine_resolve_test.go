package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"data/certs", "etc/containerd", "a/b"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	links := map[string]string{
		"etc/containerd/certs.d": "/data/certs",        // absolute: a node path
		"etc/rel":                "containerd/../../a", // climbs, but stays inside
		"a/b/up":                 "../../..",           // leaves the node
		"loop1":                  "loop2",
		"loop2":                  "loop1",
		"a/chain":                "b",
		"a/b/abs":                "/etc/containerd/certs.d", // a link to a link
	}
	for l, target := range links {
		must(t, os.Symlink(target, filepath.Join(root, l)))
	}
	n, err := openNode(root)
	must(t, err)
	defer n.close()
	tests := []struct{ path, want, wantErr string }{
		{"/etc/containerd/certs.d/docker.io/hosts.toml", "data/certs/docker.io/hosts.toml", ""},
		{"/etc/rel/b/x", "a/b/x", ""},
		{"/a/chain/abs/ns/hosts.toml", "data/certs/ns/hosts.toml", ""},
		{"/missing/dir/file", "missing/dir/file", ""},
		{"/", ".", ""},
		{"/a/b/up/etc/passwd", "", "/a/b/up is a symbolic link to ../../.., which leads outside --root"},
		{"/loop1/x", "", "too many levels of symbolic links"},
	}
	for _, tt := range tests {
		got, err := n.resolve(tt.path)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("resolve(%s) = %q, %v; want error %q", tt.path, got, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("resolve(%s) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

// The journal holds the original configs, credentials included: an import
// glob that would make containerd load it is refused before anything is
// written.
func TestJournalOutsideImportGlobs(t *testing.T) {
	root, _ := hostileNode(t)
	conf := "version = 2\nimports = [\"/var/lib/certsd-migrate/*\"]\n" + strings.TrimPrefix(confineConfig, "version = 2\n")
	must(t, os.WriteFile(filepath.Join(root, configPath), []byte(conf), 0o644))
	before := snapshotNode(t, root)
	err := buildAndApply(root, Options{})
	if err == nil || !strings.Contains(err.Error(), "an import glob of the config matches /var/lib/certsd-migrate/journal.json") {
		t.Fatalf("got %v", err)
	}
	checkTree(t, snapshotNode(t, root), before)
}

// A file changed by someone else since an interrupted apply is in
// neither state the journal knows: diff, apply and rollback all refuse to
// guess, naming it.
func TestJournalRefusesForeignChange(t *testing.T) {
	root, _ := hostileNode(t)
	p, err := Build(Options{Root: root})
	must(t, err)
	stop := func(step, path string) error {
		if step == "rename" && path == configPath {
			panic(crash{})
		}
		return nil
	}
	func() {
		defer func() { recover() }()
		Apply(p, ApplyOptions{fail: stop})
	}()
	must(t, os.WriteFile(filepath.Join(root, configPath), []byte("# someone else's\n"), 0o644))
	want := configPath + ": changed since the apply recorded in " + journalPath
	if _, _, err := Pending(root, ""); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Pending: %v", err)
	}
	if _, _, err := Recover(root, ""); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Recover: %v", err)
	}
	if _, err := Rollback(root, ""); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Rollback: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(root, configPath))
	must(t, err)
	if string(data) != "# someone else's\n" {
		t.Errorf("the foreign change was overwritten: %q", data)
	}
}
