package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/certsd-migrate/certsd-migrate/migrate"
)

// These tests run the built binary as separate processes: real kills
// (strace's fault injection sends SIGKILL at a chosen system call) and
// real concurrent runs.

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "certsd-migrate-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "certsd-migrate")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/certsd-migrate/certsd-migrate").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// The node: two config files (the main one imports the second), three
// hosts files to create.
var killNodeFiles = map[string]string{
	"/etc/containerd/config.toml": `version = 2
imports = ["registry.toml"]

[plugins."io.containerd.grpc.v1.cri".registry.configs."reg.example.com".tls]
  insecure_skip_verify = true
[plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.example.com".auth]
  username = "puller"
  password = "kill-suite-secret"
`,
	"/etc/containerd/registry.toml": `version = 2

[plugins."io.containerd.grpc.v1.cri".registry.mirrors."reg.example.com"]
  endpoint = ["https://reg-mirror.example.com"]
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.example.com"]
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."quay.io"]
  endpoint = ["https://mirror.example.com/quay"]
`,
}

var killArgs = []string{"--containerd-version", "2.1"}

// gainsConfigPath is the config file whose rename switches containerd to
// the hosts files.
const gainsConfigPath = "/etc/containerd/registry.toml"

func writeKillNode(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range killNodeFiles {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// treeState describes what containerd would read: every entry's type,
// mode and content, without backups and the tool's own state directory.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		node := strings.TrimPrefix(p, root)
		switch {
		case node == migrate.StateDir:
			return filepath.SkipDir
		case (node == "/var" || node == "/var/lib") && d.IsDir():
			return nil
		case strings.Contains(node, ".certsd-migrate-") && strings.Contains(node, ".bak"):
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tree[node] = fmt.Sprintf("%v %q", fi.Mode(), data)
		} else {
			tree[node] = fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

type procResult struct {
	code           int
	killed         bool
	stdout, stderr string
}

func runProc(t *testing.T, name string, args ...string) procResult {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := procResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		// strace exits as its tracee did: 128+9 for SIGKILL.
		r.killed = r.code == 137 || r.code == -1
	case err != nil:
		t.Fatal(err)
	}
	return r
}

func copyTree(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	if out, err := exec.Command("cp", "-a", from+"/.", to).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	return to
}

// needStrace skips (or, in CI, fails) a test when strace cannot trace.
func needStrace(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("strace"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("strace is not installed (e2e/install-deps.sh installs it)")
		}
		t.Skip("strace is not installed")
	}
	// A container may forbid ptrace.
	if r := runProc(t, "strace", "-f", "-qq", "-o", "/dev/null", "true"); r.code != 0 {
		t.Skipf("strace cannot trace here: %s", r.stderr)
	}
}

// faultTrial is one syscall set to tamper with, and how.
type faultTrial struct {
	name   string // for messages
	set    string // strace syscall set
	action string // strace inject action: signal=KILL, error=ENOSPC, …
	// persistent tampers with every call from the Nth on, not only the
	// Nth.
	persistent bool
}

// faultCounts are what a fault suite saw.
type faultCounts struct {
	trials, recoveries int
	states             map[string]int
}

// runFaultTrials runs a real apply under strace once per N, tampering
// with the Nth call of the set, until an apply no longer reaches it. After
// each run the node must be as before, as after a clean apply, or hold a
// journal; never has the config its new content with a hosts file
// missing; the next apply brings it to the clean result, and rollback (on
// a copy) back to the start.
func runFaultTrials(t *testing.T, bin string, ft faultTrial, before, after map[string]string, counts *faultCounts) {
	t.Helper()
	for n := 1; n < 300; n++ {
		what := fmt.Sprintf("%s at %s #%d", ft.action, ft.name, n)
		root := writeKillNode(t)
		when := strconv.Itoa(n)
		if ft.persistent {
			when += "+"
		}
		inject := fmt.Sprintf("inject=%s:%s:when=%s", ft.set, ft.action, when)
		// GOMAXPROCS=1 keeps the count per thread close to the count per
		// process (strace counts per tracee).
		args := append([]string{"-f", "-qq", "-o", "/dev/null", "-e", inject, "env", "GOMAXPROCS=1", bin, "apply", "--root", root}, killArgs...)
		r := runProc(t, "strace", args...)
		got := treeState(t, root)
		if r.code == 0 {
			if !maps.Equal(got, after) {
				t.Errorf("%s: exit 0 but the node is not migrated", what)
			}
			if !r.killed && strings.HasPrefix(ft.action, "signal") || nothingInjected(r) {
				break // past the last such call
			}
		}
		counts.trials++
		checkBackupsWhole(t, root, what)
		_, jerr := os.Stat(filepath.Join(root, migrate.StateDir, "journal.json"))
		state := "partial"
		switch {
		case maps.Equal(got, before):
			state = "before"
		case maps.Equal(got, after):
			state = "after"
		}
		if jerr == nil {
			state += "+journal"
			counts.recoveries++
		}
		counts.states[state]++
		if state == "partial" {
			t.Errorf("%s: the node changed and there is no journal (exit %d):\n%s", what, r.code, r.stderr)
		}
		if got[gainsConfigPath] == after[gainsConfigPath] {
			for p, e := range after {
				if strings.HasSuffix(p, "/hosts.toml") && got[p] != e {
					t.Errorf("%s: config migrated, %s missing or incomplete", what, p)
				}
			}
		}
		if state == "before" {
			// Nothing to finish or undo; the trials below would only
			// repeat the clean apply.
			continue
		}
		other := copyTree(t, root)
		if jerr == nil {
			if d := runProc(t, bin, append([]string{"diff", "--root", root}, killArgs...)...); d.code != 1 || !strings.Contains(d.stderr, "was interrupted") {
				t.Errorf("%s: diff exit %d, does not report the interrupted apply:\n%s", what, d.code, d.stderr)
			}
		}
		// Every other trial, the next apply reports in JSON, as Ansible
		// would read it: finishing a partial apply is a change (only
		// committing one whose files are all written is not).
		next := append([]string{"apply", "--root", root}, killArgs...)
		if n%2 == 0 {
			next = append(next, "-o", "json")
		}
		if a := runProc(t, bin, next...); a.code != 0 {
			t.Errorf("%s: next apply: exit %d\n%s", what, a.code, a.stderr)
		} else if n%2 == 0 && state == "partial+journal" && !strings.Contains(a.stdout, `"changed": true`) {
			t.Errorf("%s: next apply -o json does not report the change:\n%s", what, a.stdout)
		} else if got := treeState(t, root); !maps.Equal(got, after) {
			t.Errorf("%s: next apply did not give the clean result:\n got %v\nwant %v", what, got, after)
		}
		if rb := runProc(t, bin, "rollback", "--root", other); rb.code != 0 {
			t.Errorf("%s: rollback: exit %d\n%s", what, rb.code, rb.stderr)
		} else if got := treeState(t, other); !maps.Equal(got, before) {
			t.Errorf("%s: rollback did not restore the node:\n got %v\nwant %v", what, got, before)
		}
	}
}

// checkBackupsWhole fails if a backup on the node is not exactly the
// original of the file it backs up: a truncated backup is worse than none.
func checkBackupsWhole(t *testing.T, root, what string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		node := strings.TrimPrefix(p, root)
		i := strings.Index(node, ".certsd-migrate-")
		if i < 0 || !strings.Contains(node[i:], ".bak") || strings.Contains(node, ".certsd-migrate-tmp-") {
			return nil // not a backup (a temporary file is nobody's backup)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if want, ok := killNodeFiles[node[:i]]; !ok || string(data) != want {
			t.Errorf("%s: backup %s is not the original of %s (%d bytes)", what, node, node[:i], len(data))
		}
		return nil
	})
}

