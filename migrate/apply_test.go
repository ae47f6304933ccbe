package migrate

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The node in these tests has one config file, mode 0640. The migration
// creates a hosts file and a client key in a new directory, then modifies
// config.toml, backing it up. The modified file comes last so that a check
// that stopped at the first file would be caught writing the others.
const (
	configPath = "/etc/containerd/config.toml"
	hostsPath  = "/etc/containerd/certs.d/docker.io/hosts.toml"
	keyPath    = "/etc/containerd/certs.d/docker.io/client.key"
	backupPath = configPath + ".certsd-migrate-20250102T020405Z.bak"

	oldConfig = "version = 2\n# password = \"old-secret\"\n"
	newConfig = "version = 2\nconfig_path = \"/etc/containerd/certs.d\"\n"
	hostsTOML = "server = \"https://registry-1.docker.io\"\n"
	clientKey = "-----BEGIN PRIVATE KEY-----\nSECRET-KEY\n"
)

// applyClock is the clock for backup names, in a zone other than UTC to
// show that the names are in UTC.
func applyClock() time.Time {
	return time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
}

type nodeFile struct {
	content string
	mode    fs.FileMode
}

func nodeBefore() map[string]nodeFile {
	return map[string]nodeFile{configPath: {oldConfig, 0o640}}
}

func migration(root string) *Plan {
	return &Plan{Root: root, Files: []FileChange{
		{Path: hostsPath, Kind: HostsKind, Action: Create, After: []byte(hostsTOML), Mode: 0o644},
		{Path: keyPath, Kind: HostsKind, Action: Create, After: []byte(clientKey), Mode: 0o600},
		{Path: configPath, Kind: ConfigKind, Action: Modify, Before: []byte(oldConfig), After: []byte(newConfig), Mode: 0o640, Backup: true},
	}}
}

// Entries of a tree snapshot.
const dir755 = "dir 0755"

func file(mode fs.FileMode, content string) string {
	return fmt.Sprintf("file %04o %q", mode, content)
}

// treeBefore is the snapshot of a node made from nodeBefore.
func treeBefore() map[string]string {
	return map[string]string{
		"/etc":            dir755,
		"/etc/containerd": dir755,
		configPath:        file(0o640, oldConfig),
	}
}

// treeAfter is the snapshot of a node after the migration, without backup.
func treeAfter() map[string]string {
	return map[string]string{
		"/etc":                              dir755,
		"/etc/containerd":                   dir755,
		"/etc/containerd/certs.d":           dir755,
		"/etc/containerd/certs.d/docker.io": dir755,
		hostsPath:                           file(0o644, hostsTOML),
		keyPath:                             file(0o600, clientKey),
		configPath:                          file(0o640, newConfig),
	}
}

func with(tree map[string]string, entries ...string) map[string]string {
	tree = maps.Clone(tree)
	for i := 0; i < len(entries); i += 2 {
		tree[entries[i]] = entries[i+1]
	}
	return tree
}

// writeNode makes a node root holding files, with directories 0755.
func writeNode(t *testing.T, files map[string]nodeFile) string {
	t.Helper()
	root := t.TempDir()
	for path, f := range files {
		p := filepath.Join(root, path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(f.content), f.mode))
		must(t, os.Chmod(p, f.mode))
	}
	must(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == root {
			return err
		}
		return os.Chmod(path, 0o755)
	}))
	return root
}

// snapshotNode describes every entry under root: type, mode and content.
// Comparing two snapshots catches any change, including temporary files
// left behind.
func snapshotNode(t *testing.T, root string) map[string]string {
	t.Helper()
	tree := make(map[string]string)
	must(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		node := strings.TrimPrefix(path, root)
		// The journal's directory is the tool's own state, not the node's
		// configuration; the tests of the journal look at it themselves.
		if node == StateDir {
			return filepath.SkipDir
		}
		if (node == "/var" || node == "/var/lib") && d.IsDir() {
			return nil
		}
		switch {
		case d.IsDir():
			tree[node] = fmt.Sprintf("dir %04o", fi.Mode().Perm())
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			tree[node] = file(fi.Mode().Perm(), string(b))
		default:
			tree[node] = fi.Mode().String()
		}
		return nil
	}))
	return tree
}

