package golden

// TestExplainMatchesLoader proves that `check --explain` is containerd's
// own loader: for every golden case's tree after apply, every golden
// case's input tree and every check case's tree, the host list
// diagnose.Explain builds for a namespace equals what
// config.ConfigureHosts (containerd v2.4.2, the test-only dependency)
// returns for it, host by host: scheme, host, path, capabilities,
// headers (names as written), skip-verify, CA and client certificates,
// the HTTPS-first fallback, and whether the pull fails outright.
//
// It also checks every finding that says containerd ignores a file, a
// directory (Finding.Ignored) or a key-value (Finding.IgnoredKey: its line
// is deleted): removing it must not change what the loader returns for any
// namespace.

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	docker17 "github.com/containerd/containerd/remotes/docker"
	config17 "github.com/containerd/containerd/remotes/docker/config"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/diagnose"
	"github.com/certsd-migrate/certsd-migrate/migrate"
)

// loaders are the containerd releases whose hosts.toml loader the test
// links (test-only dependencies): 2.4.2 (go-toml v2) and 1.7.30 (go-toml
// v1, no [host] table still fatal), each compared with check explaining
// for that release.
var loaders = []struct {
	release string
	load    func(roots []string) func(string) ([]loadedHost, error)
}{
	{"2.4.2", load2},
	{"1.7.30", load17},
}

// loaderRelease is the release of the primary loader.
const loaderRelease = "2.4.2"

// loadedHost is one RegistryHost, whichever containerd built it.
type loadedHost struct {
	Scheme, Host, Path string
	Capabilities       uint
	Header             http.Header
	Transport          http.RoundTripper
}

func load2(roots []string) func(string) ([]loadedHost, error) {
	hosts := config.ConfigureHosts(context.Background(), config.HostOptions{HostDir: hostDirFromRoots(roots)})
	return func(ns string) ([]loadedHost, error) {
		rh, err := hosts(ns)
		var out []loadedHost
		for _, h := range rh {
			out = append(out, loadedHost{h.Scheme, h.Host, h.Path, uint(h.Capabilities), h.Header, h.Client.Transport})
		}
		return out, err
	}
}

func load17(roots []string) func(string) ([]loadedHost, error) {
	fns := make([]func(string) (string, error), len(roots))
	for i, r := range roots {
		fns[i] = config17.HostDirFromRoot(r)
	}
	hostDir := func(host string) (dir string, err error) {
		for _, fn := range fns {
			dir, err = fn(host)
			if (err != nil && !isNotFound(err)) || dir != "" {
				break
			}
		}
		return dir, err
	}
	hosts := config17.ConfigureHosts(context.Background(), config17.HostOptions{HostDir: hostDir})
	return func(ns string) ([]loadedHost, error) {
		rh, err := hosts(ns)
		var out []loadedHost
		for _, h := range rh {
			out = append(out, loadedHost{h.Scheme, h.Host, h.Path, uint(h.Capabilities), h.Header, h.Client.Transport})
		}
		return out, err
	}
}

// The pull, resolve and push bits are the same in both lines (1.7 has no referrers).
var _ = [1]struct{}{}[uint(docker17.HostCapabilityPull|docker17.HostCapabilityResolve|docker17.HostCapabilityPush)-uint(docker.HostCapabilityPull|docker.HostCapabilityResolve|docker.HostCapabilityPush)]

func TestExplainMatchesLoader(t *testing.T) {
	type tree struct {
		name  string
		files map[string][]byte
		args  []string
	}
	var trees []tree
	for _, c := range loadCases(t) {
		// A registries.yaml node's input is read by k3s, not by containerd's
		// hosts loader; the tree after apply is containerd's.
		if !slices.Contains(c.args, "--registries") {
			trees = append(trees, tree{c.name + "/in", c.in, c.args})
		}
		if len(c.want) > 0 {
			after := map[string][]byte{}
			for p, d := range c.in {
				after[p] = d
			}
			for p, d := range c.want {
				after[p] = d
			}
			trees = append(trees, tree{c.name + "/after", after, c.args})
		}
	}
	for _, c := range loadCheckCases(t) {
		trees = append(trees, tree{"check/" + c.name, c.in, c.args})
	}
	for _, l := range loaders {
		t.Run(l.release, func(t *testing.T) {
			compared, ignoredChecked := 0, 0
			for _, tr := range trees {
				t.Run(tr.name, func(t *testing.T) {
					n, ig := explainCrossCheck(t, tr.files, tr.args, l.release, l.load)
					compared += n
					ignoredChecked += ig
				})
			}
			t.Logf("%d trees, %d namespaces compared with containerd %s's loader, %d ignored files, directories or keys checked", len(trees), compared, l.release, ignoredChecked)
			if compared < 100 {
				t.Errorf("only %d namespaces compared: the cross-check is not exercising the cases", compared)
			}
		})
	}
}

