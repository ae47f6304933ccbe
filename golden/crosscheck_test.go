package golden

// TestLoaderCrossCheck checks each golden case's hosts.toml output against
// containerd itself: what containerd's hosts.toml loader
// (config.ConfigureHosts, v2.4.2) builds from the tree after apply must be
// what the legacy CRI resolver built from the input config (legacy_test.go,
// docs/semantics.md §3), namespace by namespace, host by host.
//
// Compared per namespace, after collapsing repeated identical entries on
// each side (first occurrence kept; legacy tries registry-1.docker.io twice
// for a literal Docker Hub mirror, the tool may repeat the server as a
// [host]):
//   - same number and order of hosts; Scheme, Host and the effective API
//     root (path.Join("/", Path), which is how the resolver builds request
//     paths) equal;
//   - capabilities masked to pull|resolve (hosts mode may add push and
//     referrers on the server; legacy only has pull|resolve);
//   - TLS: a plain *http.Transport (an HTTPS-first fallback wrapper is a
//     mismatch), InsecureSkipVerify, RootCAs (system pool + the legacy
//     ca_file, or none) and the client certificate leaves. Legacy applies
//     configs[host].tls to https endpoints only;
//   - with `--auth header`, an `Authorization: Basic …` header on exactly
//     the entries whose host has Basic-able credentials; otherwise none.
//     Credentials not turned into a header must still be in the trimmed
//     config (after containerd's auths folding), unchanged.
//
// Skipped: cases whose diff does not exit 1 or that write no hosts.toml,
// and multi-file configs whose CRI plugin tables are spread over several
// imported files when the case gives no --containerd-version (the 1.x
// whole-section replace and the 2.x deep merge differ; see mergedRegistry).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/core/remotes/docker/config"
	"github.com/distribution/reference"
)

// wildcardProbe stands for "any other registry" when mirrors."*" is set.
const wildcardProbe = "probe.example.org"

func TestLoaderCrossCheck(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if exit := strings.TrimSpace(string(c.section("want.exit"))); exit != "1" {
				t.Skipf("want.exit is %q, not 1: nothing is applied", exit)
			}
			if !writesHostsToml(c) {
				t.Skip("want/ has no hosts.toml")
			}
			if slices.Contains(c.args, "--registries") {
				t.Skip("registries.yaml input: compared with what k3s writes by TestK3sParity")
			}
			res := crossCheck(t, c)
			if res.skip != "" {
				t.Skip(res.skip)
			}
			for _, m := range res.mismatches {
				t.Error(m)
			}
			for _, m := range res.tolerated {
				t.Log("known divergence: " + m)
			}
			t.Logf("namespaces checked: %s", strings.Join(res.namespaces, ", "))

			// The check must be able to fail on this very case: swapping
			// two distinct [host] tables of any hosts.toml is reported
			// (unless a namespace fails to resolve either way, which hides
			// its order).
			if len(res.bothFail) > 0 {
				t.Logf("pulls fail before and after for %s; swap self-check skipped", strings.Join(res.bothFail, ", "))
				return
			}
			for p, data := range c.want {
				swapped, ok := swapHostTables(data)
				if !ok {
					continue
				}
				bad := c.withWant(p, swapped)
				if r := crossCheck(t, bad); len(r.mismatches) == 0 && r.skip == "" {
					t.Errorf("swapping the first two [host] tables of want%s was not detected", p)
				} else {
					t.Logf("self-check: swapping the first two [host] tables of want%s is detected (%d mismatches)", p, len(r.mismatches))
				}
			}
		})
	}
	t.Run("self-test", testCrossCheckCanFail)
}

type crossResult struct {
	skip       string
	namespaces []string
	mismatches []string
	tolerated  []string // mismatches the tool warns about (knownDivergences)
	bothFail   []string // namespaces whose pulls fail before and after
}