func checkTree(t *testing.T, got, want map[string]string) {
	t.Helper()
	for _, path := range slices.Sorted(maps.Keys(want)) {
		if got[path] != want[path] {
			t.Errorf("%s: got %s, want %s", path, orNone(got[path]), want[path])
		}
	}
	for _, path := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[path]; !ok {
			t.Errorf("%s: unexpected %s", path, got[path])
		}
	}
}

func orNone(entry string) string {
	if entry == "" {
		return "nothing"
	}
	return entry
}

// withUmask shows that modes do not depend on the umask: 0077 would turn
// 0644 into 0600 and directories into 0700.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestApply(t *testing.T) {
	withUmask(t, 0o077)
	tests := []struct {
		name        string
		extra       map[string]nodeFile // on the node besides config.toml
		plan        func(root string) *Plan
		opts        ApplyOptions
		want        map[string]string
		wantWritten []string
		wantBackups []string
	}{{
		name:        "creates and modifies with backup",
		plan:        migration,
		opts:        ApplyOptions{Now: applyClock},
		want:        with(treeAfter(), backupPath, file(0o640, oldConfig)),
		wantWritten: []string{hostsPath, keyPath, configPath},
		wantBackups: []string{backupPath},
	}, {
		name:        "no backup",
		plan:        migration,
		opts:        ApplyOptions{Now: applyClock, NoBackup: true},
		want:        treeAfter(),
		wantWritten: []string{hostsPath, keyPath, configPath},
	}, {
		name: "backup name taken",
		extra: map[string]nodeFile{
			backupPath:        {"older", 0o600},
			backupPath + ".1": {"oldest", 0o600},
		},
		plan: migration,
		opts: ApplyOptions{Now: applyClock},
		want: with(treeAfter(),
			backupPath, file(0o600, "older"),
			backupPath+".1", file(0o600, "oldest"),
			backupPath+".2", file(0o640, oldConfig)),
		wantWritten: []string{hostsPath, keyPath, configPath},
		wantBackups: []string{backupPath + ".2"},
	}, {
		name: "unchanged files are not written",
		plan: func(root string) *Plan {
			p := migration(root)
			for i := range p.Files {
				p.Files[i].Action = Unchanged
			}
			return p
		},
		want: treeBefore(),
	}, {
		name: "empty file modified",
		extra: map[string]nodeFile{
			hostsPath: {"", 0o644},
		},
		plan: func(root string) *Plan {
			return &Plan{Root: root, Files: []FileChange{
				{Path: hostsPath, Action: Modify, Before: nil, After: []byte(hostsTOML), Mode: 0o644, Backup: true},
			}}
		},
		opts: ApplyOptions{Now: applyClock},
		want: with(treeBefore(),
			"/etc/containerd/certs.d", dir755,
			"/etc/containerd/certs.d/docker.io", dir755,
			hostsPath, file(0o644, hostsTOML),
			hostsPath+".certsd-migrate-20250102T020405Z.bak", file(0o644, "")),
		wantWritten: []string{hostsPath},
		wantBackups: []string{hostsPath + ".certsd-migrate-20250102T020405Z.bak"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := nodeBefore()
			maps.Copy(files, tt.extra)
			root := writeNode(t, files)
			res, err := Apply(tt.plan(root), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkTree(t, snapshotNode(t, root), tt.want)
			if !slices.Equal(res.Written, tt.wantWritten) {
				t.Errorf("Written = %q, want %q", res.Written, tt.wantWritten)
			}
			if !slices.Equal(res.Backups, tt.wantBackups) {
				t.Errorf("Backups = %q, want %q", res.Backups, tt.wantBackups)
			}
		})
	}
}

func TestApplyKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file away needs root")
	}
	root := writeNode(t, nodeBefore())
	must(t, os.Chown(filepath.Join(root, configPath), 1234, 1234))
	if _, err := Apply(migration(root), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkOwner(t, root, configPath, 1234)
	checkOwner(t, root, hostsPath, 0)
}

func checkOwner(t *testing.T, root, path string, id uint32) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(root, path))
	must(t, err)
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != id || st.Gid != id {
		t.Errorf("%s: owner %d:%d, want %d:%d", path, st.Uid, st.Gid, id, id)
	}
}

var errInjected = errors.New("injected failure")