// explainCrossCheck compares one tree; it returns the number of
// namespaces compared and of ignored paths checked.
func explainCrossCheck(t *testing.T, files map[string][]byte, args []string, release string, loader func([]string) func(string) ([]loadedHost, error)) (int, int) {
	t.Helper()
	ourRoot := filepath.Join(t.TempDir(), "node")
	writeFiles(t, ourRoot, files)
	opts := migrate.Options{Root: ourRoot}
	for i, a := range args {
		if i+1 >= len(args) {
			break
		}
		switch a {
		case "--config":
			opts.ConfigFile = args[i+1]
		case "--certs-dir":
			opts.CertsDir = args[i+1]
		}
	}
	target, err := convert.ParseTarget(release)
	if err != nil {
		t.Fatal(err)
	}
	opts.Target = target
	node, closeNode, err := migrate.ReadNode(opts)
	defer closeNode()
	if err != nil {
		t.Skipf("the node cannot be read: %v", err)
	}
	report, err := diagnose.Check(node)
	if err != nil {
		t.Skipf("check fails: %v", err)
	}
	if !report.HostsMode {
		t.Skip("config_path is not set: containerd reads no hosts.toml")
	}

	// The loader reads the same tree, with absolute TLS paths moved under
	// its root.
	loaderRoot := filepath.Join(t.TempDir(), "loader")
	writeLoaderTree(t, loaderRoot, files, "")
	load := loaderFor(loader, loaderRoot, report.CertsDirs)

	nsSet := map[string]bool{"docker.io": true, "example.org": true, "localhost:5000": true, "127.0.0.1": true}
	for _, ns := range report.Configured() {
		nsSet[ns] = true
	}
	for p := range files {
		for _, root := range report.CertsDirs {
			if rel, ok := strings.CutPrefix(p, root+"/"); ok {
				name, _, dir := strings.Cut(rel, "/")
				if !dir {
					continue // a file, not a registry directory
				}
				nsSet[name] = true
				if i := strings.LastIndex(name, "_"); i > 0 {
					nsSet[name[:i]+":"+name[i+1:]] = true // host_port without the trailing _
				}
			}
		}
	}
	var nss []string
	for _, ns := range sortedKeys(nsSet) {
		// An image reference's registry has no underscore: a directory
		// named host_port only stands for host:port.
		if ns == "_default" || !strings.Contains(ns, "_") {
			nss = append(nss, ns)
		}
	}
	for _, ns := range nss {
		ours := report.Explain(ns)
		lookup := ns
		if ns == "_default" {
			lookup = "*"
		}
		got, gerr := load(lookup)
		for _, d := range diffExplain(ours, got, gerr, loaderRoot) {
			t.Errorf("namespace %s: %s\n  check:  %s\n  loader: %s", ns, d, describeExplained(ours), describeLoaded(got, gerr))
		}
	}

	// Ignored paths and keys: the loader must not notice their removal.
	ignored := 0
	for _, f := range report.Findings {
		if f.Versions != "" {
			continue
		}
		skip, edited := f.Ignored, files
		switch {
		case f.IgnoredKey:
			lines := strings.SplitAfter(string(files[f.Pos.File]), "\n")
			if f.Pos.Line < 1 || f.Pos.Line > len(lines) || !strings.Contains(lines[f.Pos.Line-1], "=") || strings.HasPrefix(strings.TrimSpace(lines[f.Pos.Line-1]), "[") {
				continue
			}
			edited = map[string][]byte{}
			for p, d := range files {
				edited[p] = d
			}
			edited[f.Pos.File] = []byte(strings.Join(slices.Delete(lines, f.Pos.Line-1, f.Pos.Line), ""))
			skip = f.Pos.File + ":" + fmt.Sprint(f.Pos.Line)
		case f.Ignored == "":
			continue
		}
		ignored++
		without := filepath.Join(t.TempDir(), "without")
		writeLoaderTree(t, without, edited, f.Ignored)
		loadWithout := loaderFor(loader, without, report.CertsDirs)
		for _, ns := range nss {
			lookup := ns
			if ns == "_default" {
				lookup = "*"
			}
			a, aerr := load(lookup)
			b, berr := loadWithout(lookup)
			da := strings.ReplaceAll(describeLoaded(a, aerr), loaderRoot, "$ROOT")
			db := strings.ReplaceAll(describeLoaded(b, berr), without, "$ROOT")
			if da != db {
				t.Errorf("[%s] says containerd ignores %s, but its loader's hosts for %s change without it:\n  with:    %s\n  without: %s", f.Code, skip, ns, da, db)
			}
		}
	}
	return len(nss), ignored
}