// knownDivergences are behaviour changes the tool cannot avoid and reports
// with a warning; a mismatch is tolerated (logged, not failed) when the
// case's want.stderr carries the warning for it.
var knownDivergences = []struct {
	code string
	// key extracts what the warning is about from its line.
	key *regexp.Regexp
	// covers reports whether the warning explains the mismatch.
	covers func(key, ns, msg string) bool
}{
	{
		// An existing host_port_ (or _default) directory hides the
		// migrated hosts.toml; the tool leaves it alone.
		code: "shadowed-by-existing-dir",
		key:  regexp.MustCompile(`settings for (\S+?);`),
		covers: func(key, ns, msg string) bool {
			return key == ns
		},
	},
	{
		// A missing or non-PEM CA: legacy ignored a non-PEM CA file,
		// hosts.toml fails the pull (docs/semantics.md §5.8).
		code: "ca-file-invalid",
		key:  regexp.MustCompile(`(?:ca file|CA file) (\S+)`),
		covers: func(key, ns, msg string) bool {
			return strings.Contains(msg, "hosts.toml fails") && strings.Contains(msg, key+`"`)
		},
	},
}

// tolerate reports the warning code that explains a mismatch, if any.
func tolerate(stderr, ns, msg string) string {
	for _, line := range strings.Split(stderr, "\n") {
		for _, k := range knownDivergences {
			if !strings.HasSuffix(line, "["+k.code+"]") {
				continue
			}
			if m := k.key.FindStringSubmatch(line); m != nil && k.covers(m[1], ns, msg) {
				return k.code
			}
		}
	}
	return ""
}

