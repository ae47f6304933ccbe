package convert

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// ParseConfig parses one containerd config file. path is the file's path
// on the node; it is used in messages only.
func ParseConfig(path string, data []byte) (*ConfigFile, error) {
	doc, versionLine, err := parseConfigTOML(path, data)
	if err != nil {
		return nil, err
	}
	f := &ConfigFile{Path: path, Doc: doc, Version: max(versionLine, 1), ExplicitVersion: versionLine}
	f.K0sManaged = isK0sManaged(data)
	if v := doc.Root.Get("imports"); v != nil {
		imports, err := stringList(path, v, "imports")
		if err != nil {
			return nil, err
		}
		for _, s := range imports {
			f.Imports = append(f.Imports, s.Value)
		}
	}
	if err := f.readAt(f.Version, criPluginByVersion[f.Version]); err != nil {
		return nil, err
	}
	return f, nil
}

// isK0sManaged reports k0s's generated config as k0s itself tells it
// (isK0sManagedConfig, pkg/component/worker/containerd, v1.30–v1.35): a
// line that is exactly the marker; k0s before 1.30 wrote an empty line
// before it.
func isK0sManaged(data []byte) bool {
	for line := range strings.Lines(string(data)) {
		if strings.TrimRight(line, "\r\n") == k0sManagedMarker {
			return true
		}
	}
	return false
}

// MarkK0sMerged marks a drop-in of a k0s node before 1.36 that k0s merges
// into its own CRI config instead of letting containerd import it: one
// with a plugins."io.containerd.grpc.v1.cri" table (hasCRIPluginConfig,
// k0s pkg/component/worker/containerd/configurer.go, v1.27.5–v1.35). It
// reports whether the file is one.
func (f *ConfigFile) MarkK0sMerged() bool {
	f.k0sMerged = f.Doc.Root.Lookup("plugins", criPlugin) != nil
	return f.k0sMerged
}

// readAt reads the file's registry settings as containerd reads them when
// the file is at config version version and the registry lives under
// plugins.<plugin>, the key as written (a version-less import that 2.x
// reads keeps its short name cri, which 2.x renames).
func (f *ConfigFile) readAt(version int, plugin string) error {
	f.Version, f.regPlugin = version, plugin
	f.Registry, f.inert = nil, nil
	f.DefinesCRIPlugin = f.Doc.Root.Lookup("plugins", plugin) != nil
	if v := f.Doc.Root.Lookup("plugins", plugin, "registry"); v != nil {
		var err error
		if f.Registry, err = parseRegistry(f.Path, v, &f.inert); err != nil {
			return err
		}
	}
	return nil
}

// ignoredTables warns about the registry tables under a plugin key
// containerd does not read the registry from in this file: say so rather
// than migrate settings that never applied.
func (f *ConfigFile) ignoredTables() []Warning {
	var out []Warning
	for _, version := range []int{1, 2, 3} {
		plugin := criPluginByVersion[version]
		v := f.Doc.Root.Lookup("plugins", plugin, "registry")
		if plugin == f.regPlugin || v == nil {
			continue
		}
		var msg string
		switch {
		case f.Version == 3 && f.regPlugin != criImagesPlugin:
			msg = fmt.Sprintf("containerd 2.3+ ignore the registry table under plugins.%s in this version 3 config: their migration copies the plugins.%s registry over it; it is left as it is", tomldoc.Key(plugin), tomldoc.Key(f.regPlugin))
		case f.ExplicitVersion == 0 && f.imported:
			msg = fmt.Sprintf("containerd ignores the registry table under plugins.%s in this file: it has no version line, and containerd reads it as version %d, where the registry belongs under plugins.%s; it is left as it is", tomldoc.Key(plugin), f.Version, tomldoc.Key(criPluginByVersion[f.Version]))
		default:
			msg = fmt.Sprintf("containerd ignores the registry table under plugins.%s in a version %d config (it belongs under plugins.%s); it is left as it is",
				tomldoc.Key(plugin), f.Version, tomldoc.Key(criPluginByVersion[f.Version]))
		}
		out = append(out, Warning{Code: WarnIgnoredTable, Message: msg, Pos: at(f.Path, v.Pos)})
	}
	return out
}

