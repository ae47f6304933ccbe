package diagnose

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// misnamed explains a directory name containerd can never look up, and
// the name it would look up instead.
func misnamed(name string) (code, rename string) {
	switch {
	case strings.HasPrefix(name, "http:") || strings.HasPrefix(name, "https:"):
		return "dir-name-has-scheme", ""
	case strings.HasSuffix(name, "_") || !strings.Contains(name, "_"):
		return "", ""
	}
	if i := strings.LastIndex(name, "_"); i > 0 && isPort(name[i+1:]) {
		return "dir-port-missing-underscore", name + "_"
	}
	return "", ""
}

// hostsFileNames are names people give hosts.toml.
func looksLikeHostsFile(name string) bool {
	l := strings.ToLower(name)
	if l == "hosts.toml" {
		return name != "hosts.toml"
	}
	for _, p := range []string{"hosts.", "host.", "hosts_", "config.toml", "registry.toml", "registries.yaml", "mirror.toml"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return strings.HasSuffix(l, ".toml") || strings.HasSuffix(l, ".yaml") || strings.HasSuffix(l, ".yml")
}

// checkTree reports what the release does with each entry of each
// config_path directory.
func (ck *checker) checkTree() {
	if explicit := ck.reg.ConfigPath != nil && ck.reg.ConfigPath.Value != ""; !explicit && ck.hostsMode && ck.n.CertsDir == "" && len(ck.lookups) == 1 && len(ck.roots) > 1 && ck.hasEntries(ck.roots[0]) {
		pos := convert.Position{File: ck.n.ConfigPath}
		if pos.File == "" {
			pos.File = ck.roots[0]
		}
		ck.c.add(Finding{Code: "config-path-multi-root", Pos: pos,
			Message: fmt.Sprintf("config_path is not set, so containerd 2.2+ uses its default %q, which the transfer service (the default pull path) reads as one directory that does not exist: no hosts.toml takes effect for CRI pulls", defaultConfigPath),
			Fix:     fmt.Sprintf("set config_path = %q explicitly in the registry table", ck.roots[0])})
	}
	for i, root := range ck.roots {
		info, err := ck.stat(root)
		switch {
		case notExist(err):
			pos := convert.Position{File: root}
			if ck.reg.ConfigPath != nil && ck.n.CertsDir == "" {
				pos = ck.reg.ConfigPath.Pos
			}
			if ck.hostsMode && (ck.reg.ConfigPath != nil || ck.n.CertsDir != "") && !ck.anyRootExists() {
				ck.c.add(Finding{Code: "config-path-missing", Pos: pos,
					Message: fmt.Sprintf("%s does not exist: containerd finds no hosts.toml and pulls every image from its own registry with default settings", root),
					Fix:     fmt.Sprintf("create %s/<registry>/hosts.toml files, or point config_path at the directory that has them", root)})
			}
			continue
		case errors.Is(err, ErrRefused):
			ck.noteRefused(err)
			continue
		case err != nil:
			continue // Explain reports the failing pulls
		case !info.IsDir():
			ck.c.add(Finding{Code: "config-path-not-dir", Pos: convert.Position{File: root},
				Message: fmt.Sprintf("%s is a file, not a directory: containerd fails every pull (\"not a directory\")", root),
				Fix:     "config_path names the directory that holds one <registry>/hosts.toml per registry"})
			continue
		}
		if !ck.hostsMode {
			ck.unusedDir(root)
			continue
		}
		ck.checkRoot(root, i)
	}
}

// anyRootExists reports that some config_path directory exists: a
// missing one is skipped quietly when another holds the hosts.
func (ck *checker) anyRootExists() bool {
	for _, r := range ck.roots {
		if ck.exists(r) {
			return true
		}
	}
	return false
}

func (ck *checker) hasEntries(dir string) bool {
	entries, _ := ck.readDir(dir)
	return len(entries) > 0
}

// unusedDir reports a certs directory containerd does not read because
// config_path is not set.
func (ck *checker) unusedDir(root string) {
	entries, _ := ck.readDir(root)
	if len(entries) == 0 {
		return
	}
	pos, why := convert.Position{File: ck.n.ConfigPath}, "config_path is not set"
	switch {
	case ck.reg.Pos.File != "":
		pos = ck.reg.Pos
	case pos.File == "":
		pos, why = convert.Position{File: root}, "there is no containerd config, so no config_path"
	}
	ck.c.add(Finding{Code: "config-path-unset", Pos: pos,
		Message: fmt.Sprintf("%s: the CRI plugin reads no hosts.toml, so nothing in %s takes effect for kubelet pulls (ctr and nerdctl read it only with --hosts-dir or by their own default)", why, root),
		Fix:     fmt.Sprintf("set config_path = %q in the registry table (run `certsd-migrate diff` to do it and migrate any legacy settings)", root)})
}

func (ck *checker) checkRoot(root string, rootIndex int) {
	entries, err := ck.readDir(root)
	if err != nil {
		return
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	for _, e := range entries {
		name := e.Name()
		dir := path.Join(root, name)
		info, err := ck.stat(dir)
		if err != nil {
			continue // a dangling symlink: containerd skips it too
		}
		if !info.IsDir() {
			ck.checkRootFile(root, name)
			continue
		}
		if code, rename := misnamed(name); code != "" {
			ck.misnamedDir(root, name, code, rename)
			continue
		}
		if name == "_default" && !ck.rel.defaultDir() {
			ck.c.add(Finding{Code: "default-dir-unsupported", Pos: convert.Position{File: dir}, Ignored: dir,
				Message: "containerd before 1.6.17 has no _default directory and never reads it",
				Fix:     "upgrade containerd to 1.6.17+, or copy its hosts.toml into a directory per registry"})
			continue
		}
		// host:port is looked up after host_port_: the latter wins.
		if i := strings.LastIndex(name, ":"); i > 0 && names[hostDirectory(name)] {
			ck.c.add(Finding{Code: "dir-shadowed", Pos: convert.Position{File: dir}, Ignored: dir,
				Message: fmt.Sprintf("containerd looks up %s first, so it never reads this directory", path.Join(root, hostDirectory(name))),
				Fix:     "merge the two directories into " + hostDirectory(name)})
			continue
		}
		if rootIndex > 0 {
			ns, _ := namespaceOf(name)
			if earlier, _ := ck.lookupBefore(rootIndex, ns); earlier != "" {
				ck.c.add(Finding{Code: "dir-shadowed", Pos: convert.Position{File: dir}, Ignored: dir,
					Message: fmt.Sprintf("containerd finds %s first (an earlier config_path entry), so it never reads this directory", earlier),
					Fix:     "keep one directory per registry, in the first config_path entry"})
				continue
			}
		}
		if name == "registry-1.docker.io" || name == "index.docker.io" {
			ck.c.add(Finding{Code: "docker-hub-dir-name", Pos: convert.Position{File: dir},
				Message: fmt.Sprintf("containerd looks Docker Hub images up as docker.io, so this directory applies only to images literally named %s/…", name),
				Fix:     "rename it to docker.io (with server = \"https://registry-1.docker.io\")"})
		}
		ns, _ := namespaceOf(name)
		ck.checkNamespaceDir(dir, ns)
	}
	ck.checkDefaultShadowed(root)
}

// lookupBefore finds a directory for ns in a root before rootIndex.
func (ck *checker) lookupBefore(rootIndex int, ns string) (string, error) {
	for _, root := range ck.roots[:rootIndex] {
		for _, p := range ck.rel.hostPaths(root, ns) {
			if _, err := ck.stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", nil
}

// isBackup reports a backup's name (certsd-migrate's own
// hosts.toml.certsd-migrate-<time>.bak, editors', package managers'):
// beside a hosts.toml it is plainly not meant to be read.
func isBackup(name string) bool {
	for _, suffix := range []string{".bak", ".orig", ".old", "~", ".swp", ".dpkg-old", ".dpkg-dist", ".rpmsave", ".rpmnew"} {
		if strings.HasSuffix(name, suffix) || strings.Contains(name, ".bak.") {
			return true
		}
	}
	return false
}

// checkRootFile reports a file directly in the certs directory.
func (ck *checker) checkRootFile(root, name string) {
	file := path.Join(root, name)
	switch {
	case name == "hosts.toml" || looksLikeHostsFile(name):
		ck.c.add(Finding{Code: "hosts-toml-in-certs-dir", Pos: convert.Position{File: file}, Ignored: file,
			Message: fmt.Sprintf("containerd reads only %s/<registry>/hosts.toml; a file directly in the certs directory is never read", root),
			Fix:     fmt.Sprintf("move it to %s/<registry>/hosts.toml (%s/_default/hosts.toml for every registry)", root, root)})
	case name == "_default" || strings.Contains(name, ".") && !strings.ContainsAny(path.Ext(name), "_") && hostLike(name):
		ck.c.add(Finding{Code: "namespace-not-a-dir", Pos: convert.Position{File: file},
			Message: "this is a file where containerd expects a registry directory: pulls of that registry fail (\"not a directory\")",
			Fix:     fmt.Sprintf("make %s a directory holding hosts.toml", file)})
	}
}

// hostLike reports a name that looks like a registry host, not a file.
func hostLike(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case ".crt", ".cert", ".key", ".pem", ".md", ".txt", ".bak", ".orig", ".old", ".sh", ".json", ".toml", ".yaml", ".yml", ".swp", ".conf":
		return false
	}
	return true
}

// misnamedDir reports a directory containerd never looks up.
func (ck *checker) misnamedDir(root, name, code, rename string) {
	dir := path.Join(root, name)
	switch code {
	case "dir-port-missing-underscore":
		host := strings.TrimSuffix(rename, "_")
		i := strings.LastIndex(host, "_")
		ns := host[:i] + ":" + host[i+1:]
		ck.c.add(Finding{Code: code, Pos: convert.Position{File: dir}, Ignored: dir,
			Message: fmt.Sprintf("containerd never reads this directory: for %s it looks up %s or %s (with the trailing underscore), so pulls of %s ignore it", ns, rename, ns, ns),
			Fix:     fmt.Sprintf("mv %s %s (findings inside it are what containerd will do once it is renamed)", dir, path.Join(root, rename))})
		ck.checkNamespaceDir(dir, ns)
	case "dir-name-has-scheme":
		target := "<registry>"
		if subs, err := ck.readDir(dir); err == nil {
			for _, s := range subs {
				if s.IsDir() {
					target = s.Name()
					break
				}
			}
		}
		ck.c.add(Finding{Code: code, Pos: convert.Position{File: dir}, Ignored: dir,
			Message: "containerd looks registries up by host name only: a directory named after a URL (with its scheme) is never read",
			Fix:     fmt.Sprintf("move the hosts.toml to %s/hosts.toml; the scheme belongs in server and [host.\"…\"] URLs", path.Join(root, target))})
	}
}

// checkNamespaceDir reports what the release does with one registry
// directory.
func (ck *checker) checkNamespaceDir(dir, ns string) {
	entries, err := ck.readDir(dir)
	if err != nil {
		return // Explain reports the failing pulls
	}
	hostsToml := path.Join(dir, "hosts.toml")
	hasHosts, misplaced := false, false
	var certs []string
	for _, e := range entries {
		name := e.Name()
		full := path.Join(dir, name)
		info, err := ck.stat(full)
		if err != nil {
			continue
		}
		switch {
		case name == "hosts.toml":
			if info.IsDir() {
				ck.c.add(Finding{Code: "hosts-toml-not-a-file", Pos: convert.Position{File: full},
					Message: "hosts.toml is a directory: containerd fails every pull of this registry (\"is a directory\")",
					Fix:     "replace it with the hosts.toml file"})
				continue
			}
			hasHosts = info.Size() > 0
			if !hasHosts {
				ck.c.add(Finding{Code: "hosts-toml-empty", Pos: convert.Position{File: full},
					Message: "hosts.toml is empty: containerd reads the directory as Docker-style certificate files instead",
					Fix:     "write the registry's hosts, or remove the file"})
			}
		case info.IsDir():
			if nested := path.Join(full, "hosts.toml"); ck.exists(nested) {
				misplaced = true
				ck.c.add(Finding{Code: "hosts-toml-too-deep", Pos: convert.Position{File: nested}, Ignored: nested,
					Message: fmt.Sprintf("containerd reads only %s; a hosts.toml in a subdirectory (a path or a second registry name in the directory name) is never read", hostsToml),
					Fix:     fmt.Sprintf("move it to %s (paths belong in the [host] URL, with override_path if needed)", hostsToml)})
			}
		case strings.HasSuffix(name, ".crt") || strings.HasSuffix(name, ".cert"):
			certs = append(certs, full)
		case looksLikeHostsFile(name) && !(isBackup(name) && ck.exists(hostsToml)):
			misplaced = true
			ck.c.add(Finding{Code: "hosts-file-misnamed", Pos: convert.Position{File: full}, Ignored: full,
				Message: fmt.Sprintf("containerd reads only a file named exactly hosts.toml; %s is never read", name),
				Fix:     fmt.Sprintf("mv %s %s", full, hostsToml)})
		case strings.HasSuffix(name, ".pem") && !ck.exists(hostsToml):
			ck.c.add(Finding{Code: "cert-file-extension", Pos: convert.Position{File: full},
				Message: "without a hosts.toml containerd reads Docker-style certificate files: *.crt as CAs, *.cert with *.key as client certificates; a .pem file is never read",
				Fix:     "rename it to .crt (a CA) or .cert (a client certificate), or name it in a hosts.toml (ca = \"" + name + "\")"})
		}
	}
	hf, ok, _ := ck.hostsOf(dir)
	switch {
	case ok && len(certs) > 0:
		named := map[string]bool{}
		for _, e := range hf.hosts {
			for _, p := range e.ca {
				named[p.abs] = true
			}
			for _, p := range e.client {
				named[p[0].abs] = true
			}
		}
		for _, c := range certs {
			if named[c] {
				continue
			}
			ck.c.add(Finding{Code: "cert-files-ignored", Pos: convert.Position{File: c},
				Message: "containerd reads Docker-style certificate files only when there is no hosts.toml; with one, this file is not used",
				Fix:     fmt.Sprintf("name it in hosts.toml: ca = %q (a .crt) or client = [[…]] (a .cert)", path.Base(c))})
		}
	case !ok && len(certs) > 0:
		ck.checkCertFiles(certs)
	case !ok && !hasHosts && len(certs) == 0 && !misplaced:
		ck.c.add(Finding{Code: "namespace-dir-empty", Pos: convert.Position{File: dir},
			Message: "containerd reads this directory but finds neither hosts.toml nor *.crt/*.cert files: pulls use the registry itself with default settings, and _default is not consulted",
			Fix:     "add a hosts.toml, or remove the directory"})
	}
	if ok {
		ck.checkHosts(ns, hf)
	}
}

func (ck *checker) exists(p string) bool {
	_, err := ck.stat(p)
	return err == nil
}

// checkCertFiles checks Docker-style certificate files the way
// loadCertFiles and the TLS set-up use them.
func (ck *checker) checkCertFiles(files []string) {
	for _, f := range files {
		if strings.HasSuffix(f, ".crt") {
			ck.checkCA(tlsPath{written: f, abs: f, pos: convert.Position{File: f}})
			continue
		}
		key := strings.TrimSuffix(f, ".cert") + ".key"
		pair := [2]tlsPath{{written: f, abs: f, pos: convert.Position{File: f}}}
		if ck.exists(key) {
			pair[1] = tlsPath{written: key, abs: key, pos: convert.Position{File: key}}
		}
		ck.checkClient(pair)
	}
}

// checkCA reports a CA file containerd cannot load: it fails every pull
// through the host (updateTLSConfigFromHost).
func (ck *checker) checkCA(p tlsPath) {
	if ck.noTLS {
		return
	}
	data, err := ck.readCached(p.abs)
	if err != nil {
		ck.c.add(Finding{Code: "tls-file-missing", Pos: p.pos,
			Message: fmt.Sprintf("cannot read CA file %s: containerd fails every pull of this registry (\"unable to read CA cert\")", p.abs),
			Fix:     "create the file or fix the path"})
		return
	}
	if !ck.isCA(p.abs, data) {
		ck.c.add(Finding{Code: "tls-file-invalid", Pos: p.pos,
			Message: fmt.Sprintf("%s holds no PEM certificate: containerd fails every pull of this registry (\"unable to load CA cert\")", p.abs),
			Fix:     "put the PEM-encoded CA certificate (-----BEGIN CERTIFICATE-----) in it"})
	}
}

// checkClient reports a client pair containerd cannot load.
func (ck *checker) checkClient(pair [2]tlsPath) {
	if ck.noTLS {
		return
	}
	cert, err := ck.readCached(pair[0].abs)
	if err != nil {
		ck.c.add(Finding{Code: "tls-file-missing", Pos: pair[0].pos,
			Message: fmt.Sprintf("cannot read client certificate %s: containerd fails every pull of this registry (\"unable to read CERT file\")", pair[0].abs),
			Fix:     "create the file or fix the path"})
		return
	}
	key := cert
	if pair[1].abs != "" {
		if key, err = ck.readCached(pair[1].abs); err != nil {
			ck.c.add(Finding{Code: "tls-file-missing", Pos: pair[1].pos,
				Message: fmt.Sprintf("cannot read client key %s: containerd fails every pull of this registry (\"unable to read CERT file\")", pair[1].abs),
				Fix:     "create the file or fix the path"})
			return
		}
	}
	if err := ck.keyPair(pair[0].abs+"\x00"+pair[1].abs, cert, key); err != nil {
		ck.c.add(Finding{Code: "tls-file-invalid", Pos: pair[0].pos,
			Message: fmt.Sprintf("containerd cannot load the client certificate %s and its key (%v): it fails every pull of this registry", pair[0].abs, err),
			Fix:     "give a PEM certificate and its matching PEM private key (in one file, or as [cert, key])"})
	}
}

// readCached reads a certificate file once for every release.
func (ck *checker) readCached(p string) ([]byte, error) {
	key := "read\x00" + p
	if ck.files == nil {
		ck.files = map[string][]byte{}
	}
	if err, ok := ck.tls[key]; ok {
		return ck.files[p], err
	}
	data, err := ck.readFile(p)
	ck.tls[key], ck.files[p] = err, data
	return data, err
}

// isCA is AppendCertsFromPEM's verdict, once per file.
func (ck *checker) isCA(p string, data []byte) bool {
	key := "ca\x00" + p
	if err, ok := ck.tls[key]; ok {
		return err == nil
	}
	var err error
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		err = fmt.Errorf("unable to load CA cert %q", p)
	}
	ck.tls[key] = err
	return err == nil
}

// keyPair is tls.X509KeyPair's verdict, once per pair.
func (ck *checker) keyPair(id string, cert, key []byte) error {
	if err, ok := ck.tls["pair\x00"+id]; ok {
		return err
	}
	_, err := tls.X509KeyPair(cert, key)
	ck.tls["pair\x00"+id] = err
	return err
}

// checkDefaultShadowed reports registry directories that hide _default's
// mirrors from their registry.
func (ck *checker) checkDefaultShadowed(root string) {
	if !ck.rel.defaultDir() {
		return
	}
	def, ok, _ := ck.hostsOf(path.Join(root, "_default"))
	if !ok {
		return
	}
	var mirrors []string
	for _, e := range def.hosts {
		if !e.root {
			mirrors = append(mirrors, e.scheme+"://"+e.host)
		}
	}
	if len(mirrors) == 0 {
		return
	}
	entries, _ := ck.readDir(root)
	for _, e := range entries {
		name := e.Name()
		dir := path.Join(root, name)
		if name == "_default" || !ck.isDir(dir) {
			continue
		}
		ns, ok := namespaceOf(name)
		if !ok {
			continue
		}
		if got, _ := ck.lookup(ns); got != dir {
			continue
		}
		have := map[string]bool{}
		if hf, ok, _ := ck.hostsOf(dir); ok {
			for _, h := range hf.hosts {
				have[h.scheme+"://"+h.host] = true
			}
		}
		var missing []string
		for _, m := range mirrors {
			if !have[m] {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 {
			continue
		}
		sort.Strings(missing)
		ck.c.add(Finding{Code: "default-shadowed", Pos: convert.Position{File: dir},
			Message: fmt.Sprintf("pulls of %s never reach the _default mirrors %s: containerd reads only the first directory it finds, and this one comes before _default", ns, strings.Join(missing, ", ")),
			Fix:     "copy those [host] tables into " + path.Join(dir, "hosts.toml") + " if this registry should use them"})
	}
}