// crossCheck runs the comparison for one case and returns what differs.
func crossCheck(t *testing.T, c *goldenCase) crossResult {
	t.Helper()
	var res crossResult
	fail := func(format string, args ...any) {
		res.mismatches = append(res.mismatches, fmt.Sprintf("case %s: ", c.name)+fmt.Sprintf(format, args...))
	}
	stderr := string(c.section("want.stderr"))
	failNS := func(ns, format string, args ...any) {
		msg := fmt.Sprintf("namespace %s: ", ns) + fmt.Sprintf(format, args...)
		if code := tolerate(stderr, ns, msg); code != "" {
			res.tolerated = append(res.tolerated, fmt.Sprintf("case %s: %s (warned: [%s])", c.name, msg, code))
			return
		}
		fail("%s", msg)
	}

	// Like the tool: containerd's config, else k0s's.
	mainConfig, authHeader, target, k0sMerges := "/etc/containerd/config.toml", false, "", false
	if _, ok := c.in[mainConfig]; !ok {
		if _, ok := c.in["/etc/k0s/containerd.toml"]; ok {
			mainConfig = "/etc/k0s/containerd.toml"
		}
	}
	for i, a := range c.args {
		switch {
		case a == "--containerd-version" && i+1 < len(c.args):
			target = c.args[i+1]
		case strings.HasPrefix(a, "--containerd-version="):
			target = strings.TrimPrefix(a, "--containerd-version=")
		case a == "--config" && i+1 < len(c.args):
			mainConfig = c.args[i+1]
		case strings.HasPrefix(a, "--config="):
			mainConfig = strings.TrimPrefix(a, "--config=")
		case a == "--auth" && i+1 < len(c.args):
			authHeader = c.args[i+1] == "header"
		case a == "--auth=header":
			authHeader = true
		case a == "--k0s-version" && i+1 < len(c.args):
			k0sMerges = k0sBefore136(c.args[i+1])
		}
	}

	// Before: the legacy registry, auths folded into configs.
	inRoot := filepath.Join(t.TempDir(), "in")
	writeFiles(t, inRoot, c.in)
	inFiles, err := loadLegacyChain(inRoot, mainConfig, target)
	if err != nil {
		fail("decoding in/ config: %v", err)
		return res
	}
	if k0sMerges {
		markK0sPatches(inFiles)
	}
	reg, skip := mergedRegistry(inFiles, target)
	if skip != "" {
		res.skip = skip
		return res
	}
	if err := reg.foldAuths(); err != nil {
		fail("in/ config: %v", err)
		return res
	}

	// After: in/ overlaid with want/, hosts.toml TLS paths moved under the
	// temp root.
	afterRoot := filepath.Join(t.TempDir(), "after")
	writeFiles(t, afterRoot, c.in)
	after := map[string][]byte{}
	for p, data := range c.want {
		if path.Base(p) == "hosts.toml" {
			data = rewriteHostsPaths(data, afterRoot)
		}
		after[p] = data
	}
	writeFiles(t, afterRoot, after)
	afterFiles, err := loadLegacyChain(afterRoot, mainConfig, target)
	if err != nil {
		fail("decoding the config after apply: %v", err)
		return res
	}
	if k0sMerges {
		markK0sPatches(afterFiles)
	}
	trimmed, skip := mergedRegistry(afterFiles, target)
	if skip != "" {
		fail("the config after apply: %s", skip)
		return res
	}
	configPath := trimmed.ConfigPath
	if configPath == "" {
		fail("the config after apply sets no config_path")
		return res
	}
	if err := trimmed.foldAuths(); err != nil {
		fail("config after apply: %v", err)
		return res
	}
	var roots []string
	for _, r := range filepath.SplitList(configPath) {
		roots = append(roots, filepath.Join(afterRoot, r))
	}
	hosts := config.ConfigureHosts(context.Background(), config.HostOptions{HostDir: hostDirFromRoots(roots)})

	// Namespaces: every mirror key, every configs key that is a host, plus
	// Docker Hub and an unconfigured registry.
	nsSet := map[string]bool{"docker.io": true, "example.org": true}
	for k := range reg.Mirrors {
		if k == "*" {
			k = wildcardProbe
		}
		if !nameableRegistry(k) {
			continue // no image name reaches it: the CRI refuses the name
		}
		nsSet[k] = true
	}
	for k := range reg.Configs {
		if isHostKey(k) && nameableRegistry(k) {
			nsSet[k] = true
		}
	}
	res.namespaces = sortedKeys(nsSet)

	for _, ns := range res.namespaces {
		want, werr := reg.legacyHosts(inRoot, ns)
		got, gerr := hosts(ns)
		switch {
		case werr != nil && gerr != nil:
			res.bothFail = append(res.bothFail, ns) // both fail the pull
			continue
		case werr != nil:
			failNS(ns, "legacy fails (%v) but hosts.toml resolves to %s", werr, describeRegistryHosts(got))
			continue
		case gerr != nil:
			failNS(ns, "hosts.toml fails (%v) but legacy resolves to %s", gerr, describeEntries(want))
			continue
		}
		for i := range want {
			if authHeader {
				if h := basicHeader(want[i].Credentials); h != "" {
					want[i].Authorization = []string{h}
				}
			}
			want[i].Credentials = nil
		}
		gotEntries := make([]hostEntry, len(got))
		for i, h := range got {
			gotEntries[i] = fromRegistryHost(h)
		}
		want, gotEntries = collapse(want, diffEntry), collapse(gotEntries, diffEntry)
		if len(want) != len(gotEntries) {
			failNS(ns, "%d hosts, want %d\n  want: %s\n  got:  %s", len(gotEntries), len(want), describeEntries(want), describeEntries(gotEntries))
		}
		for i := 0; i < len(want) && i < len(gotEntries); i++ {
			for _, d := range diffEntry(want[i], gotEntries[i]) {
				failNS(ns, "host %d (%s): %s", i, want[i].url(), d)
			}
		}
	}

	// Credentials that did not become a header must stay in config.toml.
	for _, k := range sortedKeys(reg.Configs) {
		a := reg.Configs[k].Auth
		if a == nil || !isHostKey(k) {
			continue
		}
		u, s, err := parseAuth(a)
		if err != nil {
			continue // containerd fails pulls with it either way
		}
		cred := &[2]string{u, s}
		if authHeader && basicHeader(cred) != "" {
			continue
		}
		kept := trimmed.Configs[k].Auth
		if kept == nil {
			fail("credentials for %s: the config after apply has no configs.%q.auth (and they became no header)", k, k)
			continue
		}
		if ku, ks, err := parseAuth(kept); err != nil || ku != u || ks != s {
			fail("credentials for %s: the config after apply changed configs.%q.auth", k, k)
		}
	}
	return res
}