// parseConfigTOML parses a config file's TOML and reads its version line
// the way containerd decodes it (an int field, through go-toml v1 in 1.x
// and go-toml v2 in 2.x): any TOML integer notation counts, so 0x2 is 2.
// It returns 0 for no version line (or version = 0), which containerd
// reads as version 1 in a file of its own, and as another file's version
// in an import (see fileversion.go).
func parseConfigTOML(path string, data []byte) (*tomldoc.Doc, int, error) {
	doc, err := tomldoc.Parse(data)
	if err != nil {
		if se, ok := err.(*tomldoc.SyntaxError); ok {
			return nil, 0, errorf(at(path, se.Pos), "invalid TOML: %s", se.Msg)
		}
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	v := doc.Root.Get("version")
	if v == nil {
		return doc, 0, nil
	}
	n, err := strconv.ParseInt(v.Str, 0, 64)
	if v.Kind != tomldoc.Integer || err != nil {
		return nil, 0, errorf(at(path, v.Pos), "version must be an integer, found %s", v.Kind)
	}
	if n < 0 || n > 3 {
		return nil, 0, errorf(at(path, v.Pos), "unsupported config version %d (want 1, 2 or 3)", n)
	}
	return doc, int(n), nil
}

func parseRegistry(file string, v *tomldoc.Value, w *[]Warning) (*registryTable, error) {
	t, err := table(file, v, "registry")
	if err != nil {
		return nil, err
	}
	r := &registryTable{Pos: at(file, v.Pos)}
	for _, key := range t.Keys {
		val := t.Fields[key]
		switch key {
		case "config_path":
			s, err := str(file, val, "registry.config_path")
			if err != nil {
				return nil, err
			}
			r.ConfigPath = &s
		case "mirrors":
			if r.Mirrors, err = parseMirrors(file, val, w); err != nil {
				return nil, err
			}
		case "configs":
			if r.Configs, err = parseConfigs(file, val, w); err != nil {
				return nil, err
			}
		case "auths":
			mt, err := table(file, val, "registry.auths")
			if err != nil {
				return nil, err
			}
			r.Auths = map[string]*authConfig{}
			for _, k := range mt.Keys {
				if r.Auths[k], err = parseAuth(file, mt.Fields[k], "registry.auths."+tomldoc.Key(k), w); err != nil {
					return nil, err
				}
			}
		case "headers":
			ht, err := table(file, val, "registry.headers")
			if err != nil {
				return nil, err
			}
			for _, k := range ht.Keys {
				if _, err := stringList(file, ht.Fields[k], "registry.headers."+tomldoc.Key(k)); err != nil {
					return nil, err
				}
			}
			r.Headers = len(ht.Keys) > 0
		default:
			inertKey(w, file, val, "registry", key, "config_path, mirrors, configs, auths, headers")
		}
	}
	return r, nil
}

func parseMirrors(file string, v *tomldoc.Value, w *[]Warning) (map[string]*mirrorEntry, error) {
	mirrors := map[string]*mirrorEntry{}
	err := eachSubTable(file, v, "registry.mirrors", func(ns, what string, sub *tomldoc.Value) error {
		m := &mirrorEntry{Pos: at(file, sub.Pos)}
		mirrors[ns] = m
		return eachKey(sub, func(key string, val *tomldoc.Value) (err error) {
			switch key {
			case "endpoint":
				m.Endpoints, err = stringList(file, val, what+".endpoint")
				return err
			case "rewrite":
				return errorf(at(file, val.Pos),
					"%s.rewrite is a k3s/RKE2 setting that upstream containerd ignores; it has no hosts.toml equivalent: remove it, or express the rewrite as an endpoint path", what)
			}
			inertKey(w, file, val, what, key, "endpoint")
			return nil
		})
	})
	return mirrors, err
}

func parseConfigs(file string, v *tomldoc.Value, w *[]Warning) (map[string]*registryConfig, error) {
	configs := map[string]*registryConfig{}
	err := eachSubTable(file, v, "registry.configs", func(host, what string, sub *tomldoc.Value) error {
		c := &registryConfig{Pos: at(file, sub.Pos)}
		configs[host] = c
		return eachKey(sub, func(key string, val *tomldoc.Value) (err error) {
			switch key {
			case "tls":
				c.TLS, err = parseTLS(file, val, what+".tls", w)
				return err
			case "auth":
				c.Auth, err = parseAuth(file, val, what+".auth", w)
				return err
			}
			inertKey(w, file, val, what, key, "tls, auth")
			return nil
		})
	})
	return configs, err
}

// eachSubTable calls fn, in file order, for each entry of the table v
// (what names it in messages), which must be a table too; fn gets the
// entry's key and its name in messages.
func eachSubTable(file string, v *tomldoc.Value, what string, fn func(key, what string, sub *tomldoc.Value) error) error {
	t, err := table(file, v, what)
	if err != nil {
		return err
	}
	for _, key := range t.Keys {
		sub := t.Fields[key]
		subWhat := what + "." + tomldoc.Key(key)
		if _, err := table(file, sub, subWhat); err != nil {
			return err
		}
		if err := fn(key, subWhat, sub); err != nil {
			return err
		}
	}
	return nil
}

// eachKey calls fn for each key of the table v, in file order.
func eachKey(v *tomldoc.Value, fn func(key string, val *tomldoc.Value) error) error {
	for _, key := range v.Table.Keys {
		if err := fn(key, v.Table.Fields[key]); err != nil {
			return err
		}
	}
	return nil
}

func parseTLS(file string, v *tomldoc.Value, what string, w *[]Warning) (*tlsConfig, error) {
	t, err := table(file, v, what)
	if err != nil {
		return nil, err
	}
	tls := &tlsConfig{Pos: at(file, v.Pos)}
	for _, key := range t.Keys {
		val := t.Fields[key]
		switch key {
		case "ca_file", "cert_file", "key_file":
			s, err := str(file, val, what+"."+key)
			if err != nil {
				return nil, err
			}
			if s.Value != "" { // containerd treats an empty path as unset
				*tls.file(key) = &s
			}
		case "insecure_skip_verify":
			if val.Kind != tomldoc.Bool {
				return nil, typeError(file, val, what+"."+key, "a boolean")
			}
			tls.InsecureSkipVerify = val.Bool
		default:
			inertKey(w, file, val, what, key, "ca_file, cert_file, key_file, insecure_skip_verify")
		}
	}
	// containerd's getTLSConfig fails every pull through such a host.
	if tls.CertFile != nil && tls.KeyFile == nil {
		return nil, errorf(tls.CertFile.Pos, "%s.cert_file is set without key_file; containerd fails every pull through this host", what)
	}
	if tls.KeyFile != nil && tls.CertFile == nil {
		return nil, errorf(tls.KeyFile.Pos, "%s.key_file is set without cert_file; containerd fails every pull through this host", what)
	}
	return tls, nil
}

func parseAuth(file string, v *tomldoc.Value, what string, w *[]Warning) (*authConfig, error) {
	t, err := table(file, v, what)
	if err != nil {
		return nil, err
	}
	a := &authConfig{Pos: at(file, v.Pos)}
	for _, key := range t.Keys {
		val := t.Fields[key]
		dst := a.field(key, "identitytoken")
		if dst == nil {
			inertKey(w, file, val, what, key, "username, password, auth, identitytoken")
			continue
		}
		s, err := str(file, val, what+"."+key)
		if err != nil {
			return nil, err
		}
		*dst = s.Value
	}
	return a, nil
}

func table(file string, v *tomldoc.Value, what string) (*tomldoc.Tab, error) {
	if v.Kind != tomldoc.Table {
		return nil, typeError(file, v, what, "a table")
	}
	return v.Table, nil
}

func str(file string, v *tomldoc.Value, what string) (stringSetting, error) {
	if v.Kind != tomldoc.String {
		return stringSetting{}, typeError(file, v, what, "a string")
	}
	return stringSetting{Value: v.Str, Pos: at(file, v.Pos)}, nil
}

func stringList(file string, v *tomldoc.Value, what string) ([]stringSetting, error) {
	if v.Kind != tomldoc.Array {
		return nil, typeError(file, v, what, "an array of strings")
	}
	out := make([]stringSetting, 0, len(v.Items))
	for _, item := range v.Items {
		s, err := str(file, item, what+" item")
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func typeError(file string, v *tomldoc.Value, what, want string) error {
	return errorf(at(file, v.Pos), "%s must be %s, found %s", what, want, v.Kind)
}

// sortedKeys returns a map's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
