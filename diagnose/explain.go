package diagnose

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// Namespace is the host list containerd builds for pulls of one registry
// (ConfigureHosts), in the order it tries them.
type Namespace struct {
	Name string `json:"namespace"`
	// Dir is the directory containerd reads for it, "" if none.
	Dir string `json:"dir,omitempty"`
	// From says what the list comes from: "hosts.toml", "certificate
	// files", "defaults" (no directory), or "legacy" (no config_path).
	From  string `json:"from"`
	Hosts []Host `json:"hosts"`
	// Error is why every pull of the registry fails, if it does.
	Error string `json:"error,omitempty"`
	// Note says why there is no host list (legacy mode).
	Note string `json:"note,omitempty"`
	// Test are commands that pull through this host list.
	Test []string `json:"test,omitempty"`
}

// Host is one entry containerd tries.
type Host struct {
	Scheme string `json:"scheme"`
	Host   string `json:"host"`
	Path   string `json:"path"`
	// Capabilities, among pull, resolve, push and referrers.
	Capabilities []string `json:"capabilities"`
	CA           []string `json:"ca,omitempty"`
	// Client are [cert, key] pairs; an empty key means the cert file holds it.
	Client     [][2]string `json:"client,omitempty"`
	SkipVerify bool        `json:"skip_verify,omitempty"`
	// HTTPSFirst: an http:// host with TLS settings is tried over HTTPS
	// first, falling back to HTTP on a TLS error.
	HTTPSFirst  bool                `json:"https_first,omitempty"`
	Header      map[string][]string `json:"header,omitempty"`
	DialTimeout string              `json:"dial_timeout,omitempty"`
	// Source is where the entry is written; empty for the default upstream.
	Source convert.Position `json:"source"`
}

// URL is the host's API root.
func (h Host) URL() string { return h.Scheme + "://" + h.Host + h.Path }

// Explain builds the host list the newest release of the target uses for
// pulls of ns ("_default": any registry without a directory of its own).
func (r *Report) Explain(ns string) Namespace {
	ck := r.ck
	ck.c = &collector{min: ck.c.min, max: ck.c.max} // findings were reported by Check
	lookupNS := ns
	if ns == "_default" {
		lookupNS = "*"
	}
	out := Namespace{Name: ns}
	if !ck.hostsMode {
		out.From = "legacy"
		out.Note = "config_path is not set: the CRI plugin uses the registry.mirrors/configs settings of config.toml and reads no hosts.toml (`certsd-migrate diff` shows the hosts.toml files that would replace them)"
		return out
	}
	dir, err := ck.lookup(lookupNS)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	var entries []entry
	out.From = "defaults"
	if dir != "" {
		out.Dir = dir
		hf, ok, err := ck.hostsOf(dir)
		switch {
		case err != nil:
			out.From, out.Error = "hosts.toml", err.Error()
			return out
		case ok:
			entries, out.From = append(entries, hf.hosts...), "hosts.toml"
		default:
			e, err := ck.certFileEntry(dir)
			if err != nil {
				out.Error = err.Error()
				return out
			}
			entries, out.From = []entry{e}, "certificate files"
			if ck.exists(path.Join(dir, "hosts.toml")) {
				out.From = "certificate files (hosts.toml ignored)"
			}
		}
	}
	if entries == nil {
		entries = []entry{{root: true}}
	}
	rel := ck.rel
	last := &entries[len(entries)-1]
	if last.host == "" {
		last.caps = nil
		last.path = "/v2"
		switch {
		case lookupNS == "docker.io":
			last.scheme, last.host = "https", "registry-1.docker.io"
		case isLocalhost(lookupNS):
			var skip bool
			last.host = lookupNS
			last.scheme, skip = rel.localhostUpstream(lookupNS)
			if skip {
				t := true
				last.skipVerify = &t
			}
		default:
			last.scheme, last.host = "https", lookupNS
		}
	}
	for _, e := range entries {
		h := Host{Scheme: e.scheme, Host: e.host, Path: e.path, Source: e.pos, SkipVerify: e.skipVerify != nil && *e.skipVerify}
		if e.root && e.key == "" {
			h.Source = convert.Position{}
			if e.pos.File != "" && (e.ca != nil || e.client != nil || e.skipVerify != nil || len(e.header) > 0) {
				h.Source = convert.Position{File: e.pos.File}
			}
		}
		h.Capabilities = e.caps
		if h.Capabilities == nil {
			h.Capabilities = rel.capabilityNames()
		} else {
			h.Capabilities = canonicalCaps(e.caps)
		}
		for _, p := range e.ca {
			h.CA = append(h.CA, p.abs)
		}
		for _, p := range e.client {
			h.Client = append(h.Client, [2]string{p[0].abs, p[1].abs})
		}
		if len(e.header) > 0 {
			h.Header = map[string][]string{}
			for _, f := range e.header {
				h.Header[f.name] = f.values
				r.Secrets = append(r.Secrets, f.values...)
			}
		}
		if e.dialTimeout != nil {
			h.DialTimeout = e.dialTimeout.String()
		}
		explicit := e.ca != nil || e.client != nil || e.skipVerify != nil || (e.dialTimeout != nil && rel.dialTimeoutIsTLS())
		if h.Scheme == "http" && explicit && rel.httpsFirst(h.Host) {
			h.Scheme, h.HTTPSFirst = "https", true
		}
		if err := ck.loadTLS(e); err != nil && out.Error == "" {
			out.Error = err.Error()
		}
		out.Hosts = append(out.Hosts, h)
	}
	return out
}

