package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certsd-migrate/certsd-migrate/e2e/rig"
)

const (
	pullTimeout = time.Minute
	// logFlushWait bounds how long a server's access log may lag behind
	// the end of a pull.
	logFlushWait = 5 * time.Second
)

// TestMigration runs every case through four phases, each against a fresh
// containerd: (1) no registry config: the pull fails; (2) the legacy config:
// the pull succeeds from the expected registry; (3) after `certsd-migrate
// apply`: containerd loads the config and the same pull succeeds from the
// same registry; (4) `certsd-migrate diff` then has nothing to do.
func TestMigration(t *testing.T) {
	r := needRig(t)
	for _, c := range r.cases() {
		t.Run(c.name, func(t *testing.T) { r.runCase(t, c) })
	}
}

func (r *testRig) runCase(t *testing.T, c migrationCase) {
	dir := filepath.Join(r.base, "cases", c.name)
	t.Run("1-negative-control", func(t *testing.T) {
		r.negativeControl(t, c, filepath.Join(dir, "p1"))
	})
	t.Run("2-legacy", func(t *testing.T) {
		r.legacyPhase(t, c, filepath.Join(dir, "p2"))
	})
	applied := false
	p3 := filepath.Join(dir, "p3")
	t.Run("3-migrated", func(t *testing.T) {
		r.migratedPhase(t, c, p3, &applied)
	})
	t.Run("4-idempotent", func(t *testing.T) {
		if !applied {
			t.Fatal("phase 3 did not apply the migration; nothing to check")
		}
		r.idempotentPhase(t, c, p3)
	})
}

// negativeControl: without any registry config the image cannot be pulled
// (the upstream is offline or fictitious), or comes from elsewhere, so a
// later success is the registry config's doing.
func (r *testRig) negativeControl(t *testing.T, c migrationCase, dir string) {
	cfg, err := writeConfig(dir, c.certs(dir), c.layout.bare())
	if err != nil {
		t.Fatal(err)
	}
	ctd, err := r.startContainerd(t, c, dir, cfg)
	if err != nil {
		t.Fatalf("containerd with a bare config: %v", err)
	}
	for _, p := range c.pulls {
		if p.control.witness == nil {
			r.expectPullFails(t, ctd, p.image)
		} else {
			r.expectPull(t, ctd, pull{image: p.image, from: p.control})
		}
	}
}