// failAt returns a test hook failing the given step on path.
func failAt(step, path string) func(string, string) error {
	return func(s, p string) error {
		if s == step && p == path {
			return errInjected
		}
		return nil
	}
}

func TestApplyRollsBack(t *testing.T) {
	withUmask(t, 0o077)
	tests := []struct {
		name string
		fail func(step, path string) error
	}{
		// The directories are made, no file is written.
		{"before the first file", failAt("write", hostsPath)},
		// Two files created, config.toml backed up but not replaced.
		{"between files", failAt("write", configPath)},
		// Everything written.
		{"after the last file", failAt("wrote", configPath)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeNode(t, nodeBefore())
			root0 := os.Geteuid() == 0
			if root0 {
				must(t, os.Chown(filepath.Join(root, configPath), 1234, 1234))
			}
			before := snapshotNode(t, root)

			_, err := Apply(migration(root), ApplyOptions{Now: applyClock, fail: tt.fail})
			if !errors.Is(err, errInjected) {
				t.Fatalf("got error %v, want the injected one", err)
			}
			if !strings.Contains(err.Error(), "the node was restored") {
				t.Errorf("error %q does not say the node was restored", err)
			}
			checkNoSecrets(t, err)
			checkTree(t, snapshotNode(t, root), before)
			if root0 {
				checkOwner(t, root, configPath, 1234)
			}
		})
	}
}

// A rollback stops at the first step it cannot undo: what came before it
// (here the hosts file beside the key, and the directories) stays, so the
// node is never less migrated than its config says.
func TestApplyReportsFailedRollback(t *testing.T) {
	root := writeNode(t, nodeBefore())
	fail := func(step, path string) error {
		if step == "wrote" && path == configPath || step == "undo" && path == keyPath {
			return errInjected
		}
		return nil
	}
	_, err := Apply(migration(root), ApplyOptions{Now: applyClock, fail: fail})
	if !errors.Is(err, errInjected) {
		t.Fatalf("got error %v, want the injected one", err)
	}
	for _, want := range []string{
		"writing " + configPath + ": injected failure; restoring the node failed",
		"\n\t" + keyPath + ": created file not removed (injected failure)",
		"\n\t" + hostsPath + ": left as apply made it",
		"\n\t/etc/containerd/certs.d/docker.io: left as apply made it",
		"\n\t/etc/containerd/certs.d: left as apply made it",
		"`certsd-migrate rollback` restores them",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n\t"); n != 4 {
		t.Errorf("error lists %d paths, want 4:\n%v", n, err)
	}
	checkNoSecrets(t, err)
	// The config is restored (it was undone first), the hosts files stay.
	checkTree(t, snapshotNode(t, root), with(treeBefore(),
		"/etc/containerd/certs.d", dir755,
		"/etc/containerd/certs.d/docker.io", dir755,
		hostsPath, file(0o644, hostsTOML),
		keyPath, file(0o600, clientKey)))
	// The journal lets rollback finish the job.
	if _, err := Rollback(root, ""); err != nil {
		t.Fatal(err)
	}
	checkTree(t, snapshotNode(t, root), treeBefore())
}

// A directory appearing where a file is to be created is caught just
// before the rename: the temporary file goes, and the directory, not
// ours, stays.
func TestApplyLeavesNoTempFile(t *testing.T) {
	root := writeNode(t, nodeBefore())
	race := func(step, path string) error {
		if step == "write" && path == hostsPath {
			return os.Mkdir(filepath.Join(root, hostsPath), 0o755)
		}
		return nil
	}
	_, err := Apply(migration(root), ApplyOptions{fail: race})
	want := "writing " + hostsPath + ": changed while apply ran, refusing to replace it: changed since the preview"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got error %v, want one starting %q", err, want)
	}
	want = "; restoring the node failed, these paths are not as they were:\n" +
		"\t/etc/containerd/certs.d/docker.io: created directory not removed (directory not empty)\n" +
		"\t/etc/containerd/certs.d: left as apply made it\n"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q\ndoes not end %q", err, want)
	}
	checkTree(t, snapshotNode(t, root), with(treeBefore(),
		"/etc/containerd/certs.d", dir755,
		"/etc/containerd/certs.d/docker.io", dir755,
		hostsPath, dir755))
}

