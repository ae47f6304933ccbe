package migrate

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// The fault suite's node: two config files (the main one imports the
// second) and three hosts files to create, so an apply makes directories,
// hosts files, backups and two config renames.
var faultNodeFiles = map[string]string{
	"/etc/containerd/config.toml": `version = 2
imports = ["registry.toml"]

[plugins."io.containerd.grpc.v1.cri".registry.configs."reg.example.com".tls]
  insecure_skip_verify = true
[plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.example.com".auth]
  username = "puller"
  password = "fault-suite-secret"
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

// gainsConfigPath is the config file whose rename switches containerd to
// the hosts files.
const gainsConfigPath = "/etc/containerd/registry.toml"

func writeFaultNode(t *testing.T) string {
	t.Helper()
	files := map[string]nodeFile{}
	for p, c := range faultNodeFiles {
		files[p] = nodeFile{c, 0o640}
	}
	return writeNode(t, files)
}

func buildFaultPlan(t *testing.T, root string) *Plan {
	t.Helper()
	target, err := convert.ParseTarget("2.1")
	must(t, err)
	p, err := Build(Options{Root: root, Options: convert.Options{Target: target}})
	must(t, err)
	return p
}

// configSnapshot is the node without backups: what containerd reads.
func configSnapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	tree := snapshotNode(t, root)
	maps.DeleteFunc(tree, func(p, _ string) bool { return strings.Contains(p, ".certsd-migrate-") && strings.Contains(p, ".bak") })
	return tree
}

// crash is what the fault hook panics with to stop Apply where it stands,
// as SIGKILL would: no rollback, no deferred cleanup of the journal.
type crash struct{}

// faultReference runs one clean apply, counting its steps, and returns
// the node before and after it.
func faultReference(t *testing.T) (before, after map[string]string, steps []string, plan *Plan) {
	t.Helper()
	root := writeFaultNode(t)
	before = configSnapshot(t, root)
	plan = buildFaultPlan(t, root)
	count := func(step, path string) error {
		steps = append(steps, step+" "+path)
		return nil
	}
	res, err := Apply(plan, ApplyOptions{Now: applyClock, fail: count})
	must(t, err)
	after = configSnapshot(t, root)
	rec, err := LastApply(root, "")
	if err != nil || rec == nil {
		t.Fatalf("no record of the apply: %v", err)
	}
	if rec.Config != plan.ConfigFile || !rec.ConfigChangedAt.Equal(applyClock().UTC()) || !slices.Equal(rec.Files, res.Written) || res.Record == nil || !res.Record.Time.Equal(rec.Time) {
		t.Errorf("record of the apply = %+v, want config %s changed at %v, files %v", rec, plan.ConfigFile, applyClock(), res.Written)
	}
	if len(steps) == 0 {
		t.Fatal("the reference apply reported no steps: no fault would be injected")
	}
	return before, after, steps, plan
}

// checkNeverHalf fails if the config file that gains config_path has its
// new content while a hosts file is missing or incomplete.
func checkNeverHalf(t *testing.T, got, after map[string]string, what string) {
	t.Helper()
	if got[gainsConfigPath] != after[gainsConfigPath] {
		return
	}
	for p, entry := range after {
		if strings.HasSuffix(p, "/hosts.toml") && got[p] != entry {
			t.Errorf("%s: config migrated, but %s is %s", what, p, orNone(got[p]))
		}
	}
}

func sameTree(a, b map[string]string) bool { return maps.Equal(a, b) }

// TestCrashAtEveryStep stops an apply at each of its steps, as a kill
// would, and checks the node: as before, as after a clean apply, or with a
// journal from which the next apply finishes the migration and rollback
// undoes it.
func TestCrashAtEveryStep(t *testing.T) {
	withUmask(t, 0o022)
	before, after, steps, _ := faultReference(t)
	states := map[string]int{}
	recoveries := 0
	for k := range steps {
		for _, finish := range []string{"apply", "rollback"} {
			what := fmt.Sprintf("crash at %s, then %s", steps[k], finish)
			root := writeFaultNode(t)
			plan := buildFaultPlan(t, root)
			n := 0
			hook := func(step, path string) error {
				if n++; n == k+1 {
					panic(crash{})
				}
				return nil
			}
			func() {
				defer func() {
					if r := recover(); r != nil && r != (crash{}) {
						panic(r)
					}
				}()
				Apply(plan, ApplyOptions{Now: applyClock, fail: hook})
			}()
			got := configSnapshot(t, root)
			checkNeverHalf(t, got, after, what)
			_, journalErr := os.Stat(filepath.Join(root, journalPath))
			journaled := journalErr == nil
			state := "partial"
			switch {
			case sameTree(got, before):
				state = "before"
			case sameTree(got, after):
				state = "after"
			}
			if journaled {
				state += "+journal"
			}
			if finish == "apply" {
				states[state]++
			}
			if state == "partial" {
				t.Errorf("%s: node changed and no journal", what)
				continue
			}
			if journaled {
				recoveries++
				pending, info, err := Pending(root, "")
				if err != nil || info == nil || pending == nil {
					t.Errorf("%s: diff does not see the interrupted apply: %v", what, err)
				}
			}
			var want map[string]string
			switch finish {
			case "apply":
				// What the CLI's apply does: finish, then plan and apply.
				finished, _, err := Recover(root, "")
				if err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
				// A finished apply leaves the record restart_pending reads.
				if rec, err := LastApply(root, ""); finished != nil && (err != nil || rec == nil || rec.Config != plan.ConfigFile || rec.ConfigChangedAt.IsZero()) {
					t.Errorf("%s: record after recovery = %+v, %v", what, rec, err)
				}
				p := buildFaultPlan(t, root)
				if _, err := Apply(p, ApplyOptions{Now: applyClock}); err != nil {
					t.Errorf("%s: apply: %v", what, err)
				}
				want = after
			case "rollback":
				if _, err := Rollback(root, ""); err != nil {
					t.Errorf("%s: %v", what, err)
					continue
				}
				want = before
			}
			if got := configSnapshot(t, root); !sameTree(got, want) {
				t.Errorf("%s: node not as wanted:", what)
				checkTree(t, got, want)
			}
			if _, err := os.Stat(filepath.Join(root, journalPath)); err == nil {
				t.Errorf("%s: journal still there", what)
			}
		}
	}
	t.Logf("crash (simulated kill) at each of %d steps, each finished by apply and by rollback: %d trials, states %v, %d recoveries from a journal",
		len(steps), 2*len(steps), states, recoveries)
}

// TestFaultAtEveryStep fails each step of an apply with ENOSPC, EIO or
// EROFS: once (the node must be as before), from then on, undo steps
// included, and once plus at the first undo step (the node must be as
// before, or keep a journal from which the next run, once the fault is
// gone, undoes the apply; never the config migrated and a hosts file
// gone). The
// original content must never be lost: while a config file is not
// restored, its backup or the journal holds it.
func TestFaultAtEveryStep(t *testing.T) {
	withUmask(t, 0o022)
	before, after, steps, _ := faultReference(t)
	errs := []error{syscall.ENOSPC, syscall.EIO, syscall.EROFS}
	states := map[string]int{}
	trials, recoveries := 0, 0
	for k := range steps {
		for _, mode := range []string{"once", "from then on", "once and at the first undo"} {
			trials++
			fault := errs[k%len(errs)]
			what := fmt.Sprintf("%v at %s (%s)", fault, steps[k], mode)
			root := writeFaultNode(t)
			plan := buildFaultPlan(t, root)
			n := 0
			failing, undoFailed := false, false
			hook := func(step, path string) error {
				n++
				switch {
				case n == k+1, mode == "from then on" && failing:
					failing = true
					return fault
				case mode == "once and at the first undo" && failing && step == "undo" && !undoFailed:
					undoFailed = true
					return fault
				}
				return nil
			}
			_, err := Apply(plan, ApplyOptions{Now: applyClock, fail: hook})
			if !errors.Is(err, fault) {
				t.Errorf("%s: got %v, want the fault", what, err)
				continue
			}
			got := configSnapshot(t, root)
			checkNeverHalf(t, got, after, what)
			_, journalErr := os.Stat(filepath.Join(root, journalPath))
			restored := strings.Contains(err.Error(), "the node was restored") || strings.Contains(err.Error(), "the node is as it was")
			switch {
			case sameTree(got, before) && restored && journalErr != nil:
				states["restored"]++
				continue
			case restored:
				t.Errorf("%s: says restored, but the node is not as before (journal: %v):\n%v", what, journalErr == nil, err)
				checkTree(t, got, before)
				continue
			case journalErr != nil:
				t.Errorf("%s: not restored and no journal:\n%v", what, err)
				continue
			}
			states["journal left"]++
			checkOriginalsKept(t, root, what)
			recoveries++
			if _, err := Rollback(root, ""); err != nil {
				t.Errorf("%s: rollback after the fault: %v", what, err)
				continue
			}
			if got := configSnapshot(t, root); !sameTree(got, before) {
				t.Errorf("%s: rollback after the fault left:", what)
				checkTree(t, got, before)
			}
		}
	}
	t.Logf("injected ENOSPC/EIO/EROFS at each of %d steps, once, persistently, and once plus at the first undo: %d trials, states %v, %d recoveries by rollback",
		len(steps), trials, states, recoveries)
}

// checkOriginalsKept fails unless each original config is on the node:
// in place, or in the journal.
func checkOriginalsKept(t *testing.T, root, what string) {
	t.Helper()
	n, err := openNode(root)
	must(t, err)
	defer n.close()
	j, err := readJournal(n, journalPath)
	if err != nil || j == nil {
		t.Errorf("%s: no readable journal: %v", what, err)
		return
	}
	for p, want := range faultNodeFiles {
		found := false
		for _, f := range j.Files {
			found = found || f.Path == p && string(f.Before) == want
		}
		if !found {
			t.Errorf("%s: the journal lacks the original %s", what, p)
		}
	}
}
