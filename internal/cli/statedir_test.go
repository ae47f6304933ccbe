package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStateDir: --state-dir moves the journal, the record and the lock;
// every command that uses them reads them there, and nothing goes to the
// default one.
func TestStateDir(t *testing.T) {
	root := node(t, nodeConfig)
	if code, _, stderr := runCLI("apply", "--root", root, "--state-dir", "/srv/state"); code != exitOK {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "srv/state/rollback.json")); err != nil {
		t.Errorf("no record in --state-dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/certsd-migrate")); err == nil {
		t.Error("apply --state-dir wrote the default state dir")
	}
	if r := restartState(t, "diff", "--root", root, "--state-dir", "/srv/state"); r.LastApply == nil {
		t.Error("diff --state-dir does not read the record there")
	}
	if r := restartState(t, "diff", "--root", root); r.LastApply != nil {
		t.Error("diff without --state-dir reads another state dir's record")
	}
	if code, _, stderr := runCLI("rollback", "--root", root); code != exitOK || !strings.Contains(stderr, "nothing to roll back") {
		t.Errorf("rollback of the default state dir: exit %d\n%s", code, stderr)
	}
	if code, _, _ := runCLI("rollback", "--dry-run", "--root", root, "--state-dir", "/srv/state"); code != exitChanges {
		t.Errorf("rollback --dry-run --state-dir: exit %d, want %d", code, exitChanges)
	}
	if code, _, stderr := runCLI("rollback", "--root", root, "--state-dir", "/srv/state"); code != exitOK || !strings.Contains(stderr, "rolled back") {
		t.Errorf("rollback --state-dir: exit %d\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(root, "etc/containerd/config.toml")); string(after) != nodeConfig {
		t.Errorf("rollback --state-dir did not restore the config:\n%s", after)
	}
	if code, _, stderr := runCLI("diff", "--root", root, "--state-dir", "srv/state"); code != exitError || !strings.Contains(stderr, "--state-dir must be an absolute") {
		t.Errorf("relative --state-dir: exit %d\n%s", code, stderr)
	}
}