// hostDirFromRoots is the CRI's helper of the same name: roots in order,
// the first that yields a directory wins.
func hostDirFromRoots(roots []string) func(string) (string, error) {
	fns := make([]func(string) (string, error), len(roots))
	for i, r := range roots {
		fns[i] = config.HostDirFromRoot(r)
	}
	return func(host string) (dir string, err error) {
		for _, fn := range fns {
			dir, err = fn(host)
			if (err != nil && !isNotFound(err)) || dir != "" {
				break
			}
		}
		return dir, err
	}
}

// isNotFound is errdefs.IsNotFound without importing errdefs (not a
// direct requirement of this module): errdefs' errors have a NotFound method.
func isNotFound(err error) bool {
	var nf interface{ NotFound() }
	return errors.As(err, &nf)
}

// fromRegistryHost normalises what containerd's loader built.
func fromRegistryHost(h docker.RegistryHost) hostEntry {
	e := hostEntry{Scheme: h.Scheme, Host: h.Host, Path: h.Path, Caps: uint8(h.Capabilities) & (capPull | capResolve)}
	var rt http.RoundTripper
	if h.Client != nil {
		rt = h.Client.Transport
	}
	switch tr := rt.(type) {
	case *http.Transport:
		if tc := tr.TLSClientConfig; tc != nil {
			e.SkipVerify = tc.InsecureSkipVerify
			e.RootCAs = tc.RootCAs
			for _, cert := range tc.Certificates {
				if len(cert.Certificate) > 0 {
					e.ClientLeaves = append(e.ClientLeaves, cert.Certificate[0])
				}
			}
		}
	default:
		e.Transport = fmt.Sprintf("%T", rt)
	}
	for k, v := range h.Header {
		switch {
		case k == "Authorization":
			e.Authorization = v
		case strings.EqualFold(k, "Authorization"):
			e.NonCanonicalAuth = append(e.NonCanonicalAuth, k)
		}
	}
	sort.Strings(e.NonCanonicalAuth)
	return e
}

func (e hostEntry) url() string { return e.Scheme + "://" + e.Host + e.Path }

// diffEntry lists the fields in which got differs from want.
func diffEntry(want, got hostEntry) []string {
	var d []string
	field := func(name string, w, g any) {
		if fmt.Sprint(w) != fmt.Sprint(g) {
			d = append(d, fmt.Sprintf("%s: want %v, got %v", name, w, g))
		}
	}
	field("Scheme", want.Scheme, got.Scheme)
	field("Host", want.Host, got.Host)
	if path.Join("/", want.Path) != path.Join("/", got.Path) {
		d = append(d, fmt.Sprintf("Path: want %q, got %q", want.Path, got.Path))
	}
	field("Capabilities&(pull|resolve)", capString(want.Caps), capString(got.Caps))
	field("Transport", orPlain(want.Transport), orPlain(got.Transport))
	field("InsecureSkipVerify", want.SkipVerify, got.SkipVerify)
	switch {
	case want.RootCAs == nil && got.RootCAs == nil:
	case want.RootCAs == nil || got.RootCAs == nil || !want.RootCAs.Equal(got.RootCAs):
		d = append(d, fmt.Sprintf("RootCAs: want %s, got %s", describePool(want.RootCAs), describePool(got.RootCAs)))
	}
	if !equalLeaves(want.ClientLeaves, got.ClientLeaves) {
		d = append(d, fmt.Sprintf("client certificates: want %s, got %s", leafNames(want.ClientLeaves), leafNames(got.ClientLeaves)))
	}
	field("Authorization header", quoteAll(want.Authorization), quoteAll(got.Authorization))
	if len(got.NonCanonicalAuth) > 0 {
		d = append(d, fmt.Sprintf("header keys %q are not canonical (containerd sends them besides Authorization)", got.NonCanonicalAuth))
	}
	return d
}

