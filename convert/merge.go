package convert

import (
	"fmt"
	"sort"
	"strings"
)

// mergedSettings are the registry settings in effect for a set of config
// files merged the way containerd merges `imports` (docs/semantics.md §2.4):
// containerd 1.x replaces a plugin's whole table with the one from the
// file merged last; 2.x merges plugin tables key by key, the later file
// winning.
type mergedSettings struct {
	reg *registryTable
	// live are the files whose registry settings are in effect and are
	// therefore edited.
	live []*ConfigFile
	// configPathFile is the file that gets config_path.
	configPathFile *ConfigFile
	// shadowed are files whose registry settings another file replaces.
	shadowed []*ConfigFile
}

// merge1x applies containerd 1.x's rule.
func merge1x(files []*ConfigFile) mergedSettings {
	var owner *ConfigFile
	for _, f := range files {
		if f.DefinesCRIPlugin {
			owner = f
		}
	}
	e := mergedSettings{reg: &registryTable{}}
	for _, f := range files {
		if f.Registry != nil && f != owner {
			e.shadowed = append(e.shadowed, f)
		}
	}
	if owner != nil && owner.Registry != nil {
		e.reg = owner.Registry
		e.live = []*ConfigFile{owner}
		e.configPathFile = owner
	}
	return e
}

// merge2x applies containerd 2.x's rule, per registry entry.
func merge2x(files []*ConfigFile) mergedSettings {
	e := mergedSettings{reg: &registryTable{Mirrors: map[string]*mirrorEntry{}, Configs: map[string]*registryConfig{}, Auths: map[string]*authConfig{}}}
	for _, f := range files {
		r := f.Registry
		if r == nil {
			continue
		}
		e.live = append(e.live, f)
		if e.reg.Pos.File == "" {
			e.reg.Pos = r.Pos
		}
		if r.ConfigPath != nil {
			e.reg.ConfigPath = r.ConfigPath
			e.configPathFile = f
		}
		for ns, m := range r.Mirrors {
			e.reg.Mirrors[ns] = m
		}
		for h, c := range r.Configs {
			merged := &registryConfig{Pos: c.Pos}
			if prev := e.reg.Configs[h]; prev != nil {
				*merged = *prev
			}
			if c.TLS != nil {
				merged.TLS = c.TLS
			}
			if c.Auth != nil {
				merged.Auth = c.Auth
			}
			e.reg.Configs[h] = merged
		}
		for u, a := range r.Auths {
			e.reg.Auths[u] = a
		}
		e.reg.Headers = e.reg.Headers || r.Headers
	}
	if e.configPathFile == nil && len(e.live) > 0 {
		e.configPathFile = e.live[len(e.live)-1]
	}
	return e
}

// fingerprint renders the settings without positions, to compare merges.
func (r *registryTable) fingerprint() string {
	var b strings.Builder
	if r.ConfigPath != nil {
		fmt.Fprintf(&b, "config_path=%q\n", r.ConfigPath.Value)
	}
	for _, ns := range sortedKeys(r.Mirrors) {
		fmt.Fprintf(&b, "mirror %q:", ns)
		for _, ep := range r.Mirrors[ns].Endpoints {
			fmt.Fprintf(&b, " %q", ep.Value)
		}
		b.WriteString("\n")
	}
	for _, h := range sortedKeys(r.Configs) {
		c := r.Configs[h]
		if t := c.TLS; t != nil {
			fmt.Fprintf(&b, "tls %q: %s %s %s %v\n", h, sv(t.CAFile), sv(t.CertFile), sv(t.KeyFile), t.InsecureSkipVerify)
		}
		if a := c.Auth; a != nil {
			fmt.Fprintf(&b, "auth %q: %q %q %q %q\n", h, a.Username, a.Password, a.Auth, a.IdentityToken)
		}
	}
	for _, u := range sortedKeys(r.Auths) {
		a := r.Auths[u]
		fmt.Fprintf(&b, "auths %q: %q %q %q %q\n", u, a.Username, a.Password, a.Auth, a.IdentityToken)
	}
	fmt.Fprintf(&b, "headers=%v\n", r.Headers)
	return b.String()
}

func sv(s *stringSetting) string {
	if s == nil {
		return `""`
	}
	return fmt.Sprintf("%q", s.Value)
}

// mergeFiles picks the merge rule of the target. When the target spans 1.x
// and 2.x and the two rules disagree, the user must say which one applies.
func mergeFiles(files []*ConfigFile, target Target) (mergedSettings, error) {
	for _, f := range files {
		if f.k0sMerged {
			// k0s (before 1.36) merges these drop-ins key by key into
			// one CRI config of its own, whatever containerd's rule.
			return merge2x(files), nil
		}
	}
	if !target.includes2x() {
		return merge1x(files), nil
	}
	e2 := merge2x(files)
	if !target.includes1x() {
		return e2, nil
	}
	e1 := merge1x(files)
	if e1.reg.fingerprint() != e2.reg.fingerprint() {
		var names []string
		for _, f := range files {
			if f.Registry != nil || f.DefinesCRIPlugin {
				names = append(names, f.Path)
			}
		}
		sort.Strings(names)
		return mergedSettings{}, fmt.Errorf("the CRI registry settings span %s, and containerd 1.x (a later file replaces the whole CRI plugin table) and 2.x (tables merge key by key) read them differently: pass --containerd-version", strings.Join(names, ", "))
	}
	return e2, nil
}
