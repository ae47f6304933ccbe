package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certsd-migrate/certsd-migrate/e2e/rig"
)

// TestCheckBeforePull: the three most common reasons a hosts.toml "does
// not take effect", each detected by `certsd-migrate check` before a real
// containerd shows it:
//
//   - misnamed-dir: certs.d/<host>_<port> (no trailing underscore) is never
//     read: the pull goes upstream (which does not resolve) and the mirror
//     is never asked; renamed to <host>_<port>_, the same pull succeeds
//     from the mirror and check is clean;
//   - unparsable: a hosts.toml with a TOML syntax error is logged ("failed
//     to decode hosts.toml") and skipped: the pull goes upstream; fixed,
//     the pull succeeds from the mirror;
//   - mirrors-beside-config-path: containerd runs without the CRI image
//     service;
//   - config-path-list: config_path = "<certs.d>:<other>" (the form of the
//     2.2 default): 1.6 splits it and pulls from the mirror, check is clean;
//     2.4.2's transfer service reads it as one directory, check reports
//     config-path-multi-root and the pull goes upstream.
//
// On containerd 1.6 (Debian) and on 2.4.2.
func TestCheckBeforePull(t *testing.T) {
	r := needRig(t)
	daemons := []struct {
		name string
		two  bool
	}{{"containerd-1.6", false}, {"containerd-2", true}}
	for _, d := range daemons {
		t.Run(d.name, func(t *testing.T) {
			if d.two && containerd2Missing != "" {
				if os.Getenv("CI") == "true" {
					t.Fatal(containerd2Missing)
				}
				t.Skip(containerd2Missing)
			}
			c := migrationCase{name: "check-" + d.name, containerd2: d.two}
			base := layout{version: 2}
			if d.two {
				// The 2.x layout: the CRI image settings (snapshotter
				// included) under io.containerd.cri.v1.images.
				base = layout{version: 3, daemon2: true}
			}
			t.Run("misnamed-dir", func(t *testing.T) { r.checkMisnamedDir(t, c, base) })
			t.Run("unparsable", func(t *testing.T) { r.checkUnparsable(t, c, base) })
			t.Run("mirrors-beside-config-path", func(t *testing.T) { r.checkHalfMigrated(t, c, base) })
			t.Run("config-path-list", func(t *testing.T) { r.checkConfigPathList(t, c, base) })
		})
	}
}

// checkNamespace is a fictitious registry: a pull that goes upstream fails.
const checkNamespace = "registry.test:5000"

func (r *testRig) mirrorHosts() string {
	return fmt.Sprintf("server = \"https://%s\"\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", checkNamespace, r.plain.URL())
}

// expectCheck runs check on a phase's config and wants the code (or, with
// code "", no finding at warning or above).
func (r *testRig) expectCheck(t *testing.T, cfg, code string) {
	t.Helper()
	version := "1.6.20"
	if strings.Contains(cfg, "containerd-2") {
		version = "2.4.2"
	}
	run := r.runTool(t, "check", "--config", cfg, "--containerd-version", version, "--explain", checkNamespace)
	switch {
	case code == "" && run.code != 0:
		t.Fatalf("check should be clean:\n%s", run)
	case code != "" && (run.code != 1 || !strings.Contains(run.stdout, "["+code+"]")):
		t.Fatalf("check should report [%s] and exit 1:\n%s", code, run)
	}
	t.Logf("check:\n%s", run.stdout)
}

// expectUpstream pulls and wants it to fail without asking the mirror.
func (r *testRig) expectUpstream(t *testing.T, ctd *rig.Containerd) {
	t.Helper()
	mark := r.plain.Mark()
	r.expectPullFails(t, ctd, checkNamespace+"/test:latest")
	if reqs, err := r.plain.RequestsSince(mark); err != nil || len(reqs) > 0 {
		t.Fatalf("the mirror was asked (%v, %v): containerd read the hosts.toml after all", reqs, err)
	}
}