// nothingInjected reports a run that exited 0 and printed its summary:
// the tampered call was never reached, or did not matter.
func nothingInjected(r procResult) bool {
	return r.code == 0 && strings.Contains(r.stderr, "applied: ")
}

// faultReference is the node before and after a clean apply.
func faultReference(t *testing.T, bin string) (before, after map[string]string) {
	t.Helper()
	ref := writeKillNode(t)
	before = treeState(t, ref)
	if r := runProc(t, bin, append([]string{"apply", "--root", ref}, killArgs...)...); r.code != 0 {
		t.Fatalf("clean apply: exit %d\n%s", r.code, r.stderr)
	}
	return before, treeState(t, ref)
}

// TestKillAtEverySyscall kills a real apply (SIGKILL from strace) at each
// rename, mkdir and fsync it makes, in turn (see runFaultTrials).
func TestKillAtEverySyscall(t *testing.T) {
	needStrace(t)
	bin := binary(t)
	before, after := faultReference(t, bin)
	counts := faultCounts{states: map[string]int{}}
	for _, ft := range []faultTrial{
		{name: "rename", set: "rename,renameat,renameat2", action: "signal=KILL"},
		{name: "mkdir", set: "mkdir,mkdirat", action: "signal=KILL"},
		{name: "fsync", set: "fsync,fdatasync", action: "signal=KILL"},
	} {
		runFaultTrials(t, bin, ft, before, after, &counts)
	}
	if counts.trials == 0 {
		t.Fatal("no run was killed: the injection does not work")
	}
	t.Logf("SIGKILL at each rename, mkdir and fsync of a real apply: %d trials, states %v, %d recoveries from a journal (each also rolled back on a copy)", counts.trials, counts.states, counts.recoveries)
}