// collapse drops entries that diff reports no difference from an earlier
// one.
func collapse[E any](es []E, diff func(a, b E) []string) []E {
	var out []E
next:
	for _, e := range es {
		for _, o := range out {
			if len(diff(o, e)) == 0 {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

func capString(c uint8) string {
	var s []string
	if c&capPull != 0 {
		s = append(s, "pull")
	}
	if c&capResolve != 0 {
		s = append(s, "resolve")
	}
	return "[" + strings.Join(s, " ") + "]"
}

func orPlain(tr string) string {
	if tr == "" {
		return "*http.Transport"
	}
	return tr
}

func quoteAll(v []string) string {
	if len(v) == 0 {
		return "(none)"
	}
	return fmt.Sprintf("%q", v)
}

func equalLeaves(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func leafNames(leaves [][]byte) string {
	if len(leaves) == 0 {
		return "(none)"
	}
	var s []string
	for _, der := range leaves {
		if c, err := x509.ParseCertificate(der); err == nil {
			s = append(s, fmt.Sprintf("%q (serial %s)", c.Subject.String(), c.SerialNumber))
		} else {
			s = append(s, "(unparsable)")
		}
	}
	return strings.Join(s, ", ")
}

// poolSubjects lists a pool's subjects (Subjects is deprecated only
// because it omits platform-verifier roots, which do not matter here).
func poolSubjects(p *x509.CertPool) []string {
	if p == nil {
		return nil
	}
	var out []string
	//lint:ignore SA1019 the roots added on top of the system pool are what is compared
	for _, raw := range p.Subjects() {
		var rdn pkix.RDNSequence
		if _, err := asn1.Unmarshal(raw, &rdn); err != nil {
			out = append(out, fmt.Sprintf("%x", raw))
			continue
		}
		var n pkix.Name
		n.FillFromRDNSequence(&rdn)
		out = append(out, n.String())
	}
	return out
}

// describePool names a pool as the system roots plus the subjects it
// adds to them.
func describePool(p *x509.CertPool) string {
	if p == nil {
		return "none (system roots)"
	}
	sys, err := x509.SystemCertPool()
	if err != nil {
		sys = x509.NewCertPool()
	}
	in := map[string]int{}
	for _, s := range poolSubjects(sys) {
		in[s]++
	}
	var extra []string
	for _, s := range poolSubjects(p) {
		if in[s] > 0 {
			in[s]--
			continue
		}
		extra = append(extra, s)
	}
	missing := 0
	for _, n := range in {
		missing += n
	}
	s := fmt.Sprintf("system roots + %q", extra)
	if missing > 0 {
		s += fmt.Sprintf(" - %d system roots", missing)
	}
	return s
}

func describeEntries(es []hostEntry) string {
	var s []string
	for _, e := range es {
		x := e.url() + " " + capString(e.Caps)
		if e.Transport != "" {
			x += " transport=" + e.Transport
		}
		if e.SkipVerify {
			x += " skip_verify"
		}
		if e.RootCAs != nil {
			x += " ca"
		}
		if len(e.ClientLeaves) > 0 {
			x += " client"
		}
		if len(e.Authorization) > 0 {
			x += " Authorization"
		}
		s = append(s, x)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func describeRegistryHosts(hs []docker.RegistryHost) string {
	es := make([]hostEntry, len(hs))
	for i, h := range hs {
		es[i] = fromRegistryHost(h)
	}
	return describeEntries(es)
}

func writesHostsToml(c *goldenCase) bool {
	for p := range c.want {
		if path.Base(p) == "hosts.toml" {
			return true
		}
	}
	return false
}

func writeFiles(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for p, data := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// rewriteHostsPaths prefixes root to every absolute path in the values of
// `ca` and `client` keys (at any table level, arrays across lines
// included), so the node's files are found under the temp root.
func rewriteHostsPaths(data []byte, root string) []byte {
	var out strings.Builder
	depth := 0 // open brackets of a ca/client value spanning lines
	for _, line := range strings.SplitAfter(string(data), "\n") {
		start := -1
		if depth > 0 {
			start = 0
		} else {
			trimmed := strings.TrimLeft(line, " \t")
			for _, k := range []string{"ca", "client", `"ca"`, `"client"`} {
				rest, ok := strings.CutPrefix(trimmed, k)
				if !ok {
					continue
				}
				if r := strings.TrimLeft(rest, " \t"); strings.HasPrefix(r, "=") {
					start = len(line) - len(r) + 1
					break
				}
			}
		}
		if start < 0 {
			out.WriteString(line)
			continue
		}
		out.WriteString(line[:start])
		var quote byte
		for i := start; i < len(line); i++ {
			ch := line[i]
			out.WriteByte(ch)
			switch {
			case quote != 0:
				if ch == '\\' && quote == '"' && i+1 < len(line) {
					i++
					out.WriteByte(line[i])
				} else if ch == quote {
					quote = 0
				}
			case ch == '"' || ch == '\'':
				quote = ch
				if i+1 < len(line) && line[i+1] == '/' {
					out.WriteString(filepath.ToSlash(root))
				}
			case ch == '[':
				depth++
			case ch == ']':
				depth--
			case ch == '#':
				out.WriteString(line[i+1:])
				i = len(line)
			}
		}
		if depth < 0 {
			depth = 0
		}
	}
	return []byte(out.String())
}

// hostTableURL returns the URL of a `[host."URL"]` header line (not of a
// sub-table such as `[host."URL".header]`).
func hostTableURL(line string) (string, bool) {
	s := strings.TrimSpace(line)
	rest, ok := strings.CutPrefix(s, `[host."`)
	if !ok {
		return "", false
	}
	u, tail, ok := strings.Cut(rest, `"`)
	if !ok || strings.TrimSpace(strings.SplitN(tail, "#", 2)[0]) != "]" {
		return "", false
	}
	return u, true
}

// swapHostTables swaps the first two [host] tables (with their sub-tables)
// whose URLs differ; ok is false when the file has no such pair.
func swapHostTables(data []byte) ([]byte, bool) {
	lines := strings.SplitAfter(string(data), "\n")
	type block struct {
		url        string
		start, end int
	}
	var blocks []block
	for i, l := range lines {
		if u, ok := hostTableURL(l); ok {
			if len(blocks) > 0 {
				blocks[len(blocks)-1].end = i
			}
			blocks = append(blocks, block{url: u, start: i})
		}
	}
	if len(blocks) > 0 {
		blocks[len(blocks)-1].end = len(lines)
	}
	for j := 1; j < len(blocks); j++ {
		a, b := blocks[0], blocks[j]
		if a.url == b.url {
			continue
		}
		// Sub-tables end a block only at the next host table, so ensure
		// every block ends in a newline before moving it.
		seg := func(x block) string {
			s := strings.Join(lines[x.start:x.end], "")
			if !strings.HasSuffix(s, "\n") {
				s += "\n"
			}
			return s
		}
		var out strings.Builder
		out.WriteString(strings.Join(lines[:a.start], ""))
		out.WriteString(seg(b))
		out.WriteString(strings.Join(lines[a.end:b.start], ""))
		out.WriteString(seg(a))
		out.WriteString(strings.Join(lines[b.end:], ""))
		return []byte(out.String()), true
	}
	return nil, false
}

// withWant returns a copy of the case with one want/ file replaced.
func (c *goldenCase) withWant(p string, data []byte) *goldenCase {
	cp := *c
	cp.want = map[string][]byte{}
	for k, v := range c.want {
		cp.want[k] = v
	}
	if data == nil {
		delete(cp.want, p)
	} else {
		cp.want[p] = data
	}
	return &cp
}

// testCrossCheckCanFail runs the cross-check on a synthetic case whose
// output was written by hand, then on corrupted copies of it.
func testCrossCheckCanFail(t *testing.T) {
	caPEM, certPEM, keyPEM := testPKI(t)
	const basic = "Basic cHVsbGVyOnMzY3IzdA==" // puller:s3cr3t
	in := map[string][]byte{
		"/etc/containerd/config.toml": []byte(`version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["m1.example", "https://m2.example:5000/v2/", "http://localhost:5001"]
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."*"]
  endpoint = ["https://m2.example:5000"]
[plugins."io.containerd.grpc.v1.cri".registry.configs."m2.example:5000".tls]
  ca_file = "/etc/pki/ca.pem"
  cert_file = "/etc/pki/client.pem"
  key_file = "/etc/pki/client-key.pem"
[plugins."io.containerd.grpc.v1.cri".registry.configs."localhost:5001".tls]
  insecure_skip_verify = true
[plugins."io.containerd.grpc.v1.cri".registry.auths."https://m1.example"]
  username = "puller"
  password = "s3cr3t"
`),
		"/etc/pki/ca.pem":         caPEM,
		"/etc/pki/client.pem":     certPEM,
		"/etc/pki/client-key.pem": keyPEM,
	}
	m2 := `capabilities = ["pull", "resolve"]
  ca = "/etc/pki/ca.pem"
  client = [
    ["/etc/pki/client.pem", "/etc/pki/client-key.pem"],
  ]
`
	want := map[string][]byte{
		"/etc/containerd/config.toml": []byte(`version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
`),
		"/etc/containerd/certs.d/docker.io/hosts.toml": []byte(`server = "https://registry-1.docker.io"

[host."https://m1.example"]
  capabilities = ["pull", "resolve"]
  [host."https://m1.example".header]
    Authorization = "` + basic + `"
[host."https://m2.example:5000/v2"]
  ` + m2 + `
[host."http://localhost:5001"]
  capabilities = ["pull", "resolve"]
`),
		"/etc/containerd/certs.d/_default/hosts.toml": []byte(`[host."https://m2.example:5000"]
  ` + m2),
		"/etc/containerd/certs.d/m1.example/hosts.toml": []byte(`server = "https://m1.example"
[header]
  Authorization = "` + basic + `"

[host."https://m2.example:5000"]
  ` + m2),
		"/etc/containerd/certs.d/m2.example_5000_/hosts.toml": []byte(`server = "https://m2.example:5000"
capabilities = ["pull", "resolve", "push"]
ca = "/etc/pki/ca.pem"
client = [["/etc/pki/client.pem", "/etc/pki/client-key.pem"]]
[host."https://m2.example:5000"]
  ` + m2),
		"/etc/containerd/certs.d/localhost:5001/hosts.toml": []byte(`server = "http://localhost:5001"

[host."https://m2.example:5000"]
  ` + m2),
	}
	good := &goldenCase{name: "synthetic", archive: &txtar.Archive{}, args: []string{"--auth", "header"}, in: in, want: want}
	res := crossCheck(t, good)
	if res.skip != "" || len(res.mismatches) > 0 {
		t.Fatalf("the hand-written synthetic case should pass (skip %q):\n%s", res.skip, strings.Join(res.mismatches, "\n"))
	}

	// The same case with credentials kept in config.toml.
	keepWant := map[string][]byte{}
	for p, d := range want {
		keepWant[p] = []byte(strings.NewReplacer(
			"  [host.\"https://m1.example\".header]\n    Authorization = \""+basic+"\"\n", "",
			"[header]\n  Authorization = \""+basic+"\"\n", "").Replace(string(d)))
	}
	keepWant["/etc/containerd/config.toml"] = append(append([]byte(nil), want["/etc/containerd/config.toml"]...),
		"[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"m1.example\".auth]\n  username = \"puller\"\n  password = \"s3cr3t\"\n"...)
	keep := &goldenCase{name: "synthetic-keep", archive: &txtar.Archive{}, in: in, want: keepWant}
	if res := crossCheck(t, keep); res.skip != "" || len(res.mismatches) > 0 {
		t.Fatalf("the keep variant should pass (skip %q):\n%s", res.skip, strings.Join(res.mismatches, "\n"))
	}

	hub := "/etc/containerd/certs.d/docker.io/hosts.toml"
	swapped, ok := swapHostTables(want[hub])
	if !ok {
		t.Fatal("swapHostTables found no pair to swap")
	}
	edit := func(p, old, new string) []byte {
		if !bytes.Contains(want[p], []byte(old)) {
			t.Fatalf("%s does not contain %q", p, old)
		}
		return bytes.Replace(want[p], []byte(old), []byte(new), 1)
	}
	corruptions := []struct {
		name, expect string
		c            *goldenCase
	}{
		{"swap [host] tables", "Host: want m1.example, got m2.example:5000", good.withWant(hub, swapped)},
		{"drop ca", "RootCAs: want system roots", good.withWant("/etc/containerd/certs.d/_default/hosts.toml",
			[]byte(strings.Replace(string(want["/etc/containerd/certs.d/_default/hosts.toml"]), `ca = "/etc/pki/ca.pem"`, "", 1)))},
		{"server docker.io", "Host: want registry-1.docker.io, got docker.io", good.withWant(hub, edit(hub, `server = "https://registry-1.docker.io"`, `server = "https://docker.io"`))},
		{"pull only", "Capabilities&(pull|resolve): want [pull resolve], got [pull]", good.withWant(hub, edit(hub, `capabilities = ["pull", "resolve"]`+"\n  [host.", `capabilities = ["pull"]`+"\n  [host."))},
		{"no Authorization", `Authorization header: want ["` + basic + `"], got (none)`, good.withWant(hub, edit(hub, "Authorization", "X-Other"))},
		{"lowercase authorization", "not canonical", good.withWant(hub, edit(hub, "Authorization", "authorization"))},
		{"TLS on http", "Scheme: want http, got https", good.withWant(hub, edit(hub, `[host."http://localhost:5001"]`, `[host."http://localhost:5001"]`+"\n  skip_verify = false"))},
		{"path dropped", "Path: want \"/v2/\", got \"/v2/v2\"", good.withWant(hub, edit(hub, `https://m2.example:5000/v2"`, `https://m2.example:5000/v2/v2"`))},
		{"missing mirror", "hosts, want", good.withWant(hub, edit(hub, `[host."http://localhost:5001"]`, `[nothost."x"]`))},
		{"no server for a loopback namespace", "namespace localhost:5001", good.withWant("/etc/containerd/certs.d/localhost:5001/hosts.toml", nil)},
		{"credentials dropped", `has no configs."m1.example".auth`, keep.withWant("/etc/containerd/config.toml", want["/etc/containerd/config.toml"])},
	}
	for _, tc := range corruptions {
		res := crossCheck(t, tc.c)
		joined := strings.Join(res.mismatches, "\n")
		if !strings.Contains(joined, tc.expect) {
			t.Errorf("corruption %q: want a mismatch containing %q, got:\n%s", tc.name, tc.expect, joined)
		}
	}
}

// testPKI makes a CA and a client certificate signed by it.
func testPKI(t *testing.T) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "crosscheck test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "crosscheck client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// nameableRegistry reports whether an image reference can name host as its
// registry: the CRI normalises every image name with distribution's
// reference grammar (ParseDockerRef) before resolving it.
func nameableRegistry(host string) bool {
	named, err := reference.ParseDockerRef(host + "/probe/image:tag")
	return err == nil && reference.Domain(named) == host
}
