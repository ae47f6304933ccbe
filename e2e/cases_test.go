package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certsd-migrate/certsd-migrate/e2e/rig"
)

// migrationCase is one legacy registry configuration and the pull it must
// keep working through `certsd-migrate apply`.
type migrationCase struct {
	name   string
	layout layout
	// pulls are made in order against one containerd per phase.
	pulls []pull
	// containerd2 runs every phase on containerd 2.x (containerd2Binary)
	// instead of Debian's 1.6.
	containerd2 bool
	// legacyPullError, if set, means the legacy config loads but cannot
	// pull (containerd 2.x dropped a setting it needs): phase 2 expects
	// every pull to fail, with this text in the error or the daemon's log.
	legacyPullError string
	// legacyLog are texts the daemon's log must hold in phase 2 ("{DIR}":
	// the phase directory), e.g. the warning for a setting it dropped.
	legacyLog []string
	// localPullMode (containerd 2.x only) means the migrated config still
	// makes 2.x pull in local mode, without the transfer service (because
	// configs.<host>.auth stays, say); otherwise phase 3 checks that 2.x
	// pulls through the transfer service.
	localPullMode bool
	// certsDir is the --certs-dir given to the tool (and "{CERTS}"),
	// relative to the phase directory; "" means certs.d.
	certsDir string
	// legacyCRIError, if set, means containerd refuses the legacy config:
	// phase 2 expects the CRI image service missing and this text in its log.
	legacyCRIError string
	// toolArgs are extra flags for both `apply` and `diff`; "{DIR}" stands
	// for the phase directory.
	toolArgs []string
	// migrated, if set, is what phase 3 writes and migrates instead of
	// layout, for a tool input that is not a legacy config (a k3s
	// registries.yaml); layout is then its legacy equivalent, pulled with in
	// phase 2.
	migrated *layout
	// unchanged are files, relative to the phase directory, that apply must
	// leave byte-identical.
	unchanged []string
	// afterApply, if set, checks the files apply wrote (phase 3 directory).
	afterApply func(t *testing.T, dir string)
}

// certs is the case's certs.d directory in the phase directory dir.
func (c migrationCase) certs(dir string) string {
	if c.certsDir == "" {
		return filepath.Join(dir, "certs.d")
	}
	return filepath.Join(dir, c.certsDir)
}

// args are the case's extra tool flags for the phase directory dir.
func (c migrationCase) args(dir string) []string {
	args := make([]string, len(c.toolArgs))
	for i, a := range c.toolArgs {
		args[i] = strings.ReplaceAll(a, "{DIR}", dir)
	}
	return args
}

// pull is one image pulled through the CRI and where it must come from,
// before and after migration.
type pull struct {
	image string
	// from is the server that must serve it; nil witness: the pull must
	// fail even with the registry config.
	from source
	// tried are servers the pull must have asked (endpoints tried and failed).
	tried []rig.Witness
	// control is where the pull goes without any registry config (phase 1):
	// nil witness (the usual case) means it must fail. Only a loopback
	// name, pulled over plain http by default, can succeed there.
	control source
}

// source is the server a pull must be served by.
type source struct {
	witness rig.Witness
	apiRoot string // path the repositories live under: "/v2", or the proxy prefix
	repo    string
	image   *Image
	// relays are servers the same requests pass through (a proxy's backend).
	relays []rig.Witness
}

func (s source) blobPath() string {
	return s.apiRoot + "/" + s.repo + "/blobs/" + s.image.LayerDigest
}

func (r *testRig) from(reg *rig.Registry, repo string) source {
	return source{witness: reg, apiRoot: "/v2", repo: repo, image: r.images[imageKey(reg.Name(), repo)]}
}

// viaProxy is the backend registry's repo reached through the prefix proxy.
func (r *testRig) viaProxy(repo string) source {
	return source{witness: r.proxy, apiRoot: prefixPath, repo: repo,
		image: r.images[imageKey(r.backend.Name(), repo)], relays: []rig.Witness{r.backend}}
}

