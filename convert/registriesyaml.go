package convert

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// ParseRegistries parses a registries.yaml.
func ParseRegistries(path string, data []byte) (*RegistriesFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %w", path, err)
	}
	p := yamlParser{file: path}
	rf := &RegistriesFile{Path: path, Mirrors: map[string]*yamlMirror{}, Configs: map[string]*registryConfig{}}
	if len(doc.Content) == 0 {
		return rf, nil // an empty file, as k3s reads a missing one
	}
	err := p.mapping(doc.Content[0], "registries.yaml", func(key string, k, v *yaml.Node) error {
		switch key {
		case "mirrors":
			return p.mapping(v, "mirrors", func(ns string, k, v *yaml.Node) error {
				if p.misplacedSection(ns, k, v) {
					return nil
				}
				m, err := p.mirror(v, "mirrors."+quoteKey(ns))
				if err != nil {
					return err
				}
				m.Pos = p.pos(k)
				rf.Mirrors[ns] = m
				return nil
			})
		case "configs":
			return p.mapping(v, "configs", func(host string, k, v *yaml.Node) error {
				c, err := p.config(v, "configs."+quoteKey(host))
				if err != nil {
					return err
				}
				c.Pos = p.pos(k)
				rf.Configs[host] = c
				return nil
			})
		case "auths":
			pos := p.pos(k)
			rf.Auths = &pos
			return nil
		}
		return p.unknown(k, "registries.yaml", "mirrors, configs, auths")
	})
	if err != nil {
		return nil, err
	}
	rf.Warnings = p.warnings
	return rf, nil
}

type yamlParser struct {
	file string
	// warnings are about keys k3s ignores.
	warnings []Warning
}

// yamlKeyPath names key in the mapping what, for messages.
func yamlKeyPath(what, key string) string {
	if what == "registries.yaml" {
		return fmt.Sprintf("the top-level key %s", quoteKey(key))
	}
	return what + "." + quoteKey(key)
}

func (p *yamlParser) pos(n *yaml.Node) Position {
	return Position{File: p.file, Line: n.Line, Col: n.Column}
}

// unknown records a key k3s ignores (its YAML decoder is not strict) as a
// warning, with the key that was probably meant; it never stops the run.
func (p *yamlParser) unknown(k *yaml.Node, what, known string) error {
	hint := "known keys: " + known
	switch {
	case what == `mirrors."configs"` || what == `mirrors."mirrors"`:
		name := strings.TrimPrefix(what, "mirrors.")
		hint = fmt.Sprintf("%s looks indented one level too deep: k3s reads it as a mirror named %s, which does nothing", name, name)
	default:
		if near := didYouMean(k.Value, strings.Split(known, ", ")); near != "" {
			hint = "did you mean " + near
		}
	}
	p.warnings = append(p.warnings, Warning{Code: WarnInertKey, Pos: p.pos(k),
		Message: fmt.Sprintf("%s is not a registries.yaml setting and never took effect (k3s ignores it): %s", yamlKeyPath(what, k.Value), hint)})
	return nil
}

func (p *yamlParser) typeError(n *yaml.Node, what, want string) error {
	got := strings.TrimPrefix(n.Tag, "!!")
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	}
	return errorf(p.pos(n), "%s must be %s, found %s", what, want, got)
}

