// Package ansible tests the certsd_migrate.containerd collection with
// Debian's ansible-core: the registry_hosts module and the rolling_upgrade
// playbook against a simulated fleet (one node root per host,
// ansible_connection=local), ansible-doc, ansible-lint, and the module's
// documentation against its argument spec.
//
// The tests need ansible-playbook, ansible-doc and ansible-lint (installed
// by ./test.sh through ansible/install-deps.sh). Without them they skip, or
// fail when CI=true.
package ansible

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// collectionSource is the collection in this checkout.
const collectionSource = "ansible_collections/certsd_migrate/containerd"

func requireAnsible(t *testing.T) {
	t.Helper()
	for _, cmd := range []string{"ansible-playbook", "ansible", "ansible-doc", "ansible-lint"} {
		if _, err := exec.LookPath(cmd); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not found: ./test.sh installs it (ansible/install-deps.sh)", cmd)
			}
			t.Skipf("%s not found (install Debian's ansible-core and ansible-lint, or run ./test.sh as root)", cmd)
		}
	}
}

// built is the collection, copied out of the checkout with the binaries
// built into it (once per test binary: the arm64 cross-build is slow).
var built struct {
	once sync.Once
	dir  string // holds ansible_collections/
	err  error
	log  string
}

// collectionsPath returns an ANSIBLE_COLLECTIONS_PATH holding the built
// collection.
func collectionsPath(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "certsd-ansible-")
		if err != nil {
			built.err = err
			return
		}
		dst := filepath.Join(dir, collectionSource)
		if err := copyTree(collectionSource, dst); err != nil {
			built.err = err
			return
		}
		out, err := exec.Command("bash", "build.sh", filepath.Join(dst, "files")).CombinedOutput()
		built.dir, built.err, built.log = dir, err, string(out)
	})
	if built.err != nil {
		t.Fatalf("building the collection: %v\n%s", built.err, built.log)
	}
	return built.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasPrefix(info.Name(), "certsd-migrate-linux-") {
			return nil // a local build; the test builds its own
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

// ansibleRun is one ansible or ansible-playbook run.
type ansibleRun struct {
	exit   int
	output string // stdout and stderr, interleaved
}

// runAnsible runs an Ansible command with the built collection and a
// private configuration (forks 10, the system python3, temp dirs under dir).
func runAnsible(t *testing.T, dir string, env []string, name string, args ...string) ansibleRun {
	t.Helper()
	cfg := filepath.Join(dir, "ansible.cfg")
	if _, err := os.Stat(cfg); err != nil {
		writeFile(t, cfg, `[defaults]
forks = 10
interpreter_python = /usr/bin/python3
retry_files_enabled = false
nocolor = true
local_tmp = `+filepath.Join(dir, "ansible-local")+`
remote_tmp = `+filepath.Join(dir, "ansible-remote")+`
`)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"ANSIBLE_CONFIG="+cfg,
		"ANSIBLE_COLLECTIONS_PATH="+collectionsPath(t),
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_FORCE_COLOR=0",
		"NO_COLOR=1",
	)
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	run := ansibleRun{output: out.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", name, err)
		}
		run.exit = ee.ExitCode()
	}
	return run
}

// recap is one host's line of PLAY RECAP.
type recap struct {
	ok, changed, failed, skipped, ignored int
}

var recapLine = regexp.MustCompile(`(?m)^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)`)

func (r ansibleRun) recap() map[string]recap {
	m := map[string]recap{}
	for _, f := range recapLine.FindAllStringSubmatch(r.output, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(f[i]); return v }
		m[f[1]] = recap{ok: n(2), changed: n(3), failed: n(5), skipped: n(6), ignored: n(8)}
	}
	return m
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
