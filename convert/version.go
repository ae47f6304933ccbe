package convert

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Release is a containerd release number.
type Release struct{ Major, Minor, Patch int }

func (v Release) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less reports whether v is older than w.
func (v Release) Less(w Release) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// AtLeast reports whether v is w or newer.
func (v Release) AtLeast(w Release) bool { return !v.Less(w) }

// Versions that change what the output must look like (docs/semantics.md §6).
var (
	minSupported    = Release{1, 6, 0}  // override_path
	defaultDirSince = Release{1, 6, 17} // _default, also 1.7.0
	v2_0            = Release{2, 0, 0}
	v2_1            = Release{2, 1, 0} // transfer service; keeping configs.auth forces local pull
	latestKnown     = Release{2, 99, 99}
)

// Target is the range of containerd versions that will read the output.
type Target struct {
	Min, Max Release
	// Explicit reports that the user named the version.
	Explicit bool
}

// defaultTarget is every containerd from 1.6.17 through 2.x: output valid on
// all of them.
var defaultTarget = Target{Min: defaultDirSince, Max: latestKnown}

// OrDefault is t, or the default target (1.6.17 through 2.x) when no
// version was given.
func (t Target) OrDefault() Target {
	if t == (Target{}) {
		return defaultTarget
	}
	return t
}

// ParseTarget parses "1.6.20", "1.7" or "2" into the range of releases the
// string names ("1.7" is every 1.7.x).
func ParseTarget(s string) (Target, error) {
	num := strings.TrimPrefix(strings.TrimSpace(s), "v")
	// Drop suffixes such as 1.6.20~ds1 (Debian) or 2.1.0-rc.1.
	if i := strings.IndexAny(num, "~-+"); i > 0 {
		num = num[:i]
	}
	parts := strings.Split(num, ".")
	if len(parts) > 3 || parts[0] == "" {
		return Target{}, fmt.Errorf("invalid containerd version %q: want MAJOR[.MINOR[.PATCH]]", s)
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return Target{}, fmt.Errorf("invalid containerd version %q: want MAJOR[.MINOR[.PATCH]]", s)
		}
		nums[i] = n
	}
	t := Target{Explicit: true}
	switch len(nums) {
	case 1:
		t.Min, t.Max = Release{nums[0], 0, 0}, Release{nums[0], 99, 99}
	case 2:
		t.Min, t.Max = Release{nums[0], nums[1], 0}, Release{nums[0], nums[1], 99}
	default:
		t.Min = Release{nums[0], nums[1], nums[2]}
		t.Max = t.Min
	}
	if t.Min.Less(minSupported) {
		return Target{}, fmt.Errorf("containerd %s is not supported: hosts.toml needs override_path, which came in 1.6.0", s)
	}
	return t, nil
}

func (t Target) String() string {
	if t.Min == t.Max {
		return t.Min.String()
	}
	if t == defaultTarget {
		return "1.6.17 through 2.x"
	}
	return t.Min.String() + " through " + t.Max.String()
}

// includes1x reports whether some target release is a 1.x.
func (t Target) includes1x() bool { return t.Min.Less(v2_0) }

// includes2x reports whether some target release is a 2.x.
func (t Target) includes2x() bool { return t.Max.AtLeast(v2_0) }

// ImportGlobFromWorkDir tells how the target resolves a relative glob in
// `imports`: containerd before 1.6.29 and 1.7.0–1.7.15 globbed before
// joining the importing file's directory, so the glob matched against the
// daemon's working directory (containerd #9745). all reports every target
// release doing so, some at least one.
func (t Target) ImportGlobFromWorkDir() (all, some bool) {
	t = t.OrDefault()
	buggy := func(v Release) bool {
		return v.Less(Release{1, 6, 29}) || (v.AtLeast(Release{1, 7, 0}) && v.Less(Release{1, 7, 16}))
	}
	all = buggy(t.Min) && buggy(t.Max) && (t.Max.Less(Release{1, 6, 29}) || t.Min.AtLeast(Release{1, 7, 0}))
	some = buggy(t.Min) || buggy(t.Max) || (t.Min.Less(Release{1, 7, 0}) && t.Max.AtLeast(Release{1, 7, 0}))
	return all, some
}