// Namespaces explains every registry with a directory, _default last.
func (r *Report) ExplainAll() {
	r.Namespaces = nil
	for _, ns := range r.Configured() {
		r.Namespaces = append(r.Namespaces, r.Explain(ns))
	}
}

func canonicalCaps(caps []string) []string {
	var out []string
	for _, name := range []string{"pull", "resolve", "push", "referrers"} {
		if contains(caps, name) {
			out = append(out, name)
		}
	}
	return out
}

// isLocalhost is docker.IsLocalhost: localhost or a loopback IP, any port.
func isLocalhost(host string) bool {
	h := hostOnly(host)
	if h == "localhost" {
		return true
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return h == "::1" || strings.HasPrefix(h, "127.")
}

// certFileEntry is loadCertFiles: the Docker-style *.crt, *.cert and
// *.key files of a directory, for the default upstream.
func (ck *checker) certFileEntry(dir string) (entry, error) {
	e := entry{root: true}
	entries, err := ck.readDir(dir)
	if err != nil && !notExist(err) {
		return e, err
	}
	names := make([]string, 0, len(entries))
	for _, f := range entries {
		if !f.IsDir() {
			names = append(names, f.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		full := path.Join(dir, name)
		if strings.HasSuffix(name, ".crt") {
			e.ca = append(e.ca, tlsPath{written: full, abs: full, pos: convert.Position{File: full}})
		}
		if strings.HasSuffix(name, ".cert") {
			pair := [2]tlsPath{{written: full, abs: full, pos: convert.Position{File: full}}}
			key := strings.TrimSuffix(full, ".cert") + ".key"
			if _, err := ck.stat(key); err == nil {
				pair[1] = tlsPath{written: key, abs: key, pos: convert.Position{File: key}}
			}
			e.client = append(e.client, pair)
		}
	}
	return e, nil
}

// loadTLS fails like updateTLSConfigFromHost.
func (ck *checker) loadTLS(e entry) error {
	for _, p := range e.ca {
		data, err := ck.readFile(p.abs)
		if err != nil {
			return fmt.Errorf("unable to read CA cert %q", p.abs)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return fmt.Errorf("unable to load CA cert %q", p.abs)
		}
	}
	for _, pair := range e.client {
		cert, err := ck.readFile(pair[0].abs)
		if err != nil {
			return fmt.Errorf("unable to read CERT file %q", pair[0].abs)
		}
		key := cert
		if pair[1].abs != "" {
			if key, err = ck.readFile(pair[1].abs); err != nil {
				return fmt.Errorf("unable to read CERT file %q", pair[1].abs)
			}
		}
		if _, err := tls.X509KeyPair(cert, key); err != nil {
			return fmt.Errorf("failed to load X509 key pair: %v", err)
		}
	}
	return nil
}
