package diagnose

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// Node is what check reads: the parsed config files and the node's file
// system for the config_path directory and the certificate files.
type Node struct {
	// FS is the node's file system rooted at its "/" (--root), read as
	// diff and apply read it (migrate's node); see ErrRefused.
	FS     fs.FS
	Target convert.Target
	// ConfigPath is the main config file (node path); Configs are the files
	// containerd loads, main first, then its imports. Configs is empty when
	// the node has no config file.
	ConfigPath string
	Configs    []*convert.ConfigFile
	// CertsDir (--certs-dir) replaces the config's config_path as the
	// directory whose hosts.toml files are checked and explained.
	CertsDir string
	// DefaultCertsDir is where hosts.toml files are looked for when the
	// config sets no config_path (k0s: /etc/k0s/containerd.d/certs.d).
	DefaultCertsDir string
	// K0s reports a k0s node, whose drop-ins k0s 1.36 checks.
	K0s bool

	// assumeHostsMode reads CertsDir as config_path even when the config
	// sets none (a migration is about to set it).
	assumeHostsMode bool
}

// Report is what check found.
type Report struct {
	// Target names the containerd releases checked.
	Target string `json:"containerd_version"`
	Config string `json:"config,omitempty"`
	// CertsDirs are the config_path directories, in lookup order.
	CertsDirs []string  `json:"certs_dirs"`
	Findings  []Finding `json:"findings"`
	// Namespaces are the explained namespaces (-v, --explain).
	Namespaces []Namespace `json:"namespaces,omitempty"`
	// Explained names the release the namespaces were explained for.
	Explained string `json:"explained_for,omitempty"`
	// Secrets are header values to hide in anything printed.
	Secrets []string `json:"-"`
	// HostsMode reports that containerd reads config_path at all.
	HostsMode bool `json:"hosts_mode"`

	ck *checker
}

type checker struct {
	n   Node
	c   *collector
	reg *convert.RegistrySummary
	// for the current window:
	rel       release
	roots     []string // the config_path directories, split, to scan
	lookups   []string // the roots pulls look hosts up in
	hostsMode bool
	parsed    map[string]*hostsFile
	// across releases: each file's parse and each certificate's load
	syntax map[string]*parsedFile
	tls    map[string]error
	files  map[string][]byte
	// refused is the first FS error that wraps ErrRefused.
	refused error
	// noTLS skips loading certificate files (CheckHostsFile).
	noTLS bool
}

// Check reads the node as every release of the target would and reports
// what each would do differently than written.
// ErrRefused is wrapped by the errors of a Node.FS that refuses to
// resolve a path (a symbolic link leading outside --root). For a
// config_path directory Check then fails with that error instead of
// taking the directory for missing, as diff refuses to write through it;
// a certificate file behind such a link is unreadable, as for diff.
var ErrRefused = errors.New("refused by the node")

func Check(n Node) (*Report, error) {
	min, max := targetRange(n.Target)
	ck := newChecker(n, min, max)
	if len(n.Configs) > 0 {
		reg, err := convert.SummarizeRegistry(n.Configs, n.Target)
		if err != nil {
			return nil, err
		}
		ck.reg = reg
	}
	for i, w := range windows(min, max) {
		ck.c.cur, ck.c.curIndex = w, i
		ck.enter(w.rel)
		ck.checkConfig()
		ck.checkTree()
		if ck.refused != nil {
			return nil, ck.refused
		}
	}
	r := &Report{Target: versionRange(min, max), Config: n.ConfigPath, Findings: ck.c.result(), ck: ck}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	// Explanations are for the newest release of the target.
	ck.enter(release{max})
	r.CertsDirs, r.HostsMode = ck.lookups, ck.hostsMode
	if r.CertsDirs == nil {
		r.CertsDirs = []string{}
	}
	r.Explained = max.String()
	switch {
	case max.Minor == 99:
		r.Explained = fmt.Sprintf("%d.x", max.Major)
	case max.Patch == 99:
		r.Explained = fmt.Sprintf("%d.%d.x", max.Major, max.Minor)
	}
	return r, nil
}

