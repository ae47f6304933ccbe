package convert

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// rootCapabilities are what k3s writes for the default endpoint.
var rootCapabilities = []string{"pull", "resolve", "push"}

// k3sNamespace is one hosts.toml k3s would write.
type k3sNamespace struct {
	name      string
	def       *endpoint // the default endpoint; nil for "*"
	endpoints []endpoint
	rewrites  []rewriteRule
	pos       Position
	// configured reports a configs entry for the namespace itself.
	configured bool
}

func (c *converter) k3sHostsFiles(rf *RegistriesFile) ([]*HostsFile, error) {
	namespaces := map[string]*k3sNamespace{}
	get := func(name string, pos Position) (*k3sNamespace, error) {
		if ns := namespaces[name]; ns != nil {
			return ns, nil
		}
		ns := &k3sNamespace{name: name, pos: pos}
		if name != "*" {
			if err := validHost(name); err != nil {
				return nil, errorf(pos, "registry key %q is not a registry host[:port] (%v); it would not be a safe directory name", name, err)
			}
			def, err := k3sEndpoint(stringSetting{Value: name, Pos: pos})
			if err != nil {
				return nil, err
			}
			ns.def = &def
		}
		namespaces[name] = ns
		return ns, nil
	}
	// Pass 1: every configs entry with credentials or TLS gets a file.
	for _, key := range sortedKeys(rf.Configs) {
		cfg := rf.Configs[key]
		if cfg.Auth == nil && cfg.TLS == nil {
			continue
		}
		ns, err := get(key, cfg.Pos)
		if err != nil {
			return nil, err
		}
		ns.configured = true
	}
	// Pass 2: mirrors.
	for _, name := range sortedKeys(rf.Mirrors) {
		m := rf.Mirrors[name]
		ns, err := get(name, m.Pos)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, raw := range m.Endpoints {
			ep, err := k3sEndpoint(raw)
			if err != nil {
				c.warn(Warning{Code: WarnInvalidEndpoint, Pos: raw.Pos, Message: fmt.Sprintf("%v; k3s skips this endpoint, and so does the migration", err)})
				continue
			}
			if seen[ep.URL()] {
				c.warn(Warning{Code: WarnDuplicateEndpoint, Pos: raw.Pos,
					Message: fmt.Sprintf("endpoint %s is listed twice for %s; k3s skips the duplicate, and so does the migration", ep.URL(), nsName(name))})
				continue
			}
			seen[ep.URL()] = true
			ns.endpoints = append(ns.endpoints, ep)
		}
		// An explicit default as the last endpoint is the server itself.
		if n := len(ns.endpoints); n > 0 && ns.def != nil && ns.endpoints[n-1].URL() == ns.def.URL() {
			ns.endpoints = ns.endpoints[:n-1]
		}
		if len(m.Rewrites) > 0 {
			if err := c.applyRewrites(ns, m); err != nil {
				return nil, err
			}
		}
	}
	var files []*HostsFile
	for _, name := range sortedKeys(namespaces) {
		ns := namespaces[name]
		// k3s drops a namespace left with nothing but its default.
		if !ns.configured && len(ns.endpoints) == 0 && len(ns.rewrites) == 0 {
			continue
		}
		files = append(files, c.k3sHostsFile(ns, rf))
	}
	return files, nil
}