// legacyPhase: the legacy config pulls from the expected registry, or, for a
// config containerd refuses, leaves containerd without a CRI image service.
func (r *testRig) legacyPhase(t *testing.T, c migrationCase, dir string) {
	cfg, err := writeConfig(dir, c.certs(dir), c.layout)
	if err != nil {
		t.Fatal(err)
	}
	ctd, err := r.startContainerd(t, c, dir, cfg)
	if c.legacyCRIError != "" {
		if !errors.Is(err, rig.ErrCRIImageServiceMissing) {
			t.Fatalf("containerd should refuse this config (CRI image service missing), got: %v", err)
		}
		if log := ctd.Log(); !strings.Contains(log, c.legacyCRIError) {
			t.Fatalf("containerd log lacks %q", c.legacyCRIError)
		}
		t.Logf("CRI image service missing as expected: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("containerd with the legacy config: %v", err)
	}
	t.Cleanup(func() {
		log := ctd.Log()
		for _, want := range c.legacyLog {
			if want = strings.ReplaceAll(want, "{DIR}", dir); !strings.Contains(log, want) {
				t.Errorf("containerd log with the legacy config lacks %q", want)
			}
		}
	})
	if c.legacyPullError != "" {
		for _, p := range c.pulls {
			pullErr := r.expectPullFails(t, ctd, p.image)
			if !strings.Contains(pullErr.Error(), c.legacyPullError) && !strings.Contains(ctd.Log(), c.legacyPullError) {
				t.Errorf("pull of %s failed without %q in the error or the containerd log: %v", p.image, c.legacyPullError, pullErr)
			}
		}
		return
	}
	r.expectPulls(t, ctd, c.pulls)
}

// configErrors are containerd log lines that mean the migrated config is not
// what containerd wants: a refused CRI plugin, a hosts.toml ignored (which
// silently falls back to the upstream), legacy settings still present.
var configErrors = []string{
	"failed to load plugin io.containerd.grpc.v1.cri",
	"invalid plugin config",
	"failed to decode hosts.toml",
	"`mirrors` is deprecated",
	"`configs.tls` is deprecated",
}

// localPullMode is what containerd 2.x logs when legacy registry settings
// make the CRI pull without the transfer service.
const localPullMode = "Falling back to local image pull mode"

// configErrors2 are the containerd 2.x forms of configErrors: the CRI image
// plugin refusing its config (which cascades to the other CRI plugins) and
// a transfer service that cannot unpack.
var configErrors2 = []string{
	"invalid cri image config",
	"failed to load plugin io.containerd.cri.v1.images",
	"no unpack platforms defined",
}

// migratedPhase runs `certsd-migrate apply` on a fresh copy of the legacy
// files (or of c.migrated), then pulls with the result. It sets *applied once
// apply succeeded.
func (r *testRig) migratedPhase(t *testing.T, c migrationCase, dir string, applied *bool) {
	certs := c.certs(dir)
	input := c.layout
	if c.migrated != nil {
		input = *c.migrated
	}
	cfg, err := writeConfig(dir, certs, input)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, dir)
	preview := r.runTool(t, append([]string{"diff", "--config", cfg, "--certs-dir", certs, "--state-dir", stateDir(dir)}, c.args(dir)...)...)
	if preview.code != 1 {
		t.Errorf("diff before apply exited %d, want 1 (changes pending):\n%s", preview.code, preview)
	}
	if changed := changedFiles(before, snapshotFiles(t, dir)); len(changed) > 0 {
		t.Errorf("diff (a preview) changed files: %v", changed)
	}
	run := r.runTool(t, append([]string{"apply", "--config", cfg, "--certs-dir", certs, "--state-dir", stateDir(dir)}, c.args(dir)...)...)
	t.Logf("%s", run)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("files after apply:\n%s", dumpTree(dir))
		}
	})
	if run.code != 0 {
		t.Fatalf("apply exited %d, want 0", run.code)
	}
	*applied = true
	after := snapshotFiles(t, dir)
	for _, rel := range c.unchanged {
		p := filepath.Join(dir, rel)
		if old, ok := before[p]; !ok {
			t.Errorf("%s: no such input file (case bug)", rel)
		} else if now, ok := after[p]; !ok {
			t.Errorf("apply removed %s, which it must leave untouched", p)
		} else if now != old {
			t.Errorf("apply changed %s, which it must leave byte-identical:\n--- before\n%s--- after\n%s", p, old, now)
		}
	}
	if c.afterApply != nil {
		c.afterApply(t, dir)
	}
	ctd, err := r.startContainerd(t, c, dir, cfg)
	if err != nil {
		t.Fatalf("containerd with the migrated config: %v", err)
	}
	t.Cleanup(func() {
		log := ctd.Log()
		bads := configErrors
		if c.containerd2 {
			bads = append(slices.Clip(bads), configErrors2...)
		}
		for _, bad := range bads {
			if strings.Contains(log, bad) {
				t.Errorf("containerd log after migration contains %q", bad)
			}
		}
		if c.containerd2 {
			if local := strings.Contains(log, localPullMode); local != c.localPullMode {
				t.Errorf("containerd 2.x after migration: local image pull mode = %v, want %v (log line %q)", local, c.localPullMode, localPullMode)
			}
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, "Ignoring unknown key") && strings.Contains(line, "registry") {
					t.Errorf("containerd 2.x ignored a registry setting after migration: %s", line)
				}
			}
		}
	})
	r.expectPulls(t, ctd, c.pulls)
}

// stateDir is the tool's state directory (journal, record, lock) for the
// phase files in dir: beside them, so that apply's record does not show
// among the files a phase compares, and the suite never touches the
// machine's /var/lib/certsd-migrate.
func stateDir(dir string) string { return dir + ".state" }

// idempotentPhase: diff with the same flags finds nothing left to do.
func (r *testRig) idempotentPhase(t *testing.T, c migrationCase, dir string) {
	cfg, certs := filepath.Join(dir, "config.toml"), c.certs(dir)
	run := r.runTool(t, append([]string{"diff", "--config", cfg, "--certs-dir", certs, "--state-dir", stateDir(dir)}, c.args(dir)...)...)
	if run.code != 0 || run.stdout != "" || run.stderr != "" {
		t.Fatalf("diff after apply should exit 0 with no output:\n%s", run)
	}
}

// startContainerd starts an isolated containerd for one phase; it is
// stopped (and its log printed if the test failed) at the end of the test.
func (r *testRig) startContainerd(t *testing.T, c migrationCase, dir, cfg string) (*rig.Containerd, error) {
	t.Helper()
	binary := rig.ContainerdBinary
	if c.containerd2 {
		binary = containerd2Binary
	}
	ctd, err := rig.StartContainerd(context.Background(), binary, cfg, rig.PathsIn(dir).Socket, filepath.Join(dir, "containerd.log"))
	if ctd == nil {
		t.Fatalf("starting containerd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log (%s, plugin loading omitted):\n%s", cfg, withoutPluginLoading(ctd.Log()))
		}
		if err := ctd.Stop(); err != nil {
			t.Errorf("stopping containerd: %v", err)
		}
	})
	return ctd, err
}