func newChecker(n Node, min, max version) *checker {
	return &checker{n: n, c: &collector{min: min, max: max}, reg: &convert.RegistrySummary{},
		syntax: map[string]*parsedFile{}, tls: map[string]error{}}
}

// enter sets up the checker for one release.
func (ck *checker) enter(r release) {
	ck.rel = r
	ck.parsed = map[string]*hostsFile{}
	ck.roots, ck.hostsMode = ck.configRoots()
	ck.lookups = ck.roots
	if raw := ck.configPathValue(); len(ck.roots) > 1 && ck.transferPulls() && ck.n.CertsDir == "" {
		ck.lookups = []string{raw} // the transfer service does not split the list
	}
	// Findings are given once per window by checkTree; explanations
	// afterwards must not add them again.
}

// configPathValue is config_path as containerd reads it, default included.
func (ck *checker) configPathValue() string {
	if ck.reg.ConfigPath != nil && ck.reg.ConfigPath.Value != "" {
		return ck.reg.ConfigPath.Value
	}
	return defaultConfigPath
}

// defaultConfigPath is containerd 2.2+'s default config_path on Linux.
const defaultConfigPath = "/etc/containerd/certs.d:/etc/docker/certs.d"

// transferPulls reports that the release's CRI pulls go through the
// transfer service (2.1+), which is the default unless a setting forces
// local pulls (CheckLocalImagePullConfigs): use_local_image_pull, or
// registry mirrors, configs or auths. Other settings that force it
// (max_concurrent_downloads other than 3, discard_unpacked_layers, …) are
// not detected.
func (ck *checker) transferPulls() bool {
	r := ck.reg
	return ck.rel.atLeast(2, 1, 0) && r.LocalPull == nil && len(r.Mirrors) == 0 && len(r.TLS) == 0 && len(r.Auth) == 0 && len(r.Auths) == 0
}

// configRoots are the directories the release looks hosts up in, and
// whether it reads config_path at all (semantics §4.1, §2.4).
func (ck *checker) configRoots() ([]string, bool) {
	cp := ""
	if ck.reg.ConfigPath != nil {
		cp = ck.reg.ConfigPath.Value
	}
	if len(ck.n.Configs) > 0 && ck.n.Configs[0].Version == 1 && ck.rel.atLeast(2, 0, 0) && !ck.rel.atLeast(2, 3, 0) {
		cp = "" // v1-config-on-2x: the CRI settings are not read
	}
	hosts := cp != ""
	if cp == "" && ck.rel.atLeast(2, 2, 0) && (len(ck.reg.Mirrors) == 0 || !ck.rel.atLeast(2, 2, 2)) {
		cp, hosts = defaultConfigPath, true // the 2.2 default
	}
	if ck.n.CertsDir != "" {
		return []string{ck.n.CertsDir}, hosts || ck.n.assumeHostsMode
	}
	if cp == "" {
		if ck.n.DefaultCertsDir == "" {
			return nil, false
		}
		return []string{ck.n.DefaultCertsDir}, false
	}
	var roots []string
	for _, p := range filepath.SplitList(cp) {
		if !path.IsAbs(p) {
			p = path.Join("/", p) // containerd's working directory
		}
		roots = append(roots, path.Clean(p))
	}
	return roots, hosts
}

// fsPath maps a node path to the FS.
func fsPath(p string) string {
	p = strings.TrimPrefix(path.Clean(p), "/")
	if p == "" {
		return "."
	}
	return p
}

func (ck *checker) stat(p string) (fs.FileInfo, error) { return fs.Stat(ck.n.FS, fsPath(p)) }

func (ck *checker) readFile(p string) ([]byte, error) { return fs.ReadFile(ck.n.FS, fsPath(p)) }

func (ck *checker) readDir(p string) ([]fs.DirEntry, error) { return fs.ReadDir(ck.n.FS, fsPath(p)) }