// checkVersions reconciles the config files' versions with the target
// (docs/semantics.md §2.1, §6).
func (c *converter) checkVersions(files []*ConfigFile) error {
	t := &c.opts.Target
	if c.opts.ToConfigVersion == 3 {
		if !t.includes2x() || (t.Explicit && t.includes1x()) {
			return fmt.Errorf("--to-config-version 3 writes configs only containerd 2.x reads, but the target is containerd %s", t)
		}
		if t.includes1x() {
			t.Min = v2_0
		}
	}
	for _, f := range files {
		if f.Version != 3 {
			continue
		}
		if !t.includes2x() {
			return errorf(Position{File: f.Path}, "a version 3 config is read only by containerd 2.x, but the target is containerd %s", t)
		}
		if !t.Explicit && t.includes1x() {
			t.Min = v2_0 // the node runs containerd 2.x
		}
	}
	main := files[0]
	if main.Version == 1 && t.includes2x() && t.Min.Less(Release{2, 3, 0}) {
		c.warn(Warning{Code: WarnV1ConfigOn2x, Pos: Position{File: main.Path},
			Message: "this is a version 1 config: containerd 2.0–2.2 ignore every CRI setting in it, config_path included (2.3+ migrate it); before upgrading to 2.x, convert it with `containerd config migrate`"})
	}
	return nil
}

// versionGates refuses output the target cannot read, and warns about what
// behaves differently across it.
func (c *converter) versionGates(res *Result) error {
	t := c.opts.Target
	for _, f := range res.Hosts {
		if f.Namespace == "*" && t.Min.Less(defaultDirSince) {
			return errorf(c.reg.Mirrors["*"].Pos, "mirrors.\"*\" becomes the _default directory, which containerd supports from 1.6.17 and 1.7.0; the target containerd %s has no equivalent", t)
		}
	}
	if c.reg.ConfigPath != nil && c.reg.ConfigPath.Value != "" && len(c.reg.Mirrors) > 0 {
		pos := c.reg.ConfigPath.Pos
		c.warn(Warning{Code: WarnHalfMigrated, Pos: pos,
			Message: "config_path and mirrors are both set: containerd currently refuses to load its CRI plugin (`mirrors` cannot be set when `config_path` is provided); the mirrors move into the existing config_path directory"})
	}
	var kept []string
	var keptPos Position
	headers := false
	for _, h := range sortedKeys(c.auth) {
		ha := c.auth[h]
		if ha.header != "" {
			headers = true
			continue
		}
		switch {
		case validHost(h) != nil:
			c.warn(Warning{Code: WarnConfigKeyNotHost, Pos: ha.Pos,
				Message: fmt.Sprintf("configs key %q is not a host[:port]; containerd looks credentials up by the host it contacts, so these never applied; they are left as they are", h)})
			continue
		case h == "docker.io":
			c.warn(Warning{Code: WarnDockerHubConfigKey, Pos: ha.Pos,
				Message: "configs.\"docker.io\".auth never applied to Docker Hub pulls, which authenticate against registry-1.docker.io; it is left as it is (key it registry-1.docker.io to use it)"})
			continue
		}
		if keptPos.File == "" {
			keptPos = ha.Pos
		}
		kept = append(kept, h)
	}
	if len(kept) > 0 {
		msg := fmt.Sprintf("credentials for %s stay in %s as configs.<host>.auth: containerd reads them beside config_path, but they are deprecated (containerd plans to remove them; 2.4 still reads them) and ctr/nerdctl --hosts-dir do not read them", strings.Join(kept, ", "), path.Base(c.authFile(keptPos)))
		if t.Max.AtLeast(v2_1) {
			msg += "; containerd 2.1+ pulls in local mode while they are set"
		}
		c.warn(Warning{Code: WarnAuthKept, Pos: keptPos, Message: msg})
	}
	if headers {
		msg := "credentials became a static `Authorization: Basic` header in hosts.toml (file mode 0600): registries that accept Basic auth directly work; token-based registries (Docker Hub, Harbor, GHCR, …) answer with a Bearer challenge"
		if t.Min.Less(v2_1) {
			msg += ", and containerd before 2.1 does not send the header to the token server, so private pulls from them fail"
		} else {
			msg += " and may not accept the header at their token endpoint"
		}
		c.warn(Warning{Code: WarnAuthHeaderToken, Pos: Position{File: res.CertsDir}, Message: msg})
	}
	if !t.includes1x() {
		for _, h := range sortedKeys(c.reg.Configs) {
			// Only where hosts.toml carries them: TLS for a plain-http
			// host is not carried over (tls-on-http-host says so).
			if tls := c.reg.Configs[h].TLS; tls != nil && tlsMeaningful(tls) && c.tlsWritten[h] {
				c.warn(Warning{Code: WarnTLSRestoredOn2x, Pos: tls.Pos,
					Message: fmt.Sprintf("containerd 2.x ignores configs.%s.tls; in hosts.toml it takes effect again", quoteKey(h))})
			}
		}
	}
	return nil
}