// expectPulls makes each pull and checks where it came from.
func (r *testRig) expectPulls(t *testing.T, ctd *rig.Containerd, pulls []pull) {
	t.Helper()
	for _, p := range pulls {
		if p.from.witness == nil {
			r.expectPullFails(t, ctd, p.image)
		} else {
			r.expectPull(t, ctd, p)
		}
	}
}

// expectPullFails checks that p.image cannot be pulled and that no server
// served a blob trying. It returns the pull's error.
func (r *testRig) expectPullFails(t *testing.T, ctd *rig.Containerd, image string) error {
	t.Helper()
	marks := r.mark(t)
	ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
	defer cancel()
	id, err := ctd.CRI.Pull(ctx, image)
	if err == nil {
		t.Fatalf("pull of %s succeeded (image %s), want failure", image, id)
	}
	t.Logf("pull of %s failed as expected: %v", image, err)
	r.expectNoBlobsServed(t, marks, nil)
	return err
}

// expectPull pulls p.image and checks it came from p.from: the image ID is
// the config digest pushed there, and that server served the layer blob
// while no other server served any blob.
func (r *testRig) expectPull(t *testing.T, ctd *rig.Containerd, p pull) {
	t.Helper()
	marks := r.mark(t)
	ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
	defer cancel()
	start := time.Now()
	id, err := ctd.CRI.Pull(ctx, p.image)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	want := p.from.image.ConfigDigest
	if id != want {
		t.Fatalf("pulled %s as image ID %s, want %s (the image pushed to %s)", p.image, id, want, p.from.witness.Name())
	}
	statusID, err := ctd.CRI.ImageID(ctx, p.image)
	if err != nil {
		t.Fatal(err)
	}
	if statusID != want {
		t.Fatalf("ImageStatus(%s) ID = %q, want %s", p.image, statusID, want)
	}
	if err := waitServed(p.from.witness, marks[p.from.witness], p.from.blobPath()); err != nil {
		t.Fatal(err)
	}
	for _, w := range p.tried {
		if reqs, err := w.RequestsSince(marks[w]); err != nil || len(reqs) == 0 {
			t.Errorf("%s was never asked (%v): the endpoint list lost it", w.Name(), err)
		}
	}
	r.expectNoBlobsServed(t, marks, append([]rig.Witness{p.from.witness}, p.from.relays...))
	t.Logf("pulled %s as %s from %s in %v", p.image, id, p.from.witness.Name(), time.Since(start).Round(time.Millisecond))
}

// mark records every server's log position, and arranges for what they
// logged after it to be printed if the test fails.
func (r *testRig) mark(t *testing.T) map[rig.Witness]int64 {
	marks := map[rig.Witness]int64{}
	for _, w := range r.witnesses() {
		marks[w] = w.Mark()
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, w := range r.witnesses() {
			if log := w.LogSince(marks[w]); log != "" {
				t.Logf("%s log during the test:\n%s", w.Name(), log)
			}
		}
	})
	return marks
}

// waitServed waits until w's log shows a successful GET of path.
func waitServed(w rig.Witness, mark int64, path string) error {
	deadline := time.Now().Add(logFlushWait)
	for {
		reqs, err := w.RequestsSince(mark)
		if err != nil {
			return err
		}
		for _, req := range reqs {
			if req.Method == "GET" && req.Path == path && req.Status == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not serve GET %s (requests: %v): the pull went elsewhere", w.Name(), path, reqs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// expectNoBlobsServed fails if any server other than allowed served a blob.
func (r *testRig) expectNoBlobsServed(t *testing.T, marks map[rig.Witness]int64, allowed []rig.Witness) {
	t.Helper()
	for _, w := range r.witnesses() {
		if containsWitness(allowed, w) {
			continue
		}
		reqs, err := w.RequestsSince(marks[w])
		if err != nil {
			t.Error(err)
			continue
		}
		for _, req := range reqs {
			if req.Method == "GET" && strings.Contains(req.Path, "/blobs/") && req.Status == 200 {
				t.Errorf("%s served %s: the pull went (also) there", w.Name(), req)
			}
		}
	}
}

func containsWitness(ws []rig.Witness, w rig.Witness) bool {
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}

// withoutPluginLoading drops containerd's routine "loading plugin" lines.
func withoutPluginLoading(log string) string {
	var keep []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="loading plugin`) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// changedFiles lists the paths that differ between two snapshots.
func changedFiles(before, after map[string]string) []string {
	var changed []string
	for p, content := range after {
		if old, ok := before[p]; !ok || old != content {
			changed = append(changed, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			changed = append(changed, p+" (removed)")
		}
	}
	slices.Sort(changed)
	return changed
}

// snapshotFiles maps every file under dir to its content.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	return files
}
