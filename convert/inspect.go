package convert

import (
	"path"
	"sort"
)

// A read-only summary of a node's registry settings for `certsd-migrate
// check` (package diagnose), so that it reads the node with the same
// parser and merge rules as the migration rather than a second set.

// Setting is a key or value found in a config file, and where.
type Setting struct {
	Value string
	Pos   Position
}

// RegistrySummary is the registry table containerd reads from a set of
// config files merged as the target merges imports.
type RegistrySummary struct {
	// Pos is where the (first) registry table is; empty if there is none.
	Pos        Position
	ConfigPath *Setting
	// Mirrors are the mirrors keys (namespaces), sorted.
	Mirrors []Setting
	// TLS are the configs keys with a tls table (Pos: the table), sorted.
	TLS []Setting
	// Auth are the configs keys with credentials, and Auths the auths keys.
	Auth, Auths []Setting
	// Shadowed are config files whose registry table containerd 1.x never
	// reads (a later file replaces the whole CRI plugin table).
	Shadowed []Setting
	// LocalPull is set when a file sets use_local_image_pull = true in the
	// CRI image table: containerd 2.1+ then pulls without the transfer
	// service.
	LocalPull *Setting
}

// SummarizeRegistry merges files, in containerd's load order, as the target
// does; an error when the target spans 1.x and 2.x and their merge rules
// disagree.
func SummarizeRegistry(files []*ConfigFile, target Target) (*RegistrySummary, error) {
	target = target.OrDefault()
	e, err := mergeFiles(files, target)
	if err != nil {
		return nil, err
	}
	r := e.reg
	s := &RegistrySummary{Pos: r.Pos}
	if r.ConfigPath != nil {
		s.ConfigPath = &Setting{Value: r.ConfigPath.Value, Pos: r.ConfigPath.Pos}
	}
	for _, ns := range sortedKeys(r.Mirrors) {
		s.Mirrors = append(s.Mirrors, Setting{Value: ns, Pos: r.Mirrors[ns].Pos})
	}
	for _, h := range sortedKeys(r.Configs) {
		c := r.Configs[h]
		if c.TLS != nil {
			s.TLS = append(s.TLS, Setting{Value: h, Pos: c.TLS.Pos})
		}
		if c.Auth != nil {
			s.Auth = append(s.Auth, Setting{Value: h, Pos: c.Auth.Pos})
		}
	}
	for _, u := range sortedKeys(r.Auths) {
		s.Auths = append(s.Auths, Setting{Value: u, Pos: r.Auths[u].Pos})
	}
	for _, f := range e.shadowed {
		s.Shadowed = append(s.Shadowed, Setting{Value: f.Path, Pos: f.Registry.Pos})
	}
	sort.Slice(s.Shadowed, func(i, j int) bool { return s.Shadowed[i].Value < s.Shadowed[j].Value })
	for _, f := range files {
		if v := f.Doc.Root.Lookup("plugins", criPluginByVersion[f.Version], "use_local_image_pull"); v != nil && v.Bool {
			s.LocalPull = &Setting{Value: "use_local_image_pull", Pos: at(f.Path, v.Pos)}
		}
	}
	return s, nil
}

// Notices are what parsing found that containerd ignores (registry tables
// under another config version's plugin key).
func (f *ConfigFile) Notices() []Warning { return append(f.ignoredTables(), f.inert...) }

// NamesGRPCCRIPlugin reports that the file has a table for the
// io.containerd.grpc.v1.cri plugin, which k0s 1.36 refuses in drop-ins.
func (f *ConfigFile) NamesGRPCCRIPlugin() bool {
	return f.Doc.Root.Lookup("plugins", criPluginByVersion[2]) != nil
}

// CRIPluginName is the plugin that holds the registry table in a config
// of the given version.
func CRIPluginName(version int) string { return criPluginByVersion[version] }

// UnconfiguredCertsDir is where hosts.toml files are expected when the
// config sets no config_path (certsDir's rule): k0s's directory on a k0s
// node (main is k0s's generated config or one of its drop-ins), else
// DefaultCertsDir. main is nil on a node without a config file.
func UnconfiguredCertsDir(main *ConfigFile) (dir string, k0s bool) {
	if main != nil && (main.K0sManaged || path.Dir(main.Path) == k0sDropInDir) {
		return k0sCertsDir, true
	}
	return DefaultCertsDir, false
}