// writeLoaderTree writes files under root, leaving out skip (a file or a
// directory), with hosts.toml TLS paths moved under root.
func writeLoaderTree(t *testing.T, root string, files map[string][]byte, skip string) {
	t.Helper()
	out := map[string][]byte{}
	for p, d := range files {
		if skip != "" && (p == skip || strings.HasPrefix(p, skip+"/")) {
			continue
		}
		if path.Base(p) == "hosts.toml" {
			d = rewriteHostsPaths(d, root)
		}
		out[p] = d
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, out)
}

func loaderFor(loader func([]string) func(string) ([]loadedHost, error), root string, certsDirs []string) func(string) ([]loadedHost, error) {
	var roots []string
	for _, d := range certsDirs {
		roots = append(roots, filepath.Join(root, d))
	}
	return loader(roots)
}

var capBits = map[string]uint{
	"pull": uint(docker.HostCapabilityPull), "resolve": uint(docker.HostCapabilityResolve),
	"push": uint(docker.HostCapabilityPush), "referrers": uint(docker.HostCapabilityReferrers),
}

// diffExplain lists the differences between check's explanation and the
// loader's result.
func diffExplain(ours diagnose.Namespace, got []loadedHost, gerr error, loaderRoot string) []string {
	if (ours.Error != "") != (gerr != nil) {
		return []string{fmt.Sprintf("check says the pull fails: %q; the loader's error: %v", ours.Error, gerr)}
	}
	if gerr != nil {
		return nil
	}
	if len(ours.Hosts) != len(got) {
		return []string{fmt.Sprintf("%d hosts, the loader has %d", len(ours.Hosts), len(got))}
	}
	var d []string
	for i, h := range ours.Hosts {
		g := got[i]
		var caps uint
		for _, c := range h.Capabilities {
			caps |= capBits[c]
		}
		field := func(name string, a, b any) {
			if !reflect.DeepEqual(a, b) {
				d = append(d, fmt.Sprintf("host %d %s: check %v, loader %v", i, name, a, b))
			}
		}
		field("scheme", h.Scheme, g.Scheme)
		field("host", h.Host, g.Host)
		field("path", h.Path, g.Path)
		field("capabilities", caps, g.Capabilities)
		var hdr http.Header
		if len(h.Header) > 0 {
			hdr = http.Header(h.Header)
		}
		if len(g.Header) == 0 {
			g.Header = nil
		}
		field("header", hdr, g.Header)
		tr, plain := g.Transport.(*http.Transport)
		field("https-first", h.HTTPSFirst, !plain)
		if plain && tr.TLSClientConfig != nil {
			tc := tr.TLSClientConfig
			field("skip_verify", h.SkipVerify, tc.InsecureSkipVerify)
			field("ca set", len(h.CA) > 0, tc.RootCAs != nil)
			field("client certificates", len(h.Client), len(tc.Certificates))
		}
	}
	return d
}

func describeExplained(ns diagnose.Namespace) string {
	if ns.Error != "" {
		return "error: " + ns.Error
	}
	var parts []string
	for _, h := range ns.Hosts {
		parts = append(parts, fmt.Sprintf("%s %v", h.URL(), h.Capabilities))
	}
	return strings.Join(parts, ", ")
}

