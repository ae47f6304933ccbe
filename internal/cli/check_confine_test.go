package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runGuarded runs the CLI and fails the test if it does not return:
// a safety net so that a regression (a FIFO read that blocks) fails the
// test instead of hanging the suite. It asserts nothing about speed.
func runGuarded(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := runCLI(args...)
		done <- result{code, stdout, stderr}
	}()
	select {
	case r := <-done:
		return r.code, r.stdout, r.stderr
	case <-time.After(2 * time.Minute):
		t.Fatalf("%v did not return (blocked reading the node?)", args)
		return 0, "", ""
	}
}

func mkfifo(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckReadsThroughTheNode: check reads the node as diff and apply do,
// so a FIFO is refused, not read (which would block for ever), and a link
// out of --root is an error naming it, not followed.
func TestCheckReadsThroughTheNode(t *testing.T) {
	t.Run("FIFO CA file", func(t *testing.T) {
		root := node(t, migratedConfig)
		writeNodeFile(t, root, "etc/containerd/certs.d/docker.io/hosts.toml",
			"server = \"https://registry-1.docker.io\"\n[host.\"https://mirror.example.com\"]\n  ca = \"/etc/containerd/certs.d/docker.io/ca.crt\"\n")
		mkfifo(t, filepath.Join(root, "etc/containerd/certs.d/docker.io/ca.crt"))
		code, stdout, stderr := runGuarded(t, "check", "--root", root)
		// Reported as an unreadable CA file, as diff reports it.
		if code != checkFindings || !strings.Contains(stdout, "cannot read CA file /etc/containerd/certs.d/docker.io/ca.crt") || !strings.Contains(stdout, "[tls-file-missing]") {
			t.Errorf("exit %d, want %d with tls-file-missing for the FIFO\n%s%s", code, checkFindings, stdout, stderr)
		}
	})
	t.Run("FIFO config", func(t *testing.T) {
		root := t.TempDir()
		mkfifo(t, filepath.Join(root, "etc/containerd/config.toml"))
		code, stdout, stderr := runGuarded(t, "check", "--root", root)
		const want = "reading /etc/containerd/config.toml: not a regular file (a FIFO); refusing to read it"
		if code != checkUnread || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, want %d and %q\n%s%s", code, checkUnread, want, stdout, stderr)
		}
	})
	// certsDirLinkedOut is a node whose certs.d links out of it.
	certsDirLinkedOut := func(t *testing.T, config string) (root, link string) {
		root = node(t, config)
		outside := t.TempDir()
		writeNodeFile(t, outside, "docker.io/hosts.toml", "server = \"https://registry-1.docker.io\"\n")
		rel, err := filepath.Rel(filepath.Join(root, "etc/containerd"), outside)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(rel, filepath.Join(root, "etc/containerd/certs.d")); err != nil {
			t.Fatal(err)
		}
		return root, rel
	}
	t.Run("certs.d link out of root", func(t *testing.T) {
		root, rel := certsDirLinkedOut(t, migratedConfig)
		code, stdout, stderr := runGuarded(t, "check", "--root", root)
		want := "/etc/containerd/certs.d is a symbolic link to " + rel + ", which leads outside --root; refusing to follow it"
		if code != checkUnread || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, want %d and %q\n%s%s", code, checkUnread, want, stdout, stderr)
		}
		// diff, which would write there, refuses the same link in the
		// same words.
		legacy, rel := certsDirLinkedOut(t, nodeConfig)
		want = "/etc/containerd/certs.d is a symbolic link to " + rel + ", which leads outside --root; refusing to follow it"
		if code, _, stderr := runGuarded(t, "diff", "--root", legacy); code != exitError || !strings.Contains(stderr, want) {
			t.Errorf("diff: exit %d, want %d and %q\n%s", code, exitError, want, stderr)
		}
		if code, _, stderr := runGuarded(t, "check", "--root", legacy); code != checkUnread || !strings.Contains(stderr, want) {
			t.Errorf("check of the legacy node: exit %d, want %d and %q\n%s", code, checkUnread, want, stderr)
		}
	})
}
