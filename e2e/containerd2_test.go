package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// containerd2Version is the containerd 2.x release the 2.x cases run on. Debian
// 12 has no package of it: install-deps.sh builds the daemon from its Go module
// into containerd2Path().
const containerd2Version = "v2.4.2"

// containerd2EnvVar, if set, is the containerd 2.x binary to use instead.
const containerd2EnvVar = "E2E_CONTAINERD2"

// Set by TestMain (findContainerd2), read-only afterwards.
var (
	containerd2Binary  string // path of the 2.x daemon
	containerd2Missing string // why there is none, "" if there is
)

// containerd2Path is where install-deps.sh builds the daemon:
// $(go env GOPATH)/bin/containerd-v2.4.2 (first GOPATH entry).
func containerd2Path() (string, error) {
	out, err := exec.Command(goBinary(), "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	gopath, _, _ := strings.Cut(strings.TrimSpace(string(out)), string(os.PathListSeparator))
	if gopath == "" {
		return "", fmt.Errorf("go env GOPATH is empty")
	}
	return filepath.Join(gopath, "bin", "containerd-"+containerd2Version), nil
}

// findContainerd2 locates the containerd 2.x daemon and checks its version.
func findContainerd2() (binary, missing string) {
	binary = os.Getenv(containerd2EnvVar)
	if binary == "" {
		p, err := containerd2Path()
		if err != nil {
			return "", fmt.Sprintf("containerd %s: %v", containerd2Version, err)
		}
		binary = p
	}
	hint := fmt.Sprintf("containerd %s not found at %s (run `bash e2e/install-deps.sh` as root, or set %s)",
		containerd2Version, binary, containerd2EnvVar)
	if _, err := os.Stat(binary); err != nil {
		return "", hint
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("%s --version: %v: %s", binary, err, out)
	}
	if want := " " + strings.TrimPrefix(containerd2Version, "v"); !strings.Contains(string(out), want) {
		return "", fmt.Sprintf("%s is not containerd %s: %s", binary, containerd2Version, strings.TrimSpace(string(out)))
	}
	return binary, ""
}

// TestMigrationContainerd2 runs the 2.x cases through the same four phases as
// TestMigration, every daemon a containerd 2.x. It needs the 2.x binary: the
// tests skip without it, and fail in CI (CI=true).
func TestMigrationContainerd2(t *testing.T) {
	r := needRig(t)
	if containerd2Missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(containerd2Missing)
		}
		t.Skip(containerd2Missing)
	}
	for _, c := range r.cases2() {
		t.Run(c.name, func(t *testing.T) { r.runCase(t, c) })
	}
}

// cases2 are the containerd 2.x cases: what 2.x does differently from 1.6
// with the same files, and the version 3 layouts only 2.x reads.
func (r *testRig) cases2() []migrationCase {
	tlsAuth := r.tlsAuth.Addr
	mirror := func(ns string, endpoints ...string) string {
		return fmt.Sprintf("[{R}.mirrors.%q]\n  endpoint = [%s]\n", ns, quoteList(endpoints))
	}
	cases := []migrationCase{
		{
			// 2.x ignores configs.*.tls ("Ignoring unknown key ... tls"),
			// so the custom CA is lost and the legacy pull fails on the
			// certificate; apply moves the CA into hosts.toml, where 2.x
			// reads it.
			name: "tls-lost-restored",
			layout: layout{version: 2, daemon2: true, registry: mirror("docker.io", "https://"+tlsAuth) +
				fmt.Sprintf(`[{R}.configs."%[1]s".tls]
  ca_file = %[2]q
[{R}.configs."%[1]s".auth]
  username = %[3]q
  password = %[4]q
`, tlsAuth, r.ca.CertFile, r.creds.Username, r.creds.Password)},
			pulls:           []pull{{image: "docker.io/library/test:latest", from: r.from(r.tlsAuth, "library/test")}},
			legacyPullError: "x509",
			// 2.x's only trace of the dropped table.
			legacyLog: []string{fmt.Sprintf(`key="registry configs %s tls"`, tlsAuth)},
			toolArgs:  []string{"--containerd-version", "2.4"},
			// --auth keep leaves configs.<host>.auth in config.toml.
			localPullMode: true,
		},
		{
			// k0s 1.36 with the version-less drop-in of k0s's docs
			// (plugins."io.containerd.grpc.v1.cri", no version line): k0s
			// refuses it, containerd 2.4 reads it. --to-config-version 3
			// rewrites it as version 3.
			name: "k0s-1.36-versionless-drop-in",
			layout: layout{version: 3, daemon2: true, header: k0sMarker, imports: "{DIR}/containerd.d/*.toml",
				dropIn: "containerd.d/registry.toml", dropInVersion: 2, versionlessDropIn: true, criInMain: true,
				registry: mirror("docker.io", r.second.URL())},
			pulls:     []pull{{image: "docker.io/library/test:latest", from: r.from(r.second, "library/test")}},
			certsDir:  "containerd.d/certs.d",
			toolArgs:  []string{"--to-config-version", "3", "--containerd-version", "2.4"},
			unchanged: []string{"config.toml"},
		},
		{
			// A version 3 config: the deprecated mirrors live under
			// io.containerd.cri.v1.images.
			name:   "version3-plain-mirror",
			layout: layout{version: 3, daemon2: true, registry: mirror("docker.io", r.plain.URL())},
			pulls:  []pull{{image: "test:latest", from: r.from(r.plain, "library/test")}},
		},
		{
			// k0s 1.36: a version 3 main file (k0s's, never edited) with
			// the CRI settings, and a user's version 2 drop-in with legacy
			// mirrors under io.containerd.grpc.v1.cri, which 2.x still
			// reads by migrating it. k0s 1.36 refuses version 2 drop-ins, so
			// apply rewrites the drop-in as version 3.
			name: "k0s-1.36-drop-in",
			layout: layout{version: 3, daemon2: true, header: k0sMarker, imports: "{DIR}/containerd.d/*.toml",
				dropIn: "containerd.d/registry.toml", dropInVersion: 2, criInMain: true,
				registry: mirror("docker.io", r.second.URL())},
			pulls:     []pull{{image: "docker.io/library/test:latest", from: r.from(r.second, "library/test")}},
			certsDir:  "containerd.d/certs.d",
			toolArgs:  []string{"--to-config-version", "3", "--containerd-version", "2.4"},
			unchanged: []string{"config.toml"},
			afterApply: func(t *testing.T, dir string) {
				t.Helper()
				rel := "containerd.d/registry.toml"
				b, err := os.ReadFile(filepath.Join(dir, rel))
				if err != nil {
					t.Fatal(err)
				}
				s := string(b)
				if !strings.Contains(s, "version = 3\n") || strings.Contains(s, "version = 2") {
					t.Errorf("%s is not version 3 after apply", rel)
				}
				if strings.Contains(s, "io.containerd.grpc.v1.cri") {
					t.Errorf("%s still has an io.containerd.grpc.v1.cri table after apply", rel)
				}
				want := fmt.Sprintf("config_path = %q", filepath.Join(dir, "containerd.d", "certs.d"))
				if !strings.Contains(s, want) {
					t.Errorf("%s lacks %s after apply", rel, want)
				}
			},
		},
	}
	for i := range cases {
		cases[i].containerd2 = true
	}
	return cases
}