func describeLoaded(hosts []loadedHost, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var parts []string
	for _, h := range hosts {
		s := fmt.Sprintf("%s://%s%s caps=%d", h.Scheme, h.Host, h.Path, h.Capabilities)
		if len(h.Header) > 0 {
			keys := make([]string, 0, len(h.Header))
			for k := range h.Header {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			s += fmt.Sprintf(" header=%v", keys)
		}
		if tr, ok := h.Transport.(*http.Transport); ok {
			if tc := tr.TLSClientConfig; tc != nil {
				s += fmt.Sprintf(" skip=%v ca=%v certs=%d", tc.InsecureSkipVerify, tc.RootCAs != nil, len(tc.Certificates))
			}
		} else {
			s += fmt.Sprintf(" transport=%T", h.Transport)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// TestExplainCrossCheckCanFail: the comparison notices a changed order, a
// dropped header and a missed HTTPS-first upgrade.
func TestExplainCrossCheckCanFail(t *testing.T) {
	files := map[string][]byte{
		"/etc/containerd/config.toml": []byte("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"),
		"/etc/containerd/certs.d/docker.io/hosts.toml": []byte("server = \"https://registry-1.docker.io\"\n\n" +
			"[host.\"https://a.example.com\"]\n  capabilities = [\"pull\", \"resolve\"]\n  [host.\"https://a.example.com\".header]\n    X-Team = \"infra\"\n\n" +
			"[host.\"http://b.example.com:5000\"]\n  skip_verify = true\n"),
	}
	root := filepath.Join(t.TempDir(), "node")
	writeFiles(t, root, files)
	target, _ := convert.ParseTarget(loaderRelease)
	node, closeNode, err := migrate.ReadNode(migrate.Options{Root: root, Options: convert.Options{Target: target}})
	defer closeNode()
	if err != nil {
		t.Fatal(err)
	}
	report, err := diagnose.Check(node)
	if err != nil {
		t.Fatal(err)
	}
	got, gerr := loaderFor(load2, root, report.CertsDirs)("docker.io")
	good := report.Explain("docker.io")
	if d := diffExplain(good, got, gerr, root); len(d) > 0 {
		t.Fatalf("the unmodified explanation differs: %v", d)
	}
	for name, mutate := range map[string]func(ns *diagnose.Namespace){
		"swap":        func(ns *diagnose.Namespace) { ns.Hosts[0], ns.Hosts[1] = ns.Hosts[1], ns.Hosts[0] },
		"drop header": func(ns *diagnose.Namespace) { ns.Hosts[0].Header = nil },
		"no upgrade":  func(ns *diagnose.Namespace) { ns.Hosts[1].HTTPSFirst, ns.Hosts[1].Scheme = false, "http" },
		"drop server": func(ns *diagnose.Namespace) { ns.Hosts = ns.Hosts[:2] },
		"fail":        func(ns *diagnose.Namespace) { ns.Error = "unable to read CA cert" },
	} {
		bad := report.Explain("docker.io")
		mutate(&bad)
		if d := diffExplain(bad, got, gerr, root); len(d) == 0 {
			t.Errorf("%s: not detected", name)
		}
	}
}

// FuzzExplainMatchesLoader: for any hosts.toml, check's explanation equals
// what containerd 2.4.2's and 1.7.30's loaders build from it. Seeds: every
// hosts.toml of the golden and check cases.
func FuzzExplainMatchesLoader(f *testing.F) {
	for _, glob := range []string{"testdata/*.txtar", "testdata/check/*.txtar"} {
		paths, _ := filepath.Glob(glob)
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			for _, sec := range strings.Split(string(data), "\n-- ") {
				name, body, ok := strings.Cut(sec, " --\n")
				if ok && strings.HasSuffix(name, "/hosts.toml") {
					f.Add([]byte(body))
				}
			}
		}
	}
	cert, err := os.ReadFile("testdata/check/cert-file-extension.txtar")
	if err != nil {
		f.Fatal(err)
	}
	pemOf := func(section string) []byte {
		_, rest, _ := strings.Cut(string(cert), "-- in/etc/containerd/certs.d/registry.example.com/"+section+" --\n")
		body, _, _ := strings.Cut(rest, "\n-- ")
		return []byte(body + "\n")
	}
	f.Fuzz(func(t *testing.T, hostsToml []byte) {
		dir := "/etc/containerd/certs.d/registry.example.com"
		files := map[string][]byte{
			"/etc/containerd/config.toml": []byte("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"),
			dir + "/hosts.toml":           hostsToml,
			dir + "/ca.crt":               pemOf("ca.crt"),
			dir + "/client.cert":          pemOf("client.cert"),
			dir + "/client.key":           pemOf("client.key"),
		}
		for _, l := range loaders {
			root := filepath.Join(t.TempDir(), "node")
			writeFiles(t, root, files)
			target, _ := convert.ParseTarget(l.release)
			node, closeNode, err := migrate.ReadNode(migrate.Options{Root: root, Options: convert.Options{Target: target}})
			defer closeNode()
			if err != nil {
				t.Fatal(err)
			}
			report, err := diagnose.Check(node)
			if err != nil {
				t.Fatal(err)
			}
			for _, ns := range []string{"registry.example.com", "docker.io"} {
				ours := report.Explain(ns)
				got, gerr := loaderFor(l.load, root, report.CertsDirs)(ns)
				for _, d := range diffExplain(ours, got, gerr, root) {
					t.Errorf("containerd %s, %s: %s\n  check:  %s\n  loader: %s\nhosts.toml:\n%s", l.release, ns, d, describeExplained(ours), describeLoaded(got, gerr), hostsToml)
				}
			}
		}
	})
}
