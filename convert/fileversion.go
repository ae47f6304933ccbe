package convert

import (
	"fmt"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// The version containerd reads a file at (docs/semantics.md §2.1, §2.2)
// when the file has no version line, or version 1, or version 3 — each
// release line decides it differently:
//
//   - 1.x merges every file into one config (mergo, WithOverride: a zero
//     version never overrides) and decodes the plugins at the merged
//     version, so a version-less import is read at the version of the
//     files before it; at version 2 every plugin key must be a URI, and a
//     short name such as plugins.cri makes containerd refuse to start
//     (services/server/config/config.go ValidateV2, v1.6.0–v1.7.x).
//   - 2.0–2.2 migrate a version 0/1 import up to the version merged so far
//     (3 for the root itself, whose CRI settings are then all ignored: the
//     v1-config-on-2x warning): short plugin names become URIs, and at
//     version 3 nothing moves the CRI registry into the images plugin
//     (cmd/containerd/server/config LoadConfig, v2.0.0–v2.2.x).
//   - 2.3+ migrate every file on its own to version 4, with each plugin's
//     migration at every step (LoadConfigWithPlugins, v2.3.0+): a version 0/1
//     file's plugins.cri and plugins."io.containerd.grpc.v1.cri" registries
//     both apply, and so does a version 3 file's grpc one (resolveVersion3).
//
// Where the target spans lines that disagree about a file, the user is
// asked for --containerd-version, as mergeFiles does for the merge rules.

// releaseLine is a range of containerd releases that read imports alike.
type releaseLine int

const (
	line1x releaseLine = iota
	line20to22
	line23plus
)

func (l releaseLine) String() string {
	return [...]string{"containerd 1.x", "containerd 2.0–2.2", "containerd 2.3+"}[l]
}

// lines are the release lines the target includes.
func (t Target) lines() []releaseLine {
	var out []releaseLine
	v2_3 := Release{2, 3, 0}
	if t.includes1x() {
		out = append(out, line1x)
	}
	if t.Max.AtLeast(v2_0) && t.Min.Less(v2_3) {
		out = append(out, line20to22)
	}
	if t.Max.AtLeast(v2_3) {
		out = append(out, line23plus)
	}
	return out
}

// importReading is how one release line reads a version-less import.
type importReading struct {
	line    releaseLine
	version int    // the version the file is read at
	plugin  string // the plugin key, as written, whose registry applies; "" for none
	how     string // in words, for messages
	refuses string // non-empty: containerd refuses to start, and why
}

// resolveVersions reads every version 1 or version-less file (and the
// version 3 ones, see resolveVersion3) as the target reads it.
// Where the target's release lines disagree about a file, the user must
// say which containerd reads it.
func resolveVersions(files []*ConfigFile, t Target) error {
	for i, f := range files {
		f.imported = i > 0
		if f.Version == 3 && !f.k0sMerged {
			if err := resolveVersion3(f, t); err != nil {
				return err
			}
			continue
		}
		if f.k0sMerged {
			// k0s merges it into its version 2 CRI config, where the
			// long plugin name is the one that counts.
			if err := f.readAt(2, criPlugin); err != nil {
				return err
			}
			continue
		}
		if f.ExplicitVersion > 1 {
			continue // read at its own version
		}
		var readings []importReading
		for _, l := range t.lines() {
			if l == line20to22 && files[0].ExplicitVersion <= 1 {
				continue // they ignore the whole config (v1-config-on-2x)
			}
			readings = append(readings, readImport(l, f, files[:i]))
		}
		if len(readings) == 0 {
			continue // 2.0–2.2 only, which ignore a version 1 config whole
		}
		what := "has no version line"
		if f.ExplicitVersion == 1 {
			what = "is version 1"
		}
		first := readings[0]
		agree := true
		for _, r := range readings {
			agree = agree && r.refuses == "" && r.plugin == first.plugin
		}
		if !agree {
			if len(readings) == 1 {
				return errorf(f.registryPos(), "%s refuses to start with this file, which %s: %s", first.line, what, first.refuses)
			}
			var how []string
			for _, r := range readings {
				if r.refuses != "" {
					how = append(how, fmt.Sprintf("%s refuses to start (%s)", r.line, r.refuses))
				} else {
					how = append(how, fmt.Sprintf("%s %s", r.line, r.how))
				}
			}
			return errorf(f.registryPos(), "this file %s, and containerd releases read it differently: %s; pass --containerd-version", what, strings.Join(how, "; "))
		}
		plugin := first.plugin
		version := first.version
		if plugin == "" {
			plugin = criPluginByVersion[version]
		} else if plugin != criPluginByVersion[1] {
			version = pluginVersion(plugin)
		}
		if err := f.readAt(version, plugin); err != nil {
			return err
		}
	}
	return nil
}

// registryPos is where the file's first CRI registry table is, for
// messages about how it is read.
func (f *ConfigFile) registryPos() Position {
	for _, plugin := range []string{criPluginV1Name, criPlugin, criImagesPlugin} {
		if v := f.Doc.Root.Lookup("plugins", plugin, "registry"); v != nil {
			return at(f.Path, v.Pos)
		}
	}
	return Position{File: f.Path}
}

// pluginVersion is the config version a CRI plugin key belongs to.
func pluginVersion(plugin string) int {
	for v, p := range criPluginByVersion {
		if p == plugin {
			return v
		}
	}
	return 1
}

// readImport applies one release line's rule to the version-less import f,
// which containerd loads after the files before.
func readImport(l releaseLine, f *ConfigFile, before []*ConfigFile) importReading {
	has := func(plugin string) bool { return f.Doc.Root.Lookup("plugins", plugin, "registry") != nil }
	short, long, images := criPluginV1Name, criPlugin, criImagesPlugin
	r := importReading{line: l}
	switch l {
	case line1x:
		r.version = 1
		if f.ExplicitVersion == 1 || len(before) == 0 {
			// A file of its own, or one whose version 1 overrides the
			// merged version: read at version 1.
			r.how = "reads it at version 1"
			if has(short) {
				r.plugin = short
			}
			break
		}
		for _, b := range before {
			if b.ExplicitVersion != 0 {
				r.version = b.ExplicitVersion
			}
		}
		r.how = fmt.Sprintf("reads it at version %d, the version of the config that imports it", r.version)
		if r.version >= 2 {
			if p := shortPluginKey(f); p != "" {
				r.refuses = fmt.Sprintf("it reads the file at version %d, where the plugin name %s is invalid: `invalid plugin key URI %q expect io.containerd.x.vx`; every release reads plugins.%s", r.version, tomldoc.Key(p), p, tomldoc.Key(v1PluginURI(p)))
			}
		}
		if has(criPluginByVersion[min(r.version, 3)]) {
			r.plugin = criPluginByVersion[min(r.version, 3)]
		}
	case line20to22:
		r.version = 3 // the version containerd 2 starts from
		for _, b := range before {
			if b.ExplicitVersion >= 2 {
				r.version = b.ExplicitVersion
			}
		}
		r.how = fmt.Sprintf("migrate it to version %d, the version of the config that imports it", r.version)
		switch {
		case r.version == 2 && has(long):
			r.plugin = long
		case r.version == 2 && has(short):
			r.plugin = short // renamed to the long name
		case r.version == 3 && has(images):
			r.plugin = images
		}
	case line23plus:
		r.version = 1
		r.how = "migrate it on its own from version 1"
		switch {
		case has(long):
			r.plugin = long
		case has(short):
			r.plugin = short
		case has(images):
			r.plugin = images
		}
	}
	if r.plugin != "" {
		r.how += fmt.Sprintf(", which applies its plugins.%s registry", tomldoc.Key(r.plugin))
	} else if has(short) || has(long) || has(images) {
		r.how += ", which ignores its registry table"
	}
	return r
}

// shortPluginKey returns a plugins key of f that is not a plugin URI, if
// any.
func shortPluginKey(f *ConfigFile) string {
	p := f.Doc.Root.Get("plugins")
	if p == nil || p.Kind != tomldoc.Table {
		return ""
	}
	for _, k := range p.Table.Keys {
		if !strings.HasPrefix(k, "io.containerd.") || len(strings.SplitN(k, ".", 4)) < 4 {
			return k
		}
	}
	return ""
}

// v1PluginURI is the URI containerd 2.x gives a version 1 plugin name
// (v1MigratePluginName), for messages.
func v1PluginURI(name string) string {
	if id, _ := v1PluginID(name); id != "" {
		return id
	}
	return name
}

// resolveVersion3 reads a version 3 file as the target does: 2.0–2.2 read
// its registry under the images plugin only; 2.3+ migrate every file below
// version 4, and the images plugin's migration copies a
// plugins."io.containerd.grpc.v1.cri" registry over the images plugin's
// (plugins/cri/images/plugin.go configMigration returns early only from
// version 4; seen with containerd 2.4.2).
func resolveVersion3(f *ConfigFile, t Target) error {
	long := criPlugin
	if f.Doc.Root.Lookup("plugins", long, "registry") == nil {
		return nil
	}
	old, current := false, false
	for _, l := range t.lines() {
		old = old || l == line20to22
		current = current || l == line23plus
	}
	switch {
	case old && current:
		return errorf(Position{File: f.Path}, "this version 3 config has a registry table under plugins.%s: containerd 2.0–2.2 ignore it, containerd 2.3+ apply it in place of the plugins.%s registry; pass --containerd-version", tomldoc.Key(long), tomldoc.Key(criImagesPlugin))
	case current:
		return f.readAt(3, long)
	}
	return nil
}

// checkMixedVersions refuses a chain that mixes version 2 and version 3
// files with registry tables, for a target that includes 2.0–2.2: there
// versions merge like any field (the last file's wins) and that one number
// decides whether the CRI migration runs for all files, so a version 3
// file merged after a version 2 one makes its io.containerd.grpc.v1.cri
// registry dead, and a version 2 file merged last makes the migrated grpc
// registry replace the version 3 files' images registry (LoadConfig and
// server.New, v2.0.0–v2.2.x; nutanix-cloud-native/cluster-api-runtime-
// extensions-nutanix#1613 reports the first on 2.1.6). 2.3+ read each file
// at its own version, which is how the tool reads them.
func checkMixedVersions(files []*ConfigFile, t Target) error {
	in20to22 := false
	for _, l := range t.lines() {
		in20to22 = in20to22 || l == line20to22
	}
	if !in20to22 {
		return nil
	}
	merged := 3 // the version containerd 2 starts from
	var v2, v3 []string
	for _, f := range files {
		if f.ExplicitVersion >= 2 {
			merged = f.ExplicitVersion
		}
		if f.Registry == nil || f.k0sMerged {
			continue
		}
		switch f.Version {
		case 2:
			v2 = append(v2, f.Path)
		case 3:
			v3 = append(v3, f.Path)
		}
	}
	switch {
	case len(v2) > 0 && merged == 3:
		return fmt.Errorf("%s: containerd 2.0–2.2 merge every file into one config whose version is the last file's (3 here), so they ignore the io.containerd.grpc.v1.cri registry of the version 2 files, which 2.3+ apply: pass --containerd-version, or give the files one version", strings.Join(v2, ", "))
	case len(v2) > 0 && len(v3) > 0:
		return fmt.Errorf("%s and %s: containerd 2.0–2.2 merge every file into one version 2 config and replace the version 3 files' registry with the migrated io.containerd.grpc.v1.cri one, while 2.3+ merge them key by key: pass --containerd-version, or give the files one version", strings.Join(v2, ", "), strings.Join(v3, ", "))
	}
	return nil
}

// higherVersionImport warns about an import whose version line is higher
// than the main config's, which containerd 2.3.0–2.3.4 refuse to start
// with ("drop-in config version %d higher than root config version %d";
// added by 21248d007 in v2.3.0, reverted after v2.3.4).
func (c *converter) higherVersionImport(files []*ConfigFile) {
	t := c.opts.Target
	if !t.Max.AtLeast(Release{2, 3, 0}) || t.Min.AtLeast(Release{2, 3, 5}) {
		return
	}
	root := files[0].ExplicitVersion
	for _, f := range files[1:] {
		if root != 0 && f.ExplicitVersion > root {
			c.warn(Warning{Code: WarnHigherVersionImport, Pos: Position{File: f.Path},
				Message: fmt.Sprintf("this file is version %d and the config that imports it version %d: containerd 2.3.0–2.3.4 refuse to start with it (\"drop-in config version %d higher than root config version %d\"); other releases read it", f.ExplicitVersion, root, f.ExplicitVersion, root)})
		}
	}
}