// TestSyscallErrorsAtEveryStep makes a real apply's system calls fail
// (strace's error injection), once and from then on: ENOSPC on write,
// EIO on fsync, EROFS on rename and mkdir.
func TestSyscallErrorsAtEveryStep(t *testing.T) {
	needStrace(t)
	bin := binary(t)
	before, after := faultReference(t, bin)
	counts := faultCounts{states: map[string]int{}}
	for _, persistent := range []bool{false, true} {
		for _, ft := range []faultTrial{
			{name: "write", set: "write,pwrite64", action: "error=ENOSPC"},
			{name: "fsync", set: "fsync,fdatasync", action: "error=EIO"},
			{name: "rename", set: "rename,renameat,renameat2", action: "error=EROFS"},
			{name: "mkdir", set: "mkdir,mkdirat", action: "error=EROFS"},
		} {
			ft.persistent = persistent
			n := counts.trials
			runFaultTrials(t, bin, ft, before, after, &counts)
			if counts.trials == n {
				t.Errorf("%s %s (persistent %v): no run met the fault: the injection does not work", ft.name, ft.action, persistent)
			}
		}
	}
	t.Logf("ENOSPC/EIO/EROFS injected by strace at each write, fsync, rename and mkdir of a real apply, once and persistently: %d trials, states %v, %d recoveries from a journal", counts.trials, counts.states, counts.recoveries)
}

// TestConcurrentApplies runs 50 pairs of applies at once: every run that
// exits 0 leaves the node migrated, and the loser of the lock finds the
// node migrated and changes nothing.
func TestConcurrentApplies(t *testing.T) {
	bin := binary(t)
	ref := writeKillNode(t)
	if r := runProc(t, bin, append([]string{"apply", "--root", ref}, killArgs...)...); r.code != 0 {
		t.Fatalf("clean apply: exit %d\n%s", r.code, r.stderr)
	}
	after := treeState(t, ref)
	ok := 0
	for i := 0; i < 50; i++ {
		root := writeKillNode(t)
		var wg sync.WaitGroup
		results := make([]procResult, 2)
		for k := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[k] = runProc(t, bin, append([]string{"apply", "--root", root}, killArgs...)...)
			}()
		}
		wg.Wait()
		got := treeState(t, root)
		for k, r := range results {
			if r.code != 0 {
				t.Errorf("pair %d, run %d: exit %d\n%s", i, k, r.code, r.stderr)
				continue
			}
			ok++
			if !maps.Equal(got, after) {
				t.Errorf("pair %d, run %d: exit 0 but the node is not migrated:\n got %v\nwant %v", i, k, got, after)
			}
		}
	}
	t.Logf("50 pairs of concurrent applies: %d of 100 runs exited 0, each leaving the node migrated", ok)
}

// TestLockHeld: a run that cannot get the lock names the holder.
func TestLockHeld(t *testing.T) {
	root := writeKillNode(t)
	lock, err := migrate.LockNode(root, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	before := treeState(t, root)
	var stdout, stderr bytes.Buffer
	code := Run(append([]string{"apply", "--root", root, "--wait", "0s"}, killArgs...), &stdout, &stderr)
	want := fmt.Sprintf("another certsd-migrate (pid %d) is applying", os.Getpid())
	if code != exitError || !strings.Contains(stderr.String(), want) {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), want)
	}
	if got := treeState(t, root); !maps.Equal(got, before) {
		t.Errorf("the node changed")
	}
}

