package ansible

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"
)

// A fleet host: a node root laid out from a golden case's in/ files.
type fleetHost struct {
	name string
	// golden case under ../golden/testdata; "" for a node with no
	// containerd config at all (containerd on its defaults).
	golden string
	// fails: preflight refuses the node (its message must contain this).
	fails string
}

// The simulated fleet: every kind of node the issue names.
var fleet = []fleetHost{
	{name: "plain-1", golden: "v2-dotted-keys"},
	{name: "plain-2", golden: "endpoint-schemeless"},
	{name: "plain-3", golden: "v2-inline-tables"},
	{name: "mtls", golden: "mtls-direct"},
	{name: "tls-auth-1", golden: "v2-docker-hub-mirror-tls-auth"},
	{name: "tls-auth-2", golden: "v2-docker-hub-mirror-tls-auth"},
	{name: "auth", golden: "configs-before-mirrors"},
	{name: "migrated-1", golden: "already-migrated"},
	{name: "migrated-2", golden: "already-migrated"},
	{name: "syntax-error", golden: "malformed-toml", fails: "/etc/containerd/config.toml:4:43: invalid TOML"},
	{name: "user-file", golden: "half-migrated-conflict", fails: "was not written by certsd-migrate"},
	{name: "imports-1", golden: "imports-glob-dropin"},
	{name: "imports-2", golden: "imports-glob-dropin"},
	{name: "k3s-1", golden: "k3s-auth-keep"},
	{name: "k3s-2", golden: "k3s-auth-keep"},
	{name: "v1-1", golden: "v1-plugins-cri"},
	{name: "v1-2", golden: "v1-plugins-cri"},
	{name: "v3-1", golden: "v3-images-plugin"},
	{name: "v3-2", golden: "v3-images-plugin"},
	{name: "wildcard", golden: "wildcard-only"},
	{name: "root-path", golden: "endpoint-path-override"},
	{name: "defaults"},
}

// Credentials in the fleet's inputs: never printed.
var fleetSecrets = []string{"s3cr3t-pa55", "dXNlcjpwYXNz", "hunter2"}

// fakeContainerd stands in for systemctl and crictl: "restart" records a
// start time (and fails while the node holds a fail-restart file);
// "health" answers once containerd has started.
const fakeContainerd = `#!/bin/sh
set -eu
root=$2
case $1 in
restart)
	if [ -e "$root/fail-restart" ]; then
		echo "fake containerd: failed to start" >&2
		exit 1
	fi
	mkdir -p "$root/run"
	date -u +%Y-%m-%dT%H:%M:%S.%NZ > "$root/run/containerd.started.tmp"
	mv "$root/run/containerd.started.tmp" "$root/run/containerd.started"
	echo restarted >> "$root/run/restarts"
	;;
health)
	test -s "$root/run/containerd.started"
	;;
esac
`

type goldenCase struct {
	args  []string
	in    map[string]string // node path -> content
	want  map[string]string // node path -> content after apply
	exit  string
	files *txtar.Archive
}

func loadGolden(t *testing.T, name string) goldenCase {
	t.Helper()
	a, err := txtar.ParseFile(filepath.Join("..", "golden", "testdata", name+".txtar"))
	if err != nil {
		t.Fatal(err)
	}
	c := goldenCase{in: map[string]string{}, want: map[string]string{}, files: a}
	for _, f := range a.Files {
		switch {
		case f.Name == "args":
			c.args = strings.Fields(string(f.Data))
		case strings.HasPrefix(f.Name, "in/"):
			c.in[strings.TrimPrefix(f.Name, "in")] = string(f.Data)
		case strings.HasPrefix(f.Name, "want/"):
			c.want[strings.TrimPrefix(f.Name, "want")] = string(f.Data)
		case f.Name == "want.exit":
			c.exit = strings.TrimSpace(string(f.Data))
		}
	}
	return c
}

// hostVars turns a golden case's flags into the playbook's certsd_*
// variables.
func hostVars(t *testing.T, args []string) map[string]any {
	vars := map[string]any{}
	for i := 0; i < len(args); i++ {
		name := "certsd_" + strings.ReplaceAll(strings.TrimPrefix(args[i], "--"), "-", "_")
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			vars[name] = args[i+1]
			i++
		} else {
			vars[name] = true
		}
	}
	return vars
}

// simFleet is a fleet laid out under dir.
type simFleet struct {
	dir   string
	hosts []fleetHost
	cases map[string]goldenCase
}