func (r *testRig) checkMisnamedDir(t *testing.T, c migrationCase, base layout) {
	dir := filepath.Join(r.base, "cases", c.name, "misnamed-dir")
	l := base
	l.registry = "[{R}]\n  config_path = \"{CERTS}\"\n"
	l.files = map[string]string{"certs.d/registry.test_5000/hosts.toml": r.mirrorHosts()}
	cfg, err := writeConfig(dir, filepath.Join(dir, "certs.d"), l)
	if err != nil {
		t.Fatal(err)
	}
	r.expectCheck(t, cfg, "dir-port-missing-underscore")
	ctd, err := r.startContainerd(t, c, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.expectUpstream(t, ctd)

	// The fix check prints, and containerd reads the directory (hosts.toml
	// is read on every pull: no restart).
	if err := os.Rename(filepath.Join(dir, "certs.d", "registry.test_5000"), filepath.Join(dir, "certs.d", "registry.test_5000_")); err != nil {
		t.Fatal(err)
	}
	r.expectCheck(t, cfg, "")
	r.expectPull(t, ctd, pull{image: checkNamespace + "/test:latest", from: r.from(r.plain, "test")})
}

func (r *testRig) checkUnparsable(t *testing.T, c migrationCase, base layout) {
	dir := filepath.Join(r.base, "cases", c.name, "unparsable")
	hosts := filepath.Join(dir, "certs.d", checkNamespace, "hosts.toml")
	l := base
	l.registry = "[{R}]\n  config_path = \"{CERTS}\"\n"
	broken := strings.Replace(r.mirrorHosts(), `"resolve"]`, `"resolve"`, 1) // an unclosed array
	l.files = map[string]string{filepath.Join("certs.d", checkNamespace, "hosts.toml"): broken}
	cfg, err := writeConfig(dir, filepath.Join(dir, "certs.d"), l)
	if err != nil {
		t.Fatal(err)
	}
	r.expectCheck(t, cfg, "hosts-toml-syntax")
	ctd, err := r.startContainerd(t, c, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.expectUpstream(t, ctd)
	if log := ctd.Log(); !strings.Contains(log, "failed to decode") {
		t.Errorf("containerd's log lacks \"failed to decode\"")
	}
	if err := os.WriteFile(hosts, []byte(r.mirrorHosts()), 0o644); err != nil {
		t.Fatal(err)
	}
	r.expectCheck(t, cfg, "")
	r.expectPull(t, ctd, pull{image: checkNamespace + "/test:latest", from: r.from(r.plain, "test")})
}

func (r *testRig) checkHalfMigrated(t *testing.T, c migrationCase, base layout) {
	dir := filepath.Join(r.base, "cases", c.name, "half-migrated")
	l := base
	l.registry = fmt.Sprintf("[{R}]\n  config_path = \"{CERTS}\"\n[{R}.mirrors.%q]\n  endpoint = [%q]\n", checkNamespace, r.plain.URL())
	l.files = map[string]string{filepath.Join("certs.d", checkNamespace, "hosts.toml"): r.mirrorHosts()}
	cfg, err := writeConfig(dir, filepath.Join(dir, "certs.d"), l)
	if err != nil {
		t.Fatal(err)
	}
	r.expectCheck(t, cfg, "mirrors-with-config-path")
	_, err = r.startContainerd(t, c, dir, cfg)
	if !errors.Is(err, rig.ErrCRIImageServiceMissing) {
		t.Fatalf("containerd should run without the CRI image service, got: %v", err)
	}
}

func (r *testRig) checkConfigPathList(t *testing.T, c migrationCase, base layout) {
	dir := filepath.Join(r.base, "cases", c.name, "config-path-list")
	l := base
	l.registry = "[{R}]\n  config_path = \"{CERTS}:" + filepath.Join(dir, "other.d") + "\"\n"
	l.files = map[string]string{filepath.Join("certs.d", checkNamespace, "hosts.toml"): r.mirrorHosts()}
	cfg, err := writeConfig(dir, filepath.Join(dir, "certs.d"), l)
	if err != nil {
		t.Fatal(err)
	}
	ctd, err := r.startContainerd(t, c, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !c.containerd2 {
		r.expectCheck(t, cfg, "")
		r.expectPull(t, ctd, pull{image: checkNamespace + "/test:latest", from: r.from(r.plain, "test")})
		return
	}
	r.expectCheck(t, cfg, "config-path-multi-root")
	r.expectUpstream(t, ctd)
}