// noteRefused remembers the first error that wraps ErrRefused (without
// the FS's operation and path: the error names the node path itself).
func (ck *checker) noteRefused(err error) {
	if ck.refused == nil && errors.Is(err, ErrRefused) {
		ck.refused = err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			ck.refused = pe.Err
		}
	}
}

func (ck *checker) isDir(p string) bool {
	info, err := ck.stat(p)
	return err == nil && info.IsDir()
}

func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// hostDirectory is containerd's "host:port" → "host_port_".
func hostDirectory(host string) string {
	if i := strings.LastIndex(host, ":"); i > 0 {
		return host[:i] + "_" + host[i+1:] + "_"
	}
	return host
}

// hostPaths are the directories the release tries for a namespace under
// one root, in order (config_unix.go hostPaths).
func (r release) hostPaths(root, ns string) []string {
	var ps []string
	if ch := hostDirectory(ns); ch != ns {
		ps = append(ps, path.Join(root, ch))
	}
	ps = append(ps, path.Join(root, ns))
	if r.defaultDir() {
		ps = append(ps, path.Join(root, "_default"))
	}
	return ps
}

// lookup finds the directory containerd reads for a namespace: the first
// candidate of the first root that exists (HostDirFromRoot). An error other
// than "does not exist" fails the pull.
func (ck *checker) lookup(ns string) (string, error) {
	for _, root := range ck.lookups {
		for _, p := range ck.rel.hostPaths(root, ns) {
			_, err := ck.stat(p)
			if err == nil {
				return p, nil
			}
			if !notExist(err) {
				return "", err
			}
		}
	}
	return "", nil
}

// hostsOf returns the parsed hosts.toml of a directory (nil when absent,
// empty or ignored), parsing it once per release; an error reading it
// (other than its absence) fails the pull, as in loadHostDir.
func (ck *checker) hostsOf(dir string) (*hostsFile, bool, error) {
	file := path.Join(dir, "hosts.toml")
	if hf, ok := ck.parsed[file]; ok {
		return hf, hf != nil, nil
	}
	data, err := ck.readFile(file)
	if err != nil && !notExist(err) {
		return nil, false, fmt.Errorf("reading %s: %w", file, unwrapPathError(err))
	}
	if len(data) == 0 {
		ck.parsed[file] = nil
		return nil, false, nil
	}
	hf := ck.parseHosts(file, data, ck.rel)
	ck.parsed[file] = hf
	return hf, hf != nil, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Configured lists every namespace with a directory the newest release
// reads, "_default" last.
func (r *Report) Configured() []string {
	ck := r.ck
	seen := map[string]bool{}
	var names []string
	def := false
	for _, root := range ck.roots {
		entries, err := ck.readDir(root)
		if err != nil {
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if !ck.isDir(path.Join(root, name)) {
				continue
			}
			if name == "_default" {
				def = def || ck.rel.defaultDir()
				continue
			}
			ns, ok := namespaceOf(name)
			if !ok {
				ns, ok = intendedNamespace(name)
			}
			if !ok || seen[ns] {
				continue
			}
			seen[ns] = true
			names = append(names, ns)
		}
	}
	for _, m := range ck.reg.Mirrors {
		if m.Value != "*" && !seen[m.Value] {
			seen[m.Value] = true
			names = append(names, m.Value)
		}
	}
	sort.Strings(names)
	if def {
		names = append(names, "_default")
	}
	return names
}

// namespaceOf maps a directory name to the namespace containerd reads it
// for, if any.
func namespaceOf(name string) (string, bool) {
	if bad, _ := misnamed(name); bad != "" {
		return "", false
	}
	if strings.HasSuffix(name, "_") {
		if i := strings.LastIndex(name[:len(name)-1], "_"); i > 0 && isPort(name[i+1:len(name)-1]) {
			return name[:i] + ":" + name[i+1:len(name)-1], true
		}
	}
	return name, true
}

// intendedNamespace is the registry a misnamed directory was meant for.
func intendedNamespace(name string) (string, bool) {
	if code, rename := misnamed(name); code == "dir-port-missing-underscore" {
		return namespaceOf(rename)
	}
	return "", false
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