// port is the port of a 127.0.0.1:port address.
func port(addr string) string { return strings.TrimPrefix(addr, "127.0.0.1:") }

// cases are the legacy configurations the suite migrates.
func (r *testRig) cases() []migrationCase {
	tlsAuth := r.tlsAuth.Addr
	// As `containerd config default` of 1.6 writes it, filled in.
	defaultStyleTLSAuth := fmt.Sprintf(`[{R}]
  config_path = ""

  [{R}.auths]

  [{R}.configs]
    [{R}.configs."%[1]s".auth]
      username = %[2]q
      password = %[3]q
    [{R}.configs."%[1]s".tls]
      ca_file = %[4]q

  [{R}.headers]

  [{R}.mirrors]
    [{R}.mirrors."docker.io"]
      endpoint = ["https://%[1]s"]
`, tlsAuth, r.creds.Username, r.creds.Password, r.ca.CertFile)

	mirror := func(ns string, endpoints ...string) string {
		return fmt.Sprintf("[{R}.mirrors.%q]\n  endpoint = [%s]\n", ns, quoteList(endpoints))
	}
	mtlsNS := "mtls.test:" + port(r.mtls.Addr)
	// One configs entry (TLS + auth of an endpoint host) serves two
	// namespaces: hosts.toml needs it in both files.
	sharedEndpoint := layout{version: 2, registry: mirror("a.test", "https://"+tlsAuth) + mirror("b.test", "https://"+tlsAuth) +
		fmt.Sprintf(`[{R}.configs."%[1]s".tls]
  ca_file = %[2]q
[{R}.configs."%[1]s".auth]
  username = %[3]q
  password = %[4]q
`, tlsAuth, r.ca.CertFile, r.creds.Username, r.creds.Password)}
	sharedEndpointPulls := []pull{
		{image: "a.test/test:latest", from: r.from(r.tlsAuth, "test")},
		{image: "b.test/other:latest", from: r.from(r.tlsAuth, "other")},
	}

	return []migrationCase{
		{
			name:       "dockerhub-tls-auth",
			layout:     layout{version: 2, registry: defaultStyleTLSAuth},
			pulls:      []pull{{image: "docker.io/library/test:latest", from: r.from(r.tlsAuth, "library/test")}},
			afterApply: r.credentialsIn(inConfig),
		},
		{
			name:       "dockerhub-tls-auth-header",
			layout:     layout{version: 2, registry: defaultStyleTLSAuth},
			pulls:      []pull{{image: "docker.io/library/test:latest", from: r.from(r.tlsAuth, "library/test")}},
			toolArgs:   []string{"--auth", "header"},
			afterApply: r.credentialsIn(inHostsTOML),
		},
		{
			name: "version1-tls-auth",
			layout: layout{version: 1, registry: fmt.Sprintf(`[{R}.mirrors."docker.io"]
  endpoint = ["https://%[1]s"]
[{R}.configs."%[1]s".tls]
  ca_file = %[2]q
[{R}.configs."%[1]s".auth]
  username = %[3]q
  password = %[4]q
`, tlsAuth, r.ca.CertFile, r.creds.Username, r.creds.Password)},
			pulls: []pull{{image: "docker.io/library/test:latest", from: r.from(r.tlsAuth, "library/test")}},
		},
		{
			name: "auths-url-key",
			layout: layout{version: 2, registry: mirror("docker.io", "https://"+tlsAuth) + fmt.Sprintf(`[{R}.configs."%[1]s".tls]
  ca_file = %[2]q
[{R}.auths."https://%[1]s"]
  auth = %[3]q
`, tlsAuth, r.ca.CertFile, basicToken(r.creds))},
			pulls: []pull{{image: "docker.io/library/test:latest", from: r.from(r.tlsAuth, "library/test")}},
		},
		{
			name:   "plain-http-mirror",
			layout: layout{version: 2, registry: mirror("docker.io", r.plain.URL())},
			pulls:  []pull{{image: "test:latest", from: r.from(r.plain, "library/test")}},
		},
		{
			name:     "schemeless-loopback-endpoint",
			layout:   layout{version: 2, registry: mirror("docker.io", r.plain.Addr)},
			pulls:    []pull{{image: "docker.io/library/test:latest", from: r.from(r.plain, "library/test")}},
			toolArgs: []string{"--containerd-version", "1.6.20"},
		},
		{
			// An endpoint path ending in /v2 is the default API root.
			name:   "endpoint-v2-path",
			layout: layout{version: 2, registry: mirror("docker.io", r.second.URL()+"/v2")},
			pulls:  []pull{{image: "docker.io/library/test:latest", from: r.from(r.second, "library/test")}},
		},
		{
			name:   "mirror-order-and-fallback",
			layout: layout{version: 2, registry: mirror("docker.io", r.down.URL(), r.plain.URL(), r.second.URL())},
			pulls:  []pull{{image: "docker.io/library/test:latest", from: r.from(r.plain, "library/test"), tried: []rig.Witness{r.down}}},
		},
		{
			name:   "override-path-prefix",
			layout: layout{version: 2, registry: mirror("docker.io", r.proxy.URL()+prefixPath)},
			pulls:  []pull{{image: "docker.io/library/test:latest", from: r.viaProxy("library/test")}},
		},
		{
			// registry.headers is not deprecated and must keep reaching
			// every request: the gate refuses requests without it.
			name: "registry-headers",
			layout: layout{version: 2, registry: mirror("docker.io", r.gate.URL()) +
				fmt.Sprintf("[{R}.headers]\n  %s = [%q]\n", gateHeader, gateValue)},
			pulls: []pull{{image: "docker.io/library/test:latest", from: source{witness: r.gate, apiRoot: "/v2",
				repo: "library/test", image: r.images[imageKey(r.backend.Name(), "library/test")], relays: []rig.Witness{r.backend}}}},
		},
		{
			name:   "wildcard-mirror",
			layout: layout{version: 2, registry: mirror("*", r.plain.URL())},
			pulls:  []pull{{image: "wild.test/test:latest", from: r.from(r.plain, "test")}},
		},
		{
			// The exact namespace wins over "*", and an empty endpoint list
			// still counts as an exact entry: it blocks "*" (and the pull
			// then goes to the fictitious upstream and fails).
			name: "wildcard-and-exact",
			layout: layout{version: 2, registry: mirror("*", r.second.URL()) + mirror("docker.io", r.plain.URL()) +
				"[{R}.mirrors.\"blocked.test\"]\n  endpoint = []\n"},
			pulls: []pull{
				{image: "docker.io/library/test:latest", from: r.from(r.plain, "library/test")},
				{image: "wild.test/test:latest", from: r.from(r.second, "test")},
				{image: "blocked.test/test:latest"},
			},
		},
		{
			// "*" to a TLS + auth registry. A direct pull of the mirror's own
			// loopback name also takes the "*" list in legacy mode (and, as an
			// endpoint equals the namespace, no http upstream is appended), so
			// it works over TLS with the CA and auth: the namespace directory
			// written for that host must keep the "*" endpoints.
			name: "wildcard-tls-auth",
			layout: layout{version: 2, registry: mirror("*", "https://"+tlsAuth) + fmt.Sprintf(`[{R}.configs."%[1]s".tls]
  ca_file = %[2]q
[{R}.configs."%[1]s".auth]
  username = %[3]q
  password = %[4]q
`, tlsAuth, r.ca.CertFile, r.creds.Username, r.creds.Password)},
			pulls: []pull{
				{image: "wild.test/test:latest", from: r.from(r.tlsAuth, "test")},
				{image: tlsAuth + "/other:latest", from: r.from(r.tlsAuth, "other")},
			},
		},
		{
			name:   "shared-endpoint-config",
			layout: sharedEndpoint,
			pulls:  sharedEndpointPulls,
		},
		{
			name:       "shared-endpoint-config-header",
			layout:     sharedEndpoint,
			pulls:      sharedEndpointPulls,
			toolArgs:   []string{"--auth", "header"},
			afterApply: r.credentialsIn(inHostsTOML),
		},
		{
			// An endpoint equal to the namespace stops legacy from appending
			// the upstream; the earlier mirror is still tried first. (A
			// loopback namespace: direct pulls of it are plain http.)
			name:   "endpoint-equals-namespace",
			layout: layout{version: 2, registry: mirror(r.plain.Addr, r.second.URL(), r.plain.URL())},
			pulls: []pull{{image: r.plain.Addr + "/test:latest", from: r.from(r.second, "test"),
				control: r.from(r.plain, "test")}},
		},
		{
			name: "mutual-tls",
			layout: layout{version: 2, registry: mirror(mtlsNS, r.mtls.URL()) + fmt.Sprintf(`[{R}.configs."%s".tls]
  ca_file = %q
  cert_file = %q
  key_file = %q
`, r.mtls.Addr, r.ca.CertFile, r.client.CertFile, r.client.KeyFile)},
			pulls: []pull{{image: mtlsNS + "/test:latest", from: r.from(r.mtls, "test")}},
		},
		{
			name: "insecure-skip-verify",
			layout: layout{version: 2, registry: mirror("skipverify.test", r.untrusted.URL()) + fmt.Sprintf(`[{R}.configs."%s".tls]
  insecure_skip_verify = true
`, r.untrusted.Addr)},
			pulls: []pull{{image: "skipverify.test/test:latest", from: r.from(r.untrusted, "test")}},
		},
		{
			name:   "imports-drop-in",
			layout: layout{version: 2, imports: "conf.d/cri.toml", registry: mirror("docker.io", r.second.URL())},
			pulls:  []pull{{image: "docker.io/library/test:latest", from: r.from(r.second, "library/test")}},
		},
		{
			name:   "imports-glob",
			layout: layout{version: 2, imports: "{DIR}/conf.d/*.toml", registry: mirror("docker.io", r.plain.URL())},
			pulls:  []pull{{image: "docker.io/library/test:latest", from: r.from(r.plain, "library/test")}},
		},
		{
			// A drop-in without a version line under a version 2 config:
			// containerd 1.6 reads it at the merged version 2, so its
			// io.containerd.grpc.v1.cri table is live. The tool reads it
			// the same way and migrates it in place.
			name: "versionless-drop-in",
			layout: layout{version: 2, imports: "{DIR}/conf.d/*.toml", versionlessDropIn: true,
				registry: mirror("docker.io", r.second.URL())},
			pulls:      []pull{{image: "docker.io/library/test:latest", from: r.from(r.second, "library/test")}},
			afterApply: configPathIn("conf.d/cri.toml"),
		},
		{
			// k0s: the main config carries k0s's marker and must never be
			// edited; the registry lives in a drop-in of an absolute glob.
			// containerd 1.x lets the drop-in's CRI table replace the main
			// file's, so the main file has no CRI settings at all and the
			// drop-in holds them (snapshotter included) with the mirror.
			name: "k0s-drop-in",
			layout: layout{version: 2, header: k0sMarker, imports: "{DIR}/containerd.d/*.toml",
				dropIn: "containerd.d/registry.toml", registry: mirror("docker.io", r.second.URL())},
			pulls:      []pull{{image: "docker.io/library/test:latest", from: r.from(r.second, "library/test")}},
			toolArgs:   []string{"--containerd-version", "1.6.20"},
			unchanged:  []string{"config.toml"},
			afterApply: configPathIn("containerd.d/registry.toml"),
		},
		{
			// containerd 1.6 refuses config_path next to mirrors. The
			// certs.d directory already holds an admin's hosts.toml, which
			// apply must leave working.
			name: "half-migrated",
			layout: layout{version: 2, registry: "[{R}]\n  config_path = \"{CERTS}\"\n\n" +
				mirror("docker.io", r.plain.URL()),
				files: map[string]string{"certs.d/other.test/hosts.toml": fmt.Sprintf(
					"[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", r.second.URL())}},
			pulls: []pull{
				{image: "docker.io/library/test:latest", from: r.from(r.plain, "library/test")},
				{image: "other.test/test:latest", from: r.from(r.second, "test")},
			},
			legacyCRIError: "`mirrors` cannot be set when `config_path` is provided",
		},
		{
			// A k3s/RKE2 registries.yaml next to a config.toml without any
			// registry settings: apply adds config_path and the credentials
			// (configs.<host>.auth) to it and writes the hosts.toml tree.
			// Phase 2 pulls with the legacy config.toml that says the same.
			name: "registries-yaml",
			layout: layout{version: 2, registry: mirror("docker.io", "https://"+tlsAuth) + mirror("loop.test", r.plain.Addr) +
				fmt.Sprintf(`[{R}.configs."%[1]s".tls]
  ca_file = %[2]q
[{R}.configs."%[1]s".auth]
  username = %[3]q
  password = %[4]q
`, tlsAuth, r.ca.CertFile, r.creds.Username, r.creds.Password)},
			migrated: &layout{version: 2, files: map[string]string{"registries.yaml": fmt.Sprintf(`mirrors:
  docker.io:
    endpoint:
      - "https://%[1]s"
  loop.test:
    endpoint:
      - %[5]q # scheme-less loopback: http
configs:
  %[1]q:
    auth:
      username: %[3]q
      password: %[4]q
    tls:
      ca_file: %[2]q
`, tlsAuth, r.ca.CertFile, r.creds.Username, r.creds.Password, r.plain.Addr)}},
			pulls: []pull{
				{image: "docker.io/library/test:latest", from: r.from(r.tlsAuth, "library/test")},
				{image: "loop.test/test:latest", from: r.from(r.plain, "test")},
			},
			toolArgs:  []string{"--registries", "{DIR}/registries.yaml"},
			unchanged: []string{"registries.yaml"},
			afterApply: func(t *testing.T, dir string) {
				configPathIn("config.toml")(t, dir)
				r.credentialsIn(inConfig)(t, dir)
			},
		},
	}
}

