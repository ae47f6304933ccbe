package convert

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// endpoint is one host that legacy containerd tried for a namespace, in the
// form hosts.toml needs (docs/semantics.md §3.5, §5.6).
type endpoint struct {
	Scheme string // "http" or "https"
	Host   string // host[:port], exactly as written
	// Path is the cleaned API root ("" for the default /v2).
	Path string
	// OverridePath reports that Path is the API root as is: legacy used a
	// non-empty endpoint path verbatim, without appending /v2.
	OverridePath bool
	// Implicit reports the upstream that legacy appended after the mirrors.
	Implicit bool
	Pos      Position
}

// URL is the endpoint as a hosts.toml host key or server value.
func (e endpoint) URL() string { return e.Scheme + "://" + e.Host + e.Path }

// parseEndpoint applies legacy containerd's reading of a mirror endpoint.
func parseEndpoint(raw stringSetting, warn func(Warning)) (endpoint, error) {
	s := raw.Value
	if !strings.Contains(s, "://") {
		// Legacy picks the scheme from the endpoint's own host: plain http
		// for localhost and loopback addresses, https otherwise.
		u, err := url.Parse("dummy://" + s)
		if err != nil {
			return endpoint{}, errorf(raw.Pos, "invalid mirror endpoint %q: %v (containerd fails every pull through it)", redactUserinfo(s), unwrapURLError(err))
		}
		scheme := "https"
		if isLocalhost(u.Host) {
			scheme = "http"
		}
		s = scheme + "://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return endpoint{}, errorf(raw.Pos, "invalid mirror endpoint %q: %v (containerd fails every pull through it)", redactUserinfo(raw.Value), unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, errorf(raw.Pos, "mirror endpoint %q: scheme must be http or https", redactUserinfo(raw.Value))
	}
	if err := validHost(u.Host); err != nil {
		return endpoint{}, errorf(raw.Pos, "mirror endpoint %q: %v", redactUserinfo(raw.Value), err)
	}
	if u.User != nil {
		warn(Warning{Code: WarnEndpointUserinfo, Pos: raw.Pos,
			Message: fmt.Sprintf("the user information in mirror endpoint %s was never used by containerd and is not carried over; credentials go in configs.%s.auth", redactUserinfo(raw.Value), quoteKey(u.Host))})
	}
	e := endpoint{Scheme: u.Scheme, Host: u.Host, Pos: raw.Pos}
	if u.Path != "" {
		e.Path = path.Clean(u.Path)
		if e.Path != "/v2" && !strings.HasSuffix(e.Path, "/v2") {
			e.OverridePath = true
			if e.Path == "/" {
				warn(Warning{Code: WarnEndpointRootPath, Pos: raw.Pos,
					Message: fmt.Sprintf("mirror endpoint %q has path \"/\": legacy containerd used it as the API root, so requests lacked /v2/ and most likely never reached this mirror; kept as is with override_path (drop the trailing slash to use /v2)", redactUserinfo(raw.Value))})
			}
		} else if e.Path == "/v2" {
			e.Path = "" // the default root
		}
	}
	return e, nil
}

// upstream is the host legacy containerd appended after a namespace's
// mirrors (docs/semantics.md §3.4).
func upstream(namespace string) endpoint {
	host := namespace
	if namespace == "docker.io" {
		host = "registry-1.docker.io"
	}
	scheme := "https"
	if isLocalhost(host) {
		scheme = "http"
	}
	return endpoint{Scheme: scheme, Host: host, Implicit: true}
}

// isLocalhost is containerd's docker.IsLocalhost (1.6.0+).
func isLocalhost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validHost checks that s is a registry host[:port]: a DNS name or IPv4
// address, or a bracketed IPv6 address, with an optional port. It is the
// gate that keeps namespace and host keys from naming paths outside the
// certs directory.
func validHost(s string) error {
	if s == "" {
		return fmt.Errorf("empty host")
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return fmt.Errorf("invalid host %q", s)
		}
		host, port = s[1:end], strings.TrimPrefix(s[end+1:], ":")
		if ip := net.ParseIP(host); ip == nil || !strings.Contains(host, ":") || (s[end+1:] != "" && !strings.HasPrefix(s[end+1:], ":")) {
			return fmt.Errorf("invalid IPv6 host %q", s)
		}
		if s[end+1:] == ":" {
			return fmt.Errorf("empty port in %q", s)
		}
	} else if i := strings.LastIndex(s, ":"); i >= 0 {
		host, port = s[:i], s[i+1:]
		if port == "" {
			return fmt.Errorf("empty port in %q", s)
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return fmt.Errorf("invalid port in %q", s)
		}
	}
	if strings.HasPrefix(s, "[") {
		return nil
	}
	if host == "" || strings.Contains(host, "..") || host[0] == '.' || host[0] == '-' || host[0] == '_' {
		return fmt.Errorf("invalid host name %q", s)
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("invalid character %q in host %q", c, s)
		}
	}
	return nil
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// userinfo returns the user information of a URL-like string, or "".
func userinfo(s string) string {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		rest = s
	}
	at := strings.LastIndex(rest, "@")
	if slash := strings.Index(rest, "/"); at < 0 || (slash >= 0 && slash < at) {
		return ""
	}
	return rest[:at]
}

// redactUserinfo hides the user information of a URL-like string.
func redactUserinfo(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		rest, scheme = s, ""
	}
	at := strings.LastIndex(rest, "@")
	slash := strings.Index(rest, "/")
	if at < 0 || (slash >= 0 && slash < at) {
		return s
	}
	rest = "<redacted>" + rest[at:]
	if scheme != "" {
		return scheme + "://" + rest
	}
	return rest
}
