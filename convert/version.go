package convert

import (
	"fmt"
	"strconv"
	"strings"
)

// release is a containerd release number.
type release struct{ Major, Minor, Patch int }

func (v release) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less reports whether v is older than w.
func (v release) Less(w release) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// AtLeast reports whether v is w or newer.
func (v release) AtLeast(w release) bool { return !v.Less(w) }

// Versions that change what the output must look like (semantics §9).
var (
	minSupported    = release{1, 6, 0}  // override_path
	defaultDirSince = release{1, 6, 17} // _default, also 1.7.0
	v2_0            = release{2, 0, 0}
	v2_1            = release{2, 1, 0} // transfer service; keeping configs.auth forces local pull
	latestKnown     = release{2, 99, 99}
)

// Target is the range of containerd versions that will read the output.
type Target struct {
	Min, Max release
	// Explicit reports that the user named the version.
	Explicit bool
}

// defaultTarget is every containerd from 1.6.17 through 2.x: output valid on
// all of them.
var defaultTarget = Target{Min: defaultDirSince, Max: latestKnown}

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
		t.Min, t.Max = release{nums[0], 0, 0}, release{nums[0], 99, 99}
	case 2:
		t.Min, t.Max = release{nums[0], nums[1], 0}, release{nums[0], nums[1], 99}
	default:
		t.Min = release{nums[0], nums[1], nums[2]}
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
// `imports`: containerd before 1.6.30 and 1.7.0–1.7.15 globbed before
// joining the importing file's directory, so the glob matched against the
// daemon's working directory (containerd #9745). all reports every target
// release doing so, some at least one.
func (t Target) ImportGlobFromWorkDir() (all, some bool) {
	if t == (Target{}) {
		t = defaultTarget
	}
	buggy := func(v release) bool {
		return v.Less(release{1, 6, 30}) || (v.AtLeast(release{1, 7, 0}) && v.Less(release{1, 7, 16}))
	}
	all = buggy(t.Min) && buggy(t.Max) && (t.Max.Less(release{1, 6, 30}) || t.Min.AtLeast(release{1, 7, 0}))
	some = buggy(t.Min) || buggy(t.Max) || (t.Min.Less(release{1, 7, 0}) && t.Max.AtLeast(release{1, 7, 0}))
	return all, some
}
