package diagnose

import (
	"encoding/base64"
	"fmt"
	"net"
	"path"
	"strings"
)

// publicRegistries are registries whose certificates always verify:
// skip_verify on them only hides a man in the middle (or a proxy).
var publicRegistries = map[string]bool{
	"docker.io": true, "registry-1.docker.io": true, "index.docker.io": true, "ghcr.io": true, "quay.io": true,
	"registry.k8s.io": true, "k8s.gcr.io": true, "gcr.io": true, "mcr.microsoft.com": true, "public.ecr.aws": true,
	"registry.gitlab.com": true, "nvcr.io": true, "docker.elastic.co": true,
}

// tokenRegistries answer with a Bearer challenge: a static Basic header
// is not what their token endpoint expects.
var tokenRegistries = map[string]bool{
	"docker.io": true, "registry-1.docker.io": true, "index.docker.io": true, "ghcr.io": true, "quay.io": true,
	"gcr.io": true, "registry.gitlab.com": true, "nvcr.io": true, "public.ecr.aws": true,
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// checkHosts reports what the release does with each host of a parsed
// hosts.toml.
func (ck *checker) checkHosts(ns string, hf *hostsFile) {
	for _, e := range hf.hosts {
		ck.checkEntry(ns, e)
	}
}

func (ck *checker) checkEntry(ns string, e entry) {
	c, r := ck.c, ck.rel
	where := "server"
	if !e.root {
		where = fmt.Sprintf("host %s", e.key)
	}
	if e.root && e.key == "" {
		where = "the default upstream"
	}
	if !e.root && (e.scheme != "http" && e.scheme != "https" || e.host == "") {
		c.add(Finding{Code: "host-url-unusable", Pos: e.pos,
			Message: fmt.Sprintf("containerd reads %q as scheme %q and host %q, which it cannot connect to: every request to it fails", e.key, e.scheme, e.host),
			Fix:     "write the URL with its scheme: https://" + strings.TrimPrefix(e.key, "//")})
	}
	for _, p := range e.ca {
		ck.relativeTLS(p)
		ck.checkCA(p)
	}
	for _, pair := range e.client {
		ck.relativeTLS(pair[0])
		if pair[1].written != "" {
			ck.relativeTLS(pair[1])
		}
		ck.checkClient(pair)
	}
	tlsSet := e.ca != nil || e.client != nil || e.skipVerify != nil
	if e.scheme == "http" && tlsSet {
		if r.httpsFirst(e.host) {
			c.add(Finding{Code: "tls-on-http-host", Pos: e.pos,
				Message: fmt.Sprintf("%s is http:// but has TLS settings (ca, client or skip_verify, even skip_verify = false): containerd tries HTTPS first and falls back to plain HTTP only when the TLS handshake fails", where),
				Fix:     "remove the TLS settings for a plain-HTTP registry, or write https://"})
		} else {
			c.add(Finding{Code: "tls-on-http-host", Pos: e.pos,
				Message: fmt.Sprintf("%s is http:// and has TLS settings, which containerd does not use on a plain-HTTP host (newer releases try HTTPS first)", where),
				Fix:     "remove the TLS settings for a plain-HTTP registry, or write https://"})
		}
	}
	if e.scheme == "http" && !tlsSet && e.dialTimeout != nil && r.dialTimeoutIsTLS() && r.httpsFirst(e.host) {
		c.add(Finding{Code: "dial-timeout-https-first", Pos: e.dialPos,
			Message: fmt.Sprintf("containerd 2.0.7–2.0.x count dial_timeout as TLS configuration: %s, an http:// host, is tried over HTTPS first", where),
			Fix:     "upgrade containerd to 2.1+, or remove dial_timeout from http:// hosts"})
	}
	upstream := e.host
	if e.root && e.key == "" {
		upstream = ns
	}
	if e.skipVerify != nil && *e.skipVerify && (publicRegistries[hostOnly(upstream)] || ns == "docker.io" && e.root && e.key == "") {
		c.add(Finding{Code: "skip-verify-public", Pos: e.pos,
			Message: fmt.Sprintf("skip_verify on %s, a public registry with a valid certificate: it only hides a TLS-intercepting proxy or an attacker", hostOnly(upstream)),
			Fix:     "remove skip_verify; if a proxy intercepts TLS, give its CA with ca = \"…\""})
	}
	// Paths.
	if e.key != "" {
		written := urlPath(e.key)
		switch {
		case e.overridePath && (written == "" || written == "/"):
			c.add(Finding{Code: "override-path-no-path", Pos: e.overridePos,
				Message: fmt.Sprintf("override_path = true on %s, whose URL has no path: containerd sends requests to /<repository>/manifests/… without /v2, which a registry answers with 404", where),
				Fix:     "remove override_path (it is for URLs whose path is the API root, such as https://mirror/artifactory/api/docker/hub)"})
		case !e.overridePath && written != "" && written != "/" && !strings.HasSuffix(path.Clean(written), "/v2"):
			c.add(Finding{Code: "path-without-v2", Pos: e.pos,
				Message: fmt.Sprintf("%s has the path %s: containerd appends /v2 and sends requests to %s/<repository>/…; if %s is already the API root, every request 404s", where, written, e.path, written),
				Fix:     "add override_path = true if the path is the API root; otherwise write …" + path.Clean(written) + "/v2 to make it explicit"})
		}
	}
	if e.root && e.key == "" {
		if e.capsPos.File != "" {
			c.add(Finding{Code: "root-key-ignored", Pos: e.capsPos, IgnoredKey: true,
				Message: "capabilities at the top of a hosts.toml with no server: containerd gives the default upstream every capability and ignores it",
				Fix:     "set server = \"https://…\" next to it, or move it into a [host] table"})
		}
		if e.overridePath {
			c.add(Finding{Code: "root-key-ignored", Pos: e.overridePos, IgnoredKey: true,
				Message: "override_path at the top of a hosts.toml with no server: containerd uses /v2 for the default upstream and ignores it",
				Fix:     "set server = \"https://…/path\" next to it, or remove it"})
		}
	}
	// Headers.
	for _, h := range e.header {
		if strings.EqualFold(h.name, "authorization") && h.name != "Authorization" {
			c.add(Finding{Code: "header-authorization-case", Pos: h.pos,
				Message: fmt.Sprintf("containerd uses header names as written, without canonicalising them: %q is sent beside the Authorization header containerd sets from its own credentials, and is not stripped on redirects to other hosts (blob storage) as Authorization is", h.name),
				Fix:     fmt.Sprintf("write Authorization instead of %s", h.name)})
		}
		if strings.EqualFold(h.name, "authorization") && tokenRegistries[hostOnly(upstream)] {
			for _, v := range h.values {
				if isBasic(v) {
					msg := fmt.Sprintf("a static Basic Authorization header for %s, which uses token authentication: it answers with a Bearer challenge, and containerd fetches the token with the credentials it has, not this header", hostOnly(upstream))
					if !r.atLeast(2, 1, 0) {
						msg += " (containerd before 2.1 does not send host headers to the token server at all)"
					}
					c.add(Finding{Code: "header-basic-token-registry", Pos: h.pos, Message: msg,
						Fix: "give the credentials through the kubelet (imagePullSecrets) or configs.\"" + hostOnly(upstream) + "\".auth in config.toml"})
					break
				}
			}
		}
	}
}

func isBasic(v string) bool {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "basic") {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	return err == nil
}

// urlPath is the path of a [host] key as containerd parses it.
func urlPath(key string) string {
	s := key
	if !strings.HasPrefix(s, "http") {
		s = "https://" + s
	}
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 && rest[j] == '/' {
			p := rest[j:]
			if k := strings.IndexAny(p, "?#"); k >= 0 {
				p = p[:k]
			}
			return p
		}
	}
	return ""
}

// relativeTLS notes a relative certificate path.
func (ck *checker) relativeTLS(p tlsPath) {
	if path.IsAbs(p.written) {
		return
	}
	ck.c.add(Finding{Code: "tls-relative-path", Pos: p.pos,
		Message: fmt.Sprintf("%s is relative: containerd reads it from the hosts.toml directory, as %s", p.written, p.abs),
		Fix:     fmt.Sprintf("write the absolute path %q", p.abs)})
}