// mapping calls fn for each key of a mapping node, in order; a null node
// is an empty mapping. Duplicate keys are errors.
func (p *yamlParser) mapping(n *yaml.Node, what string, fn func(key string, k, v *yaml.Node) error) error {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return p.typeError(n, what, "a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			return p.typeError(k, what+" key", "a string")
		}
		if seen[k.Value] {
			return errorf(p.pos(k), "%s: key %q appears twice", what, k.Value)
		}
		seen[k.Value] = true
		if err := fn(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// misplacedSection reports, with a warning, a mirrors key named configs
// or mirrors whose entries are not mirror settings: a section indented one
// level too deep (k3s#10135), which k3s reads as a mirror that does nothing.
func (p *yamlParser) misplacedSection(ns string, k, v *yaml.Node) bool {
	if ns != "configs" && ns != "mirrors" {
		return false
	}
	v = resolveAlias(v)
	if v.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		if key := v.Content[i].Value; key == "endpoint" || key == "rewrite" {
			return false
		}
	}
	p.warnings = append(p.warnings, Warning{Code: WarnInertKey, Pos: p.pos(k),
		Message: fmt.Sprintf("mirrors.%s looks like the top-level %s section indented one level too deep: k3s reads it as a mirror named %q with no endpoints, so none of its settings ever applied; they are not carried over (did you mean a top-level %s?)", ns, ns, ns, ns)})
	return true
}

// optionalStr reads a string setting as k3s does, decoding YAML into a Go
// string: null (a key with nothing after it) is "", no setting.
func (p *yamlParser) optionalStr(n *yaml.Node, what string) (stringSetting, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return stringSetting{Pos: p.pos(n)}, nil
	}
	return p.str(n, what)
}

func (p *yamlParser) str(n *yaml.Node, what string) (stringSetting, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return stringSetting{}, p.typeError(n, what, "a string")
	}
	return stringSetting{Value: n.Value, Pos: p.pos(n)}, nil
}

func (p *yamlParser) mirror(n *yaml.Node, what string) (*yamlMirror, error) {
	m := &yamlMirror{}
	err := p.mapping(n, what, func(key string, k, v *yaml.Node) error {
		switch key {
		case "endpoint":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return nil
			}
			if v.Kind != yaml.SequenceNode {
				return p.typeError(v, what+".endpoint", "a list of URLs")
			}
			for _, item := range v.Content {
				s, err := p.str(resolveAlias(item), what+".endpoint item")
				if err != nil {
					return err
				}
				m.Endpoints = append(m.Endpoints, s)
			}
			return nil
		case "rewrite":
			return p.mapping(v, what+".rewrite", func(pattern string, k, v *yaml.Node) error {
				repl, err := p.str(v, what+".rewrite."+quoteKey(pattern))
				if err != nil {
					return err
				}
				m.Rewrites = append(m.Rewrites, rewriteRule{Pattern: stringSetting{Value: pattern, Pos: p.pos(k)}, Replacement: repl})
				return nil
			})
		}
		return p.unknown(k, what, "endpoint, rewrite")
	})
	return m, err
}

func (p *yamlParser) config(n *yaml.Node, what string) (*registryConfig, error) {
	c := &registryConfig{}
	err := p.mapping(n, what, func(key string, k, v *yaml.Node) error {
		switch key {
		case "auth":
			a := &authConfig{Pos: p.pos(k)}
			c.Auth = a
			return p.mapping(v, what+".auth", func(key string, k, v *yaml.Node) error {
				dst := a.field(key, "identity_token")
				if dst == nil {
					return p.unknown(k, what+".auth", "username, password, auth, identity_token")
				}
				s, err := p.optionalStr(v, what+".auth."+key)
				*dst = s.Value
				return err
			})
		case "tls":
			t := &tlsConfig{Pos: p.pos(k)}
			c.TLS = t
			return p.mapping(v, what+".tls", func(key string, k, v *yaml.Node) error {
				switch key {
				case "ca_file", "cert_file", "key_file":
					s, err := p.optionalStr(v, what+".tls."+key)
					if err != nil || s.Value == "" {
						return err
					}
					*t.file(key) = &s
					return nil
				case "insecure_skip_verify":
					b, ok := yaml11Bool(v)
					if !ok {
						return p.typeError(v, what+".tls.insecure_skip_verify", "a boolean")
					}
					t.InsecureSkipVerify, t.skipVerifyPos = b, p.pos(k)
					return nil
				}
				return p.unknown(k, what+".tls", "ca_file, cert_file, key_file, insecure_skip_verify")
			})
		}
		return p.unknown(k, what, "auth, tls")
	})
	return c, err
}

// yaml11Bool reads a boolean as k3s's YAML 1.1 decoder (yaml.v2) does.
func yaml11Bool(n *yaml.Node) (value, ok bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!bool" && n.Tag != "!!str") || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return false, false
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on", "y":
		return true, true
	case "false", "no", "off", "n":
		return false, true
	}
	return false, false
}