type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// Exit codes describe the node: an apply that wrote everything exits 0
// even when nothing can be printed (stdout and stderr on /dev/full).
func TestApplyExitCodeWithUnwritableOutput(t *testing.T) {
	root := writeKillNode(t)
	if code := Run(append([]string{"apply", "--root", root}, killArgs...), fullWriter{}, fullWriter{}); code != exitOK {
		t.Errorf("apply: exit %d, want 0", code)
	}
	if code := Run(append([]string{"diff", "--root", root}, killArgs...), fullWriter{}, fullWriter{}); code != exitOK {
		t.Errorf("diff after apply: exit %d, want 0", code)
	}
	if code := Run([]string{"rollback", "--root", root}, fullWriter{}, fullWriter{}); code != exitOK {
		t.Errorf("rollback: exit %d, want 0", code)
	}
	// diff with pending changes: the changes are pending, but a preview
	// that could not be shown is an error.
	if code := Run(append([]string{"diff", "--root", root}, killArgs...), fullWriter{}, fullWriter{}); code != exitError {
		t.Errorf("diff: exit %d, want 2", code)
	}
}

// rollback after a completed apply: the preview exits 1 and shows the
// hosts files going, rollback restores the node, then nothing is left to
// undo.
func TestRollbackAfterApply(t *testing.T) {
	root := writeKillNode(t)
	before := treeState(t, root)
	run := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := Run(append(args, "--root", root, "--color", "never"), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, _, stderr := run(append([]string{"apply"}, killArgs...)...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := run("rollback", "--dry-run")
	if code != exitChanges || !strings.Contains(stdout, "--- a/etc/containerd/certs.d/docker.io/hosts.toml\n+++ /dev/null\n") ||
		!strings.Contains(stderr, "0 files to create, 2 to modify, 3 to remove") {
		t.Errorf("rollback --dry-run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "kill-suite-secret") {
		t.Errorf("rollback --dry-run shows the password:\n%s", stdout)
	}
	if got := treeState(t, root); maps.Equal(got, before) {
		t.Fatal("rollback --dry-run rolled back")
	}
	if code, _, stderr := run("rollback"); code != exitOK || !strings.Contains(stderr, "rolled back: ") {
		t.Errorf("rollback: exit %d\n%s", code, stderr)
	}
	if got := treeState(t, root); !maps.Equal(got, before) {
		t.Errorf("rollback did not restore the node:\n got %v\nwant %v", got, before)
	}
	if code, _, stderr := run("rollback"); code != exitOK || !strings.Contains(stderr, "nothing to roll back") {
		t.Errorf("second rollback: exit %d\n%s", code, stderr)
	}
	if code, stdout, _ := run("rollback", "--dry-run"); code != exitOK || stdout != "" {
		t.Errorf("rollback --dry-run with nothing to undo: exit %d\n%s", code, stdout)
	}
	// A file edited since the apply is not overwritten.
	if code, _, stderr := run(append([]string{"apply"}, killArgs...)...); code != exitOK {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	edited := filepath.Join(root, "etc/containerd/certs.d/quay.io/hosts.toml")
	if err := os.WriteFile(edited, []byte("# mine now\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run("rollback"); code != exitError || !strings.Contains(stderr, "/etc/containerd/certs.d/quay.io/hosts.toml: changed since the apply recorded in") {
		t.Errorf("rollback over an edited file: exit %d\n%s", code, stderr)
	}
	if data, _ := os.ReadFile(edited); string(data) != "# mine now\n" {
		t.Errorf("the edit was lost")
	}
}

// An apply with nothing to write, or refused for bad input, writes
// nothing at all: not even the lock and its directory.
func TestApplyWithNothingToWriteWritesNothing(t *testing.T) {
	for name, config := range map[string]string{
		"bad input":     "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = \"not a list\"\n",
		"nothing to do": "version = 2\n",
	} {
		root := t.TempDir()
		p := filepath.Join(root, "etc/containerd/config.toml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		before := treeState(t, root)
		var stdout, stderr bytes.Buffer
		Run([]string{"apply", "--root", root}, &stdout, &stderr)
		if got := treeState(t, root); !maps.Equal(got, before) {
			t.Errorf("%s: the node changed", name)
		}
		if _, err := os.Stat(filepath.Join(root, "var")); err == nil {
			t.Errorf("%s: apply created /var (%s)", name, stderr.String())
		}
	}
}