// applyRewrites keeps k3s rewrites for a k3s target, turns a plain prefix
// rewrite into an endpoint path when asked, and refuses otherwise:
// upstream containerd has no rewrite.
func (c *converter) applyRewrites(ns *k3sNamespace, m *yamlMirror) error {
	if len(ns.endpoints) == 0 {
		c.warn(Warning{Code: WarnRewriteUnused, Pos: m.Rewrites[0].Pattern.Pos,
			Message: fmt.Sprintf("mirrors.%s.rewrite never applied: k3s rewrites only on mirror endpoints, and this mirror has none besides the registry itself", quoteKey(ns.name))})
		return nil
	}
	if c.opts.Flavor == FlavorK3s {
		ns.rewrites = m.Rewrites
		return nil
	}
	r := m.Rewrites[0]
	prefix, plain := plainPrefixRewrite(m.Rewrites)
	if !c.opts.RewriteToPath || !plain {
		msg := fmt.Sprintf("mirrors.%s.rewrite has no upstream containerd equivalent (%q → %q)", quoteKey(ns.name), r.Pattern.Value, r.Replacement.Value)
		switch {
		case plain:
			msg += "; it only adds a prefix, which --rewrite-to-path can express as an endpoint path"
		default:
			msg += "; only --flavor k3s (k3s's own containerd) keeps it"
		}
		return errorf(r.Pattern.Pos, "%s", msg)
	}
	for i := range ns.endpoints {
		ep := &ns.endpoints[i]
		base := ep.Path
		if !ep.OverridePath {
			base = "/v2"
		}
		ep.Path, ep.OverridePath = strings.TrimSuffix(base, "/")+"/"+prefix, true
	}
	c.warn(Warning{Code: WarnRewriteToPath, Pos: r.Pattern.Pos,
		Message: fmt.Sprintf("mirrors.%s.rewrite %q → %q became the endpoint path …/%s with override_path", quoteKey(ns.name), r.Pattern.Value, r.Replacement.Value, prefix)})
	return nil
}

// wholeRepo and prefixedRef match the two halves of a rewrite that
// prefixes every repository: "^(.*)$" → "some/prefix/$1".
var (
	// Compiled on first use: most runs never need them, and every run
	// pays for package initialisation.
	wholeRepo   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\^?\((\.\*|\.\+)\)\$?$`) })
	prefixedRef = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*)/\$(?:1|\{1\})$`)
	})
)