func (f *simFleet) root(host string) string { return filepath.Join(f.dir, "nodes", host) }

// newFleet lays out one node root per host and an inventory whose restart
// and health commands are the fake containerd.
func newFleet(t *testing.T, hosts []fleetHost, extraVars string) *simFleet {
	t.Helper()
	f := &simFleet{dir: t.TempDir(), hosts: hosts, cases: map[string]goldenCase{}}
	fake := filepath.Join(f.dir, "fake-containerd")
	writeFile(t, fake, fakeContainerd)
	started := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	var inv strings.Builder
	inv.WriteString("all:\n  children:\n    containerd:\n      hosts:\n")
	for _, h := range hosts {
		root := f.root(h.name)
		// Every node's containerd "started" an hour ago.
		writeFile(t, filepath.Join(root, "run/containerd.started"), started+"\n")
		vars := map[string]any{"ansible_connection": "local", "certsd_root": root}
		if h.golden != "" {
			c := loadGolden(t, h.golden)
			f.cases[h.name] = c
			for p, data := range c.in {
				writeFile(t, filepath.Join(root, p), data)
			}
			for k, v := range hostVars(t, c.args) {
				vars[k] = v
			}
		}
		js, _ := json.Marshal(vars) // JSON is YAML
		fmt.Fprintf(&inv, "        %s: %s\n", h.name, js)
	}
	fmt.Fprintf(&inv, `      vars:
        certsd_restart_command: "sh %[1]s restart {{ certsd_root }}"
        certsd_health_command: "sh %[1]s health {{ certsd_root }}"
        certsd_health_retries: 2
        certsd_health_delay: 0
        certsd_report_path: %[2]s
        certsd_containerd_started_at: "{{ lookup('ansible.builtin.file', certsd_root ~ '/run/containerd.started') }}"
%[3]s`, fake, filepath.Join(f.dir, "report.json"), extraVars)
	writeFile(t, filepath.Join(f.dir, "inventory.yml"), inv.String())
	return f
}

func (f *simFleet) playbook(t *testing.T, args ...string) ansibleRun {
	t.Helper()
	return runAnsible(t, f.dir, nil, "ansible-playbook",
		append([]string{"-i", "inventory.yml", "certsd_migrate.containerd.rolling_upgrade"}, args...)...)
}

// report reads the fleet report the playbook wrote in run.
func (f *simFleet) report(t *testing.T, run ansibleRun) map[string]hostReport {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, "report.json"))
	if err != nil {
		t.Fatalf("no fleet report: %v\n%s", err, run.output)
	}
	var r map[string]hostReport
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("fleet report: %v\n%s", err, data)
	}
	return r
}

type hostReport struct {
	Reached         bool     `json:"reached"`
	CheckMode       bool     `json:"check_mode"`
	Changed         bool     `json:"changed"`
	Warnings        []string `json:"warnings"`
	RestartRequired bool     `json:"restart_required"`
	Restarted       bool     `json:"restarted"`
	Error           *string  `json:"error"`
	ErrorPosition   *struct {
		File   string `json:"file"`
		Line   int    `json:"line"`
		Column int    `json:"column"`
		Kind   string `json:"kind"`
	} `json:"error_position"`
}