// k0sMarker is the first line of a config k0s manages (and regenerates).
const k0sMarker = "# k0s_managed=true"

// configPathIn checks that apply set config_path to the phase's certs.d in
// the config file rel (relative to the phase directory).
func configPathIn(rel string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("config_path = %q", filepath.Join(dir, "certs.d"))
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s after apply", rel, want)
		}
	}
}

// Where --auth puts legacy credentials.
const (
	inConfig    = "config.toml"
	inHostsTOML = "hosts.toml"
)

// credentialsIn checks that the registry password ended up only where
// --auth says (keep: config.toml; header: a hosts.toml Authorization
// header), so the phase 3 pull proves that mechanism carries the auth.
func (r *testRig) credentialsIn(where string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		certs := filepath.Join(dir, "certs.d")
		inCerts := func(p string) bool { return strings.HasPrefix(p, certs+string(filepath.Separator)) }
		secrets := []string{r.creds.Password, basicToken(r.creds)}
		config := tomlFilesContaining(t, dir, secrets, func(p string) bool { return !inCerts(p) })
		hosts := tomlFilesContaining(t, certs, secrets, inCerts)
		switch where {
		case inConfig:
			if len(config) == 0 || len(hosts) != 0 {
				t.Errorf("--auth keep: want the credentials in config.toml only; config files with them: %v, hosts.toml files with them: %v", config, hosts)
			}
		case inHostsTOML:
			if len(config) != 0 || len(hosts) == 0 {
				t.Errorf("--auth header: want the credentials in hosts.toml only; config files with them: %v, hosts.toml files with them: %v", config, hosts)
			}
		}
	}
}

// tomlFilesContaining lists the *.toml files under dir accepted by keep
// that contain any of needles.
func tomlFilesContaining(t *testing.T, dir string, needles []string, keep func(string) bool) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".toml") || !keep(p) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if strings.Contains(string(b), n) {
				found = append(found, p)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("searching %s: %v", dir, err)
	}
	return found
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// basicToken is the base64 user:password of a legacy `auth` field.
func basicToken(c rig.Credentials) string {
	return base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))
}