func TestApplyRefusesStalePlan(t *testing.T) {
	tests := []struct {
		name    string
		change  func(root string) error // after planning
		wantErr string
	}{{
		name: "modified file edited",
		change: func(root string) error {
			return os.WriteFile(filepath.Join(root, configPath), []byte("edited"), 0o640)
		},
		wantErr: configPath + ": changed since the preview; run again",
	}, {
		name:    "modified file removed",
		change:  func(root string) error { return os.Remove(filepath.Join(root, configPath)) },
		wantErr: configPath + ": changed since the preview; run again",
	}, {
		name: "created file appeared",
		change: func(root string) error {
			p := filepath.Join(root, keyPath)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			return os.WriteFile(p, []byte(clientKey), 0o600)
		},
		wantErr: keyPath + ": changed since the preview; run again",
	}, {
		name: "modified file replaced by a symlink",
		change: func(root string) error {
			p := filepath.Join(root, configPath)
			if err := os.Rename(p, p+".real"); err != nil {
				return err
			}
			return os.Symlink("config.toml.real", p)
		},
		wantErr: configPath + ": not a regular file (a symlink?); refusing to replace it",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeNode(t, nodeBefore())
			p := migration(root)
			must(t, tt.change(root))
			before := snapshotNode(t, root)

			_, err := Apply(p, ApplyOptions{})
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
			checkNoSecrets(t, err)
			checkTree(t, snapshotNode(t, root), before)
		})
	}
}

func TestApplyRejectsBadPlan(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(p *Plan)
		wantErr string
	}{{
		name:    "unknown action",
		edit:    func(p *Plan) { p.Files[1].Action = "delete" },
		wantErr: keyPath + `: unknown plan action "delete"`,
	}, {
		name:    "no mode",
		edit:    func(p *Plan) { p.Files[1].Mode = 0 },
		wantErr: keyPath + ": the plan gives the file no permissions",
	}, {
		name:    "file listed twice",
		edit:    func(p *Plan) { p.Files[1].Path = hostsPath },
		wantErr: hostsPath + ": listed twice in the plan",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeNode(t, nodeBefore())
			p := migration(root)
			tt.edit(p)
			_, err := Apply(p, ApplyOptions{})
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
			checkTree(t, snapshotNode(t, root), treeBefore())
		})
	}
}

// checkNoSecrets fails if err shows any file content.
func checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	for _, content := range []string{"old-secret", "SECRET-KEY", "config_path", "registry-1"} {
		if strings.Contains(err.Error(), content) {
			t.Errorf("error shows file content %q: %v", content, err)
		}
	}
}

// Under persistent faults the backup is the only copy of the original
// outside the journal: a rollback that could not restore the config keeps
// it, and says so.
func TestFailedRollbackKeepsBackup(t *testing.T) {
	root := writeNode(t, nodeBefore())
	fail := func(step, path string) error {
		if (step == "wrote" || step == "undo") && path == configPath {
			return errInjected
		}
		return nil
	}
	_, err := Apply(migration(root), ApplyOptions{Now: applyClock, fail: fail})
	if err == nil || !strings.Contains(err.Error(), backupPath+": backup kept, the original is not restored") {
		t.Fatalf("got %v", err)
	}
	got := snapshotNode(t, root)
	if got[backupPath] != file(0o640, oldConfig) {
		t.Errorf("backup: %s", orNone(got[backupPath]))
	}
	if got[configPath] != file(0o640, newConfig) {
		t.Errorf("config: %s", orNone(got[configPath]))
	}
}

// A removal whose directory could not be synced is reported as done but
// not durable, not as "not removed".
func TestRollbackReportsUndurableRemoval(t *testing.T) {
	root := writeNode(t, nodeBefore())
	fail := func(step, path string) error {
		if step == "wrote" && path == configPath || step == "undo-dirsync" && path == filepath.Dir(hostsPath) {
			return errInjected
		}
		return nil
	}
	_, err := Apply(migration(root), ApplyOptions{Now: applyClock, fail: fail})
	want := hostsPath + ": removed, but the removal may not survive a crash (injected failure)"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), hostsPath+": created file not removed") {
		t.Fatalf("got %v\nwant it to contain %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(root, hostsPath)); err == nil {
		t.Errorf("%s is still there", hostsPath)
	}
}
