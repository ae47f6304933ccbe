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
	doc, version, err := parseConfigTOML(path, data)
	if err != nil {
		return nil, err
	}
	f := &ConfigFile{Path: path, Doc: doc, Version: version}
	firstLine, _, _ := strings.Cut(string(data), "\n")
	f.K0sManaged = strings.TrimSpace(firstLine) == k0sManagedMarker
	if v := doc.Root.Get("imports"); v != nil {
		imports, err := stringList(path, v, "imports")
		if err != nil {
			return nil, err
		}
		for _, s := range imports {
			f.Imports = append(f.Imports, s.Value)
		}
	}
	regPath := registryPath(f.Version)
	f.DefinesCRIPlugin = doc.Root.Lookup(regPath[:2]...) != nil
	if v := doc.Root.Lookup(regPath...); v != nil {
		if f.Registry, err = parseRegistry(path, v); err != nil {
			return nil, err
		}
	}
	// Registry tables under another version's plugin key are ignored by
	// containerd; say so rather than migrate settings that never applied.
	for version, plugin := range criPluginByVersion {
		if version == f.Version {
			continue
		}
		if v := doc.Root.Lookup("plugins", plugin, "registry"); v != nil {
			f.warnings = append(f.warnings, Warning{
				Code: WarnIgnoredTable,
				Message: fmt.Sprintf("containerd ignores the registry table under plugins.%s in a version %d config (it belongs under plugins.%s); it is left as it is",
					tomldoc.Key(plugin), f.Version, tomldoc.Key(criPluginByVersion[f.Version])),
				Pos: at(path, v.Pos),
			})
		}
	}
	return f, nil
}

// parseConfigTOML parses a config file's TOML and reads its version the
// way containerd decodes it (an int field, through go-toml v1 in 1.x and
// go-toml v2 in 2.x): any TOML integer notation counts, so 0x2 is 2, and 0
// or no version means 1.
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
		return doc, 1, nil
	}
	n, err := strconv.ParseInt(v.Str, 0, 64)
	if v.Kind != tomldoc.Integer || err != nil {
		return nil, 0, errorf(at(path, v.Pos), "version must be an integer, found %s", v.Kind)
	}
	if n == 0 {
		n = 1 // containerd treats 0 (unset) as version 1
	}
	if n < 1 || n > 3 {
		return nil, 0, errorf(at(path, v.Pos), "unsupported config version %d (want 1, 2 or 3)", n)
	}
	return doc, int(n), nil
}

func parseRegistry(file string, v *tomldoc.Value) (*registryTable, error) {
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
			if r.Mirrors, err = parseMirrors(file, val); err != nil {
				return nil, err
			}
		case "configs":
			if r.Configs, err = parseConfigs(file, val); err != nil {
				return nil, err
			}
		case "auths":
			mt, err := table(file, val, "registry.auths")
			if err != nil {
				return nil, err
			}
			r.Auths = map[string]*authConfig{}
			for _, k := range mt.Keys {
				if r.Auths[k], err = parseAuth(file, mt.Fields[k], "registry.auths."+tomldoc.Key(k)); err != nil {
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
			return nil, unknownKey(file, val, "registry", key, "config_path, mirrors, configs, auths, headers")
		}
	}
	return r, nil
}

func parseMirrors(file string, v *tomldoc.Value) (map[string]*mirrorEntry, error) {
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
			return unknownKey(file, val, what, key, "endpoint")
		})
	})
	return mirrors, err
}

func parseConfigs(file string, v *tomldoc.Value) (map[string]*registryConfig, error) {
	configs := map[string]*registryConfig{}
	err := eachSubTable(file, v, "registry.configs", func(host, what string, sub *tomldoc.Value) error {
		c := &registryConfig{Pos: at(file, sub.Pos)}
		configs[host] = c
		return eachKey(sub, func(key string, val *tomldoc.Value) (err error) {
			switch key {
			case "tls":
				c.TLS, err = parseTLS(file, val, what+".tls")
				return err
			case "auth":
				c.Auth, err = parseAuth(file, val, what+".auth")
				return err
			}
			return unknownKey(file, val, what, key, "tls, auth")
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

func parseTLS(file string, v *tomldoc.Value, what string) (*tlsConfig, error) {
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
			return nil, unknownKey(file, val, what, key, "ca_file, cert_file, key_file, insecure_skip_verify")
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

func parseAuth(file string, v *tomldoc.Value, what string) (*authConfig, error) {
	t, err := table(file, v, what)
	if err != nil {
		return nil, err
	}
	a := &authConfig{Pos: at(file, v.Pos)}
	for _, key := range t.Keys {
		val := t.Fields[key]
		dst := a.field(key, "identitytoken")
		if dst == nil {
			return nil, unknownKey(file, val, what, key, "username, password, auth, identitytoken")
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

func unknownKey(file string, v *tomldoc.Value, what, key, known string) error {
	return errorf(at(file, v.Pos), "unknown key %s in %s (containerd ignores it; known keys: %s)", tomldoc.Key(key), what, known)
}

// sortedKeys returns a map's keys in order, for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
