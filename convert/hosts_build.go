package convert

import (
	"fmt"
	"path/filepath"
	"strings"
)

// mirrorCapabilities are the capabilities legacy containerd gave every
// endpoint (docs/semantics.md §3.11). Writing them keeps push off the mirrors.
var mirrorCapabilities = []string{"pull", "resolve"}

// hostsFiles builds one hosts file per namespace that needs one.
func (c *converter) hostsFiles(source string) ([]*HostsFile, error) {
	namespaces := map[string]Position{}
	for _, ns := range sortedKeys(c.reg.Mirrors) {
		m := c.reg.Mirrors[ns]
		if ns != "*" {
			if err := validHost(ns); err != nil {
				if unsafeDirName(ns) {
					return nil, errorf(m.Pos, "mirrors key %q is not a registry host[:port] (%v); it would not be a safe directory name", ns, err)
				}
				// Legacy matched mirror keys exactly against an image's
				// registry host, so this one never applied.
				reason := err.Error()
				if strings.Contains(ns, "://") {
					reason = "a URL, not a host"
				}
				c.warn(Warning{Code: WarnMirrorKeyNotHost, Pos: m.Pos,
					Message: fmt.Sprintf("mirrors key %q is not a registry host[:port] (%s): containerd matches mirror keys exactly against the registry host of an image name, so it never applied; nothing is written for it, and it is removed with the other mirrors", ns, reason)})
				continue
			}
		}
		namespaces[ns] = m.Pos
	}
	// A host with TLS settings, or with credentials that become a header,
	// needs a file of its own for pulls of images named after it
	// (docs/semantics.md §3.6).
	addHost := func(h string, pos Position, what string) {
		switch {
		case validHost(h) != nil:
			c.warn(Warning{Code: WarnConfigKeyNotHost, Pos: pos,
				Message: fmt.Sprintf("configs key %q is not a host[:port]; containerd looks configs up by the host it contacts, so this %s never applied and is dropped", h, what)})
		case h == "docker.io":
			c.warn(Warning{Code: WarnDockerHubConfigKey, Pos: pos,
				Message: fmt.Sprintf("configs.\"docker.io\" never applied to Docker Hub pulls, which go to registry-1.docker.io; this %s applies only to endpoints named docker.io", what)})
		default:
			// Docker Hub's host serves docker.io pulls too.
			if h == "registry-1.docker.io" {
				if _, ok := namespaces["docker.io"]; !ok {
					namespaces["docker.io"] = pos
				}
			}
			if _, ok := namespaces[h]; !ok {
				namespaces[h] = pos
			}
		}
	}
	for _, h := range sortedKeys(c.reg.Configs) {
		cfg := c.reg.Configs[h]
		if cfg.TLS == nil {
			continue
		}
		if !tlsMeaningful(cfg.TLS) {
			c.warn(Warning{Code: WarnEmptyTLSTable, Pos: cfg.TLS.Pos,
				Message: fmt.Sprintf("configs.%s.tls sets nothing; it is removed", quoteKey(h))})
			continue
		}
		addHost(h, cfg.TLS.Pos, "TLS setting")
	}
	for _, h := range sortedKeys(c.auth) {
		if c.auth[h].header != "" {
			addHost(h, c.auth[h].Pos, "credential")
		}
	}
	if m := c.reg.Mirrors["*"]; m != nil && len(m.Endpoints) == 0 {
		c.warn(Warning{Code: WarnEmptyWildcard, Pos: m.Pos,
			Message: "mirrors.\"*\" lists no endpoints, so it changed nothing; no _default directory is written"})
		delete(namespaces, "*")
	}

	if m := c.reg.Mirrors["*"]; m != nil && len(m.Endpoints) > 0 {
		c.warn(Warning{Code: WarnDefaultLoopback, Pos: m.Pos,
			Message: "with mirrors.\"*\", legacy containerd sent pulls of localhost and loopback registries with no mirror of their own to plain http://; through _default, containerd 1.6.25+ and 2.x try HTTPS first, then HTTP (port 80 when the name has no port)"})
	}
	var files []*HostsFile
	for _, ns := range sortedKeys(namespaces) {
		f, err := c.hostsFile(ns, source)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func tlsMeaningful(t *tlsConfig) bool {
	return t.CAFile != nil || t.CertFile != nil || t.InsecureSkipVerify
}

// legacyEndpoints is the list of hosts legacy containerd tried for a
// namespace, in order (docs/semantics.md §3.2–3.4).
func (c *converter) legacyEndpoints(ns string) ([]endpoint, error) {
	m := c.reg.Mirrors[ns]
	if m == nil && ns != "*" {
		m = c.reg.Mirrors["*"]
	}
	var eps []endpoint
	covered := false
	if m != nil {
		for _, raw := range m.Endpoints {
			ep, err := parseEndpoint(raw, c.warn)
			if err != nil {
				return nil, err
			}
			covered = covered || ep.Host == ns
			eps = append(eps, ep)
		}
	}
	if ns != "*" && !covered {
		eps = append(eps, upstream(ns))
	}
	return eps, nil
}

func (c *converter) hostsFile(ns, source string) (*HostsFile, error) {
	eps, err := c.legacyEndpoints(ns)
	if err != nil {
		return nil, err
	}
	f := &HostsFile{Namespace: ns, Source: source}
	// Name the file the namespace's own settings came from.
	if m := c.reg.Mirrors[ns]; m != nil && m.Pos.File != "" {
		f.Source = m.Pos.File
	} else if cfg := c.reg.Configs[upstream(ns).Host]; cfg != nil && cfg.Pos.File != "" {
		f.Source = cfg.Pos.File
	}
	hosts := eps
	if ns != "*" {
		// The last host legacy tried becomes server, which hosts mode tries
		// after every [host]; with server set, nothing else is appended.
		last := eps[len(eps)-1]
		server := c.entry(last, ns)
		if !last.Implicit && last.Host != ns {
			server.Capabilities = mirrorCapabilities
		} else {
			server.Capabilities = nil
		}
		f.Server = &server
		hosts = eps[:len(eps)-1]
		if len(hosts) == 0 {
			// containerd before 1.7.32 ignores a file without a [host]
			// table (docs/semantics.md §5.3): repeat the server as one.
			hosts = eps
		}
	}
	seen := map[string]bool{}
	for _, ep := range hosts {
		e := c.entry(ep, ns)
		if seen[e.URL] {
			c.warn(Warning{Code: WarnDuplicateEndpoint, Pos: ep.Pos,
				Message: fmt.Sprintf("endpoint %s is listed twice for %s; a hosts.toml cannot name a host twice, so the second attempt is dropped", e.URL, nsName(ns))})
			continue
		}
		seen[e.URL] = true
		f.Hosts = append(f.Hosts, e)
	}
	return f, nil
}

// nsName names a namespace in messages.
func nsName(ns string) string {
	if ns == "*" {
		return `mirrors."*"`
	}
	return ns
}

// entry builds the hosts.toml entry for one legacy endpoint, with the TLS
// settings and credentials legacy looked up by the endpoint's host
// (docs/semantics.md §3.6).
func (c *converter) entry(ep endpoint, ns string) hostEntry {
	e := hostEntry{URL: ep.URL(), Capabilities: mirrorCapabilities, OverridePath: ep.OverridePath}
	if cfg := c.reg.Configs[ep.Host]; cfg != nil && cfg.TLS != nil && tlsMeaningful(cfg.TLS) {
		if ep.Scheme == "http" {
			// Legacy never used TLS for an http endpoint, and TLS keys on an
			// http host make containerd 1.6.25+ try HTTPS first
			// (docs/semantics.md §5.12).
			what := "the plain-http endpoint http://" + ep.Host
			if ep.Implicit {
				what = fmt.Sprintf("direct pulls of %s, which legacy containerd sent over plain http (its rule for localhost and loopback registries)", ns)
			}
			c.warn(Warning{Code: WarnTLSOnHTTP, Pos: cfg.TLS.Pos,
				Message: fmt.Sprintf("configs.%s.tls never applied to %s, so %s/hosts.toml gets no TLS keys for it (they would make containerd try HTTPS first); https endpoints on this host keep them", quoteKey(ep.Host), what, namespaceDir(ns))})
		} else {
			t := cfg.TLS
			c.tlsWritten[ep.Host] = true
			if t.CAFile != nil {
				e.CA = []string{c.tlsPath(*t.CAFile, "ca")}
			}
			if t.CertFile != nil {
				e.Client = [][2]string{{c.tlsPath(*t.CertFile, "cert"), c.tlsPath(*t.KeyFile, "key")}}
			}
			e.SkipVerify = t.InsecureSkipVerify
		}
	}
	if ha := c.auth[ep.Host]; ha != nil && ha.header != "" {
		e.Header = map[string][]string{"Authorization": {ha.header}}
	}
	return e
}

// tlsPath makes a legacy TLS path absolute. Legacy read it relative to
// containerd's working directory, which is / under systemd; hosts.toml
// would read it relative to its own directory (docs/semantics.md §5.8).
func (c *converter) tlsPath(p stringSetting, role string) string {
	abs := p.Value
	if !filepath.IsAbs(abs) {
		abs = filepath.Join("/", abs)
		c.warn(Warning{Code: WarnRelativeTLSPath, Pos: p.Pos,
			Message: fmt.Sprintf("relative path %q was read from containerd's working directory; written as %q, which is right when containerd runs from / (as under systemd)", p.Value, abs)})
	}
	if _, ok := c.tlsFiles[abs+"\x00"+role]; !ok {
		c.tlsFiles[abs+"\x00"+role] = TLSFile{Path: abs, Role: role, Pos: p.Pos}
	}
	return abs
}

// unsafeDirName reports a key that could name a path outside the certs
// directory, or no directory at all: those stay errors even where the
// key never applied.
func unsafeDirName(s string) bool {
	if s == "" || s == "." || strings.Contains(s, "..") {
		return true
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return true
		}
	}
	rest := s
	if _, after, ok := strings.Cut(s, "://"); ok {
		rest = strings.TrimSuffix(after, "/") // a URL written as a key
	}
	return strings.Contains(rest, "/")
}