// checksums maps every file under dir to its content hash and mode.
func checksums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			sums[rel+"/"] = info.Mode().String()
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(data)
		sums[rel] = hex.EncodeToString(h[:]) + " " + info.Mode().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func diffSums(before, after map[string]string) []string {
	var d []string
	for p, s := range before {
		if after[p] != s {
			d = append(d, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			d = append(d, p+" (new)")
		}
	}
	sort.Strings(d)
	return d
}

func restarts(t *testing.T, root string) int {
	data, err := os.ReadFile(filepath.Join(root, "run/restarts"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n")
}

// changes reports whether the host's golden case migrates something.
func (f *simFleet) changes(h fleetHost) bool {
	return h.golden != "" && f.cases[h.name].exit == "1"
}

func TestFleetRollingUpgrade(t *testing.T) {
	requireAnsible(t)
	f := newFleet(t, fleet, "")
	nodes := filepath.Join(f.dir, "nodes")

	// --check --diff: a preview that writes nothing and shows redacted diffs.
	before := checksums(t, nodes)
	check := f.playbook(t, "--check", "--diff")
	if changed := diffSums(before, checksums(t, nodes)); len(changed) > 0 {
		t.Errorf("--check wrote to the nodes: %v", changed)
	}
	if check.exit == 0 {
		t.Errorf("--check: exit 0 with two broken nodes\n%s", check.output)
	}
	for _, want := range []string{
		"--- before: /etc/containerd/config.toml",
		"+++ after: /etc/containerd/certs.d/docker.io/hosts.toml",
		`password = "<redacted>"`,
		"[auth-kept-in-config]",
	} {
		if !strings.Contains(check.output, want) {
			t.Errorf("--check --diff output lacks %q", want)
		}
	}
	for _, secret := range fleetSecrets {
		if strings.Contains(check.output, secret) {
			t.Errorf("--check --diff printed the secret %q", secret)
		}
	}
	checkRecap := check.recap()
	checkReport := f.report(t, check)
	for _, h := range f.hosts {
		r, rep := checkRecap[h.name], checkReport[h.name]
		switch {
		case h.fails != "":
			if r.failed != 1 || rep.Error == nil || !strings.Contains(*rep.Error, h.fails) {
				t.Errorf("%s: --check: want a failure with %q; recap %+v, report %+v", h.name, h.fails, r, rep)
			}
		case f.changes(h):
			if r.changed == 0 || !rep.Changed || !rep.CheckMode {
				t.Errorf("%s: --check: want changes planned; recap %+v, report %+v", h.name, r, rep)
			}
		default:
			if r.changed != 0 || r.failed != 0 || rep.Changed {
				t.Errorf("%s: --check: want nothing to do; recap %+v, report %+v", h.name, r, rep)
			}
		}
	}
	if t.Failed() {
		t.Logf("--check output:\n%s", check.output)
	}
	syntax := checkReport["syntax-error"].ErrorPosition
	if syntax == nil || syntax.File != "/etc/containerd/config.toml" || syntax.Line != 4 || syntax.Column != 43 {
		t.Errorf("syntax-error: error position %+v, want /etc/containerd/config.toml:4:43", syntax)
	}

	// A real run migrates every good node and restarts its containerd.
	apply := f.playbook(t)
	if apply.exit == 0 {
		t.Errorf("apply: exit 0 with two broken nodes")
	}
	applyRecap := apply.recap()
	for _, h := range f.hosts {
		root := f.root(h.name)
		r := applyRecap[h.name]
		switch {
		case h.fails != "":
			if r.failed != 1 {
				t.Errorf("%s: apply: recap %+v, want failed", h.name, r)
			}
			if !strings.Contains(apply.output, h.fails) {
				t.Errorf("%s: apply output lacks %q", h.name, h.fails)
			}
		case f.changes(h):
			for p, want := range f.cases[h.name].want {
				got, err := os.ReadFile(filepath.Join(root, p))
				if err != nil || string(got) != want {
					t.Errorf("%s: %s after the rollout:\n%s\nwant:\n%s (%v)", h.name, p, got, want, err)
				}
			}
			if n := restarts(t, root); n != 1 {
				t.Errorf("%s: containerd restarted %d times, want 1", h.name, n)
			}
		default:
			if n := restarts(t, root); n != 0 {
				t.Errorf("%s: nothing migrated but containerd restarted %d times", h.name, n)
			}
		}
	}
	for _, h := range f.hosts {
		if h.fails != "" {
			if changed := diffSums(before, checksums(t, nodes)); containsPrefix(changed, filepath.Join(h.name)+"/") {
				t.Errorf("%s: a node that failed preflight was written: %v", h.name, changed)
			}
		}
	}
	if backups, _ := filepath.Glob(filepath.Join(f.root("plain-1"), "etc/containerd/config.toml.certsd-migrate-*.bak")); len(backups) != 1 {
		t.Errorf("plain-1: backups %v, want one", backups)
	}
	if t.Failed() {
		t.Logf("apply output:\n%s", apply.output)
	}

	// A second run changes nothing anywhere and restarts nothing.
	afterApply := checksums(t, nodes)
	again := f.playbook(t)
	for host, r := range again.recap() {
		if r.changed != 0 {
			t.Errorf("%s: second run changed=%d", host, r.changed)
		}
	}
	if changed := diffSums(afterApply, checksums(t, nodes)); len(changed) > 0 {
		t.Errorf("second run wrote %v", changed)
	}
	if t.Failed() {
		t.Logf("second run output:\n%s", again.output)
	}
}

func containsPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestStoppedRollout: a batch in which containerd fails to come back on one
// node stops the rollout (max_fail_percentage 0). The nodes that batch
// already migrated are restarted before it stops, later batches are never
// touched, the report says so, and the next run restarts the node the
// failure left migrated but not restarted.
func TestStoppedRollout(t *testing.T) {
	requireAnsible(t)
	var hosts []fleetHost
	cases := []string{"v2-dotted-keys", "v2-docker-hub-mirror-tls-auth", "v1-plugins-cri"}
	for i := 1; i <= 9; i++ {
		hosts = append(hosts, fleetHost{name: fmt.Sprintf("node-%d", i), golden: cases[i%len(cases)]})
	}
	f := newFleet(t, hosts, "        certsd_serial: 3\n")
	broken := f.root("node-5") // batch 2 of 3
	writeFile(t, filepath.Join(broken, "fail-restart"), "")
	untouched := map[string]map[string]string{}
	for _, h := range hosts[6:] {
		untouched[h.name] = checksums(t, f.root(h.name))
	}

	first := f.playbook(t)
	if first.exit == 0 {
		t.Fatalf("the rollout did not stop:\n%s", first.output)
	}
	for _, h := range hosts[:6] {
		want := 1
		if h.name == "node-5" {
			want = 0
		}
		if n := restarts(t, f.root(h.name)); n != want {
			t.Errorf("%s: restarted %d times in the stopped rollout, want %d", h.name, n, want)
		}
	}
	for _, h := range hosts[6:] {
		if changed := diffSums(untouched[h.name], checksums(t, f.root(h.name))); len(changed) > 0 {
			t.Errorf("%s: the stopped rollout touched a later batch: %v", h.name, changed)
		}
	}
	if !pending(t, f, "node-5") {
		t.Errorf("node-5: the tool does not report the failed restart as pending")
	}
	rep := f.report(t, first)
	if e := rep["node-5"].Error; e == nil || !strings.Contains(*e, "containerd restart failed") {
		t.Errorf("node-5: report error %v, want the failed restart", e)
	}
	if rep["node-8"].Reached || !rep["node-2"].Reached || !rep["node-4"].Restarted {
		t.Errorf("report: node-8 %+v, node-2 %+v, node-4 %+v", rep["node-8"], rep["node-2"], rep["node-4"])
	}
	if t.Failed() {
		t.Logf("stopped rollout:\n%s", first.output)
	}

	// Fixed, the next run finishes: no node is left migrated but not restarted.
	if err := os.Remove(filepath.Join(broken, "fail-restart")); err != nil {
		t.Fatal(err)
	}
	second := f.playbook(t)
	if second.exit != 0 {
		t.Errorf("second rollout: exit %d\n%s", second.exit, second.output)
	}
	for _, h := range hosts {
		if pending(t, f, h.name) {
			t.Errorf("%s: migrated but containerd not restarted since", h.name)
		}
		if n := restarts(t, f.root(h.name)); n != 1 {
			t.Errorf("%s: restarted %d times over both runs, want 1", h.name, n)
		}
		for p, want := range f.cases[h.name].want {
			if got, _ := os.ReadFile(filepath.Join(f.root(h.name), p)); string(got) != want {
				t.Errorf("%s: %s not migrated", h.name, p)
			}
		}
	}
	if t.Failed() {
		t.Logf("second rollout:\n%s", second.output)
	}
}

// pending asks the tool whether the node was migrated after its containerd
// started.
func pending(t *testing.T, f *simFleet, host string) bool {
	t.Helper()
	root := f.root(host)
	started, err := os.ReadFile(filepath.Join(root, "run/containerd.started"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(collectionsPath(t), collectionSource, "files", "certsd-migrate-linux-"+runtime.GOARCH)
	args := append([]string{"diff", "-o", "json", "--root", root, "--containerd-started-at", strings.TrimSpace(string(started))}, f.cases[host].args...)
	out, err := exec.Command(bin, args...).Output()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 0) {
		t.Fatalf("%s: certsd-migrate %v: %v\n%s", host, args, err, out)
	}
	var r struct {
		RestartPending *bool `json:"restart_pending"`
	}
	if err := json.Unmarshal(out, &r); err != nil || r.RestartPending == nil {
		t.Fatalf("%s: no restart_pending in %s (%v)", host, out, err)
	}
	return *r.RestartPending
}
