package diagnose

import (
	"net"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// release is how one containerd release reads config_path and hosts.toml:
// each method is one difference between releases, read from containerd's
// remotes/docker/config/hosts.go (1.6, 1.7) and
// core/remotes/docker/config/hosts.go (2.x) at the tags named.
type release struct{ v version }

// version is a containerd release number; convert owns its ordering.
type version = convert.Release

func ver(major, minor, patch int) version { return version{Major: major, Minor: minor, Patch: patch} }

// targetRange is the target's first and last release.
func targetRange(t convert.Target) (min, max version) {
	t = t.OrDefault()
	return t.Min, t.Max
}

func (r release) atLeast(major, minor, patch int) bool { return r.v.AtLeast(ver(major, minor, patch)) }

// defaultDir: hostPaths tries <root>/_default last (commit f0bf9e7f8:
// v1.6.17, v1.7.0).
func (r release) defaultDir() bool { return r.atLeast(1, 6, 17) }

// needsHostTable: getSortedHosts fails with "invalid `host` tree" on a
// file with no [host] table, and the file is ignored (fixed in v1.7.32,
// commit 24007441d; 2.x never had it).
func (r release) needsHostTable() bool { return !r.atLeast(1, 7, 32) }

// goTOML2 is the go-toml v2 parser (2.0, commit b5615caf1): hosts are the
// [host."…"] table headers in file order, a host given as an inline table
// or dotted key is decoded but never tried, and a sub-table separated from
// its host lists the host again. go-toml v1 (1.x) orders every host key by
// line.
func (r release) goTOML2() bool { return r.atLeast(2, 0, 0) }

// referrers: the "referrers" capability (v2.2.0, commit b668614b5); the
// default capabilities include it from then on.
func (r release) referrers() bool { return r.atLeast(2, 2, 0) }

// dialTimeout: the dial_timeout key (v2.0.7 in the 2.0 line, v2.1.0;
// commit c4982bffc); before, it is an unknown key.
func (r release) dialTimeout() bool { return r.atLeast(2, 0, 7) }

// dialTimeoutIsTLS: 2.0.7–2.0.x count dial_timeout as TLS configuration,
// so an http:// host with it tries HTTPS first (fixed in v2.1.0, commit
// f702bf9fe).
func (r release) dialTimeoutIsTLS() bool { return r.dialTimeout() && !r.atLeast(2, 1, 0) }

// httpsFirst reports whether an http:// host with TLS settings is tried
// over HTTPS first, falling back to HTTP (NewHTTPFallback; semantics §4.6).
func (r release) httpsFirst(hostport string) bool {
	_, port, _ := net.SplitHostPort(hostport)
	switch {
	case r.atLeast(1, 7, 24): // and 2.x: commit 02b6c6939
		return port != "80"
	case r.atLeast(1, 7, 8):
		return port != "" && port != "80"
	case r.atLeast(1, 7, 7):
		return true
	case r.atLeast(1, 7, 0):
		return false
	case r.atLeast(1, 6, 25):
		return port != "" && port != "80"
	}
	return false
}

// localhostUpstream is the default upstream ConfigureHosts picks for a
// localhost or loopback namespace with no server.
func (r release) localhostUpstream(host string) (scheme string, skipVerify bool) {
	_, port, _ := net.SplitHostPort(host)
	switch {
	case r.atLeast(1, 7, 8), r.atLeast(1, 6, 25) && !r.atLeast(1, 7, 0):
		switch port {
		case "", "443":
			return "https", true
		case "80":
			return "http", false
		}
		return "http", true
	case r.atLeast(1, 6, 9):
		return "http", true
	}
	return "https", false
}

// capabilityNames are the capabilities the release knows.
func (r release) capabilityNames() []string {
	if r.referrers() {
		return []string{"pull", "resolve", "push", "referrers"}
	}
	return []string{"pull", "resolve", "push"}
}

// window is a range of releases that read hosts.toml alike.
type window struct {
	from, to version // to is the last release in the window
	rel      release
}

// boundaries are the first releases of each behaviour above.
var boundaries = []version{
	ver(1, 6, 9), ver(1, 6, 17), ver(1, 6, 25), ver(1, 7, 0), ver(1, 7, 7), ver(1, 7, 8), ver(1, 7, 24), ver(1, 7, 32),
	ver(2, 0, 0), ver(2, 0, 7), ver(2, 1, 0), ver(2, 2, 0), ver(2, 2, 2), ver(2, 3, 0),
}

// windows splits the target into ranges of releases that behave alike,
// oldest first.
func windows(min, max version) []window { return windowsAt(min, max, boundaries) }

// parseBoundaries are the releases where what makes containerd reject a
// hosts.toml changes (needsHostTable, goTOML2, dialTimeout, referrers).
var parseBoundaries = []version{ver(1, 7, 32), ver(2, 0, 0), ver(2, 0, 7), ver(2, 2, 0)}

// windowsAt splits the target at the given boundaries (sorted).
func windowsAt(min, max version, bounds []version) []window {
	var ws []window
	from := min
	for _, b := range bounds {
		if !from.Less(b) || max.Less(b) {
			continue
		}
		ws = append(ws, window{from: from, to: before(b), rel: release{from}})
		from = b
	}
	return append(ws, window{from: from, to: max, rel: release{from}})
}

// before is the last release before b (patch 99 of the previous minor
// when b is an x.y.0).
func before(b version) version {
	switch {
	case b.Patch > 0:
		return ver(b.Major, b.Minor, b.Patch-1)
	case b.Minor > 0:
		return ver(b.Major, b.Minor-1, 99)
	}
	return ver(b.Major-1, 99, 99)
}