// plainPrefixRewrite returns the prefix of a rewrite that only prefixes
// every repository, and whether rules is one such.
func plainPrefixRewrite(rules []rewriteRule) (string, bool) {
	if len(rules) != 1 || !wholeRepo().MatchString(rules[0].Pattern.Value) {
		return "", false
	}
	m := prefixedRef().FindStringSubmatch(rules[0].Replacement.Value)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// k3sEndpoint is k3s's normalizeEndpointAddress: scheme http only for a
// loopback host with a port other than 443, docker.io named by its
// registry host, "", "/" and "/v2" as the default path, and any other path
// kept verbatim as the API root.
func k3sEndpoint(raw stringSetting) (endpoint, error) {
	s := raw.Value
	if !strings.Contains(s, "://") {
		s = "//" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return endpoint{}, fmt.Errorf("invalid endpoint URL %q", redactUserinfo(raw.Value))
	}
	if u.Scheme == "" {
		u.Scheme = "https"
		if host, port, err := net.SplitHostPort(u.Host); err == nil && isLocalhost(host) && port != "443" {
			u.Scheme = "http"
		}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("endpoint URL %q: scheme must be http or https", redactUserinfo(raw.Value))
	}
	if err := validHost(u.Host); err != nil {
		return endpoint{}, fmt.Errorf("endpoint URL %q: %v", redactUserinfo(raw.Value), err)
	}
	if u.Host == "docker.io" {
		u.Host = "registry-1.docker.io"
	}
	ep := endpoint{Scheme: u.Scheme, Host: u.Host, Pos: raw.Pos}
	switch u.Path {
	case "", "/", "/v2":
	default:
		ep.Path, ep.OverridePath = u.Path, true
	}
	return ep, nil
}

// dockerHubTLSMessage says what configs."docker.io".tls, which k3s applies
// to Docker Hub's registry-1.docker.io, does to Docker Hub pulls.
func dockerHubTLSMessage(t *tlsConfig) string {
	var what []string
	if t.InsecureSkipVerify {
		what = append(what, "turns off certificate verification")
	}
	if t.CAFile != nil {
		what = append(what, "trusts the CA "+t.CAFile.Value)
	}
	if t.CertFile != nil {
		what = append(what, "sends the client certificate "+t.CertFile.Value)
	}
	return fmt.Sprintf("k3s applies configs.\"docker.io\".tls to Docker Hub (registry-1.docker.io), and so does the migration: it %s for every Docker Hub pull, which weakens TLS to Docker Hub; key it by the mirror's host if it was meant for a mirror", strings.Join(what, " and "))
}

// k3sTLS looks up the TLS settings k3s uses for a host: its own configs
// entry, else, for Docker Hub, the entry under its other name.
func k3sTLS(configs map[string]*registryConfig, host string) *tlsConfig {
	keys := []string{host}
	switch host {
	case "docker.io":
		keys = append(keys, "registry-1.docker.io")
	case "registry-1.docker.io":
		keys = append(keys, "docker.io")
	}
	for _, k := range keys {
		if c := configs[k]; c != nil && c.TLS != nil && tlsMeaningful(c.TLS) {
			return c.TLS
		}
	}
	return nil
}

func (c *converter) k3sHostsFile(ns *k3sNamespace, rf *RegistriesFile) *HostsFile {
	f := &HostsFile{Namespace: ns.name, Source: rf.Path}
	entry := func(ep endpoint, tlsHost string) hostEntry {
		e := hostEntry{URL: ep.URL(), OverridePath: ep.OverridePath}
		t := k3sTLS(rf.Configs, tlsHost)
		if t != nil && ep.Scheme == "http" {
			// k3s writes TLS keys on an http:// host too, which makes
			// containerd try HTTPS first; the file asked for plain
			// http, which is what config.toml input gets as well.
			c.warn(Warning{Code: WarnTLSOnHTTP, Pos: t.Pos,
				Message: fmt.Sprintf("TLS settings for the plain-http endpoint %s are not written: k3s writes them into its hosts.toml, which makes containerd try HTTPS first (then fall back to http), unlike what this file asks for", ep.URL())})
			t = nil
		}
		if t != nil && ep.Host == "registry-1.docker.io" && rf.Configs["docker.io"] != nil && rf.Configs["docker.io"].TLS == t {
			pos := t.Pos
			if t.InsecureSkipVerify {
				pos = t.skipVerifyPos // the setting that weakens it most
			}
			c.warn(Warning{Code: WarnDockerHubTLS, Pos: pos, Message: dockerHubTLSMessage(t)})
		}
		if t != nil {
			if t.CAFile != nil {
				e.CA = []string{c.tlsPath(*t.CAFile, "ca")}
			}
			if t.CertFile != nil && t.KeyFile != nil {
				e.Client = [][2]string{{c.tlsPath(*t.CertFile, "cert"), c.tlsPath(*t.KeyFile, "key")}}
			}
			e.SkipVerify = t.InsecureSkipVerify
		}
		if ha := c.auth[tlsHost]; ha != nil && ha.header != "" {
			e.Header = map[string][]string{"Authorization": {ha.header}}
		}
		return e
	}
	var root hostEntry
	if ns.def != nil {
		root = entry(*ns.def, ns.name)
		root.Capabilities = rootCapabilities
		f.Server = &root
	} else if t := k3sTLS(rf.Configs, "*"); t != nil && rf.Mirrors["*"] != nil {
		// k3s builds the "*" mirror's file without the "*" configs entry.
		c.warn(Warning{Code: WarnWildcardTLSDropped, Pos: rf.Configs["*"].Pos,
			Message: "k3s writes _default for the \"*\" mirror without the TLS settings of configs.\"*\", so they never applied; they are not carried over"})
	} else if t != nil {
		// A "*" configs entry: root TLS for whatever _default serves.
		root = entry(endpoint{}, "*")
		root.URL = "" // no server line: each image's own registry
		f.Server = &root
	}
	for _, ep := range ns.endpoints {
		e := entry(ep, ep.Host)
		e.Capabilities = mirrorCapabilities
		if len(ns.rewrites) > 0 {
			e.Rewrite = map[string]string{}
			for _, r := range ns.rewrites {
				e.Rewrite[r.Pattern.Value] = r.Replacement.Value
			}
		}
		f.Hosts = append(f.Hosts, e)
	}
	// With no endpoints, Render writes k3s's empty [host] table, which
	// containerd before 1.7.32 needs to read the file at all.
	return f
}
