// Package diagnose explains what containerd does with a node's registry
// configuration: the config.toml registry settings, the config_path
// directory and its hosts.toml files. It reports findings (what containerd
// ignores, rejects or does differently than written, with the fix) and the
// effective host list per namespace, exactly as containerd's own loader
// (core/remotes/docker/config.ConfigureHosts) builds it, for each range of
// containerd releases that behave alike.
//
// It does no I/O of its own: it reads the certs directory and certificate
// files through an fs.FS rooted at the node's "/".
package diagnose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// Severity says what a finding means for a pull.
type Severity string

const (
	// Error: a pull fails, the CRI plugin does not load, or containerd
	// throws away a whole file or directory the user wrote.
	Error Severity = "error"
	// Warning: containerd ignores part of what is written, or does
	// something else than it says.
	Warning Severity = "warning"
	// Info: worth knowing; containerd does what is written.
	Info Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// Finding is one thing check reports.
type Finding struct {
	Code     string           `json:"code"`
	Severity Severity         `json:"severity"`
	Message  string           `json:"message"`
	Fix      string           `json:"fix,omitempty"`
	Pos      convert.Position `json:"position"`
	// Versions names the containerd releases the finding applies to when
	// it is not every release of the target.
	Versions string `json:"versions,omitempty"`
	// Ignored names the file or directory (node path) containerd reads as
	// if it did not exist because of this finding; the cross-check removes
	// it and expects containerd's loader to return the same hosts.
	Ignored string `json:"-"`
	// IgnoredKey reports that containerd ignores the key-value at Pos; the
	// cross-check deletes its line and expects the same hosts.
	IgnoredKey bool `json:"-"`

	from, to version
	// lastWindow is the index of the newest window the finding was seen in.
	lastWindow int
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s: %s: %s", f.Pos, f.Severity, f.Message)
	if f.Versions != "" {
		s += " (containerd " + f.Versions + ")"
	}
	return s + " [" + f.Code + "]"
}

// Code describes one finding code; Codes is the documented list.
type Code struct {
	Severity Severity
	Summary  string
}

// sortFindings orders findings by file, position, then code.
func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		return a.Code < b.Code
	})
}

// collector gathers findings across release windows, merging a finding
// seen in adjacent windows into one with the combined range.
type collector struct {
	min, max version
	findings []Finding
	cur      window
	curIndex int
}

func (c *collector) add(f Finding) {
	f.Severity = Codes[f.Code].Severity
	if f.Severity == "" {
		panic("undocumented finding code " + f.Code)
	}
	f.from, f.to, f.lastWindow = c.cur.from, c.cur.to, c.curIndex
	for i := range c.findings {
		g := &c.findings[i]
		if g.Code != f.Code || g.Pos != f.Pos || g.Message != f.Message {
			continue
		}
		switch g.lastWindow {
		case c.curIndex:
			return // said already for this window
		case c.curIndex - 1:
			g.to, g.lastWindow = f.to, c.curIndex
			return
		}
	}
	c.findings = append(c.findings, f)
}

// result names version ranges that are not the whole target.
func (c *collector) result() []Finding {
	for i := range c.findings {
		f := &c.findings[i]
		if f.from == c.min && f.to == c.max {
			continue
		}
		f.Versions = versionRange(f.from, f.to)
	}
	sortFindings(c.findings)
	return c.findings
}

func versionRange(from, to version) string {
	short := func(v version) string {
		if v.Patch == 99 && v.Minor == 99 {
			return fmt.Sprintf("%d.x", v.Major)
		}
		if v.Patch == 99 {
			return fmt.Sprintf("%d.%d.x", v.Major, v.Minor)
		}
		return v.String()
	}
	if from == to {
		return from.String()
	}
	if to.Major == 2 && to.Minor == 99 {
		return short(from) + "+"
	}
	return short(from) + "–" + short(to)
}

// Counts returns how many findings there are at each severity.
func Counts(fs []Finding) map[Severity]int {
	n := map[Severity]int{}
	for _, f := range fs {
		n[f.Severity]++
	}
	return n
}

// Failing reports findings at warning or above (the linter exit status 1).
func Failing(fs []Finding) bool {
	for _, f := range fs {
		if f.Severity.rank() <= Warning.rank() {
			return true
		}
	}
	return false
}

// summary is the one-line count of findings.
func summary(fs []Finding) string {
	n := Counts(fs)
	var parts []string
	for _, s := range []Severity{Error, Warning, Info} {
		word := string(s)
		if n[s] != 1 {
			word += "s"
		}
		if s == Info {
			word = "info"
		}
		parts = append(parts, fmt.Sprintf("%d %s", n[s], word))
	}
	return strings.Join(parts, ", ")
}
