// Package convert turns containerd's deprecated CRI registry settings
// (mirrors, configs.*.tls, configs.*.auth, auths) into hosts.toml files for
// config_path and a trimmed config.toml. It does no I/O: bytes in, bytes
// out, with every rule traceable to the semantics reference in
// shared/research/containerd-semantics.md (§ numbers in comments).
package convert

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// AuthMode says where legacy credentials go.
type AuthMode string

const (
	// AuthKeep leaves configs.*.auth in config.toml, where containerd reads
	// it beside config_path, and folds auths into it.
	AuthKeep AuthMode = "keep"
	// AuthHeader writes a static Authorization header into hosts.toml.
	AuthHeader AuthMode = "header"
)

// DefaultCertsDir is the conventional config_path.
const DefaultCertsDir = "/etc/containerd/certs.d"

// Options control a conversion.
type Options struct {
	// CertsDir is the config_path directory; "" means the config's own
	// config_path, or DefaultCertsDir.
	CertsDir string
	Auth     AuthMode
	Target   Target
	// Flavor is the containerd reading a converted registries.yaml.
	Flavor Flavor
	// RewriteToPath turns registries.yaml rewrites that only add a
	// repository prefix into endpoint paths.
	RewriteToPath bool
}

// Result is what a conversion produces.
type Result struct {
	// CertsDir is the config_path directory the hosts files go into.
	CertsDir string
	Hosts    []*HostsFile
	// Configs are the edited config files, in load order.
	Configs  []ConfigEdit
	Warnings []Warning
	// TLSFiles are the certificate files the hosts files name; the caller
	// checks them, since containerd fails pulls on a bad one in hosts mode.
	TLSFiles []TLSFile
}

// ConfigEdit is a config file and its new content.
type ConfigEdit struct {
	Path          string
	Before, After []byte
}

// TLSFile is a certificate file a hosts file refers to.
type TLSFile struct {
	Path string
	Role string // "ca", "cert" or "key"
	Pos  Position
}

type converter struct {
	opts     Options
	reg      *Registry
	auth     map[string]*hostAuth // effective credentials per configs key
	warnings []Warning
	seen     map[string]bool // warnings already given
	tlsFiles map[string]TLSFile
}

// hostAuth is one host's credentials after auths were folded into configs.
type hostAuth struct {
	*Auth
	fromAuths string // the auths key it came from, if any
	header    string // the Authorization value, when turned into a header
}

// Convert converts the registry settings of files, given in containerd's
// load order (the main config first, then its imports).
func Convert(files []*ConfigFile, opts Options) (*Result, error) {
	if opts.Auth == "" {
		opts.Auth = AuthKeep
	}
	if opts.Target == (Target{}) {
		opts.Target = DefaultTarget
	}
	c := &converter{opts: opts, seen: map[string]bool{}, tlsFiles: map[string]TLSFile{}}
	for _, f := range files {
		for _, w := range f.warnings {
			c.warn(w)
		}
	}
	if err := c.checkVersions(files); err != nil {
		return nil, err
	}
	eff, err := mergeFiles(files, c.opts.Target)
	if err != nil {
		return nil, err
	}
	for _, f := range eff.shadowed {
		c.warn(Warning{Code: WarnShadowedByImport, Pos: f.Registry.Pos,
			Message: "containerd 1.x ignores this registry table: a later file replaces the whole CRI plugin table; it is left as it is, but containerd 2.x would read it"})
	}
	c.reg = eff.reg
	res := &Result{}
	if !c.needsMigration() {
		// Nothing to do, nothing to say: a migrated node stays quiet, so
		// that diff after apply prints nothing.
		return res, nil
	}
	res.CertsDir = c.certsDir()
	if err := c.foldAuths(); err != nil {
		return nil, err
	}
	if res.Hosts, err = c.hostsFiles(eff.configPathFile.Path); err != nil {
		return nil, err
	}
	for _, f := range eff.live {
		spec := c.trimSpec(f, f == eff.configPathFile, res.CertsDir)
		after, err := trimConfig(f, spec)
		if err != nil {
			return nil, err
		}
		res.Configs = append(res.Configs, ConfigEdit{Path: f.Path, Before: f.Doc.Data, After: after})
	}
	if err := c.versionGates(res); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(c.tlsFiles) {
		res.TLSFiles = append(res.TLSFiles, c.tlsFiles[k])
	}
	res.Warnings = c.warnings
	return res, nil
}

func (c *converter) warn(w Warning) {
	key := w.Code + "\x00" + w.Pos.String() + "\x00" + w.Message
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	c.warnings = append(c.warnings, w)
}

// needsMigration reports whether any deprecated setting must move.
func (c *converter) needsMigration() bool {
	r := c.reg
	if len(r.Mirrors) > 0 {
		return true
	}
	for _, cfg := range r.Configs {
		if cfg.TLS != nil {
			return true
		}
		if cfg.Auth != nil && c.opts.Auth == AuthHeader {
			return true
		}
	}
	return len(r.Auths) > 0
}

func (c *converter) certsDir() string {
	if c.opts.CertsDir != "" {
		return c.opts.CertsDir
	}
	if cp := c.reg.ConfigPath; cp != nil && cp.Value != "" {
		dirs := filepath.SplitList(cp.Value)
		if len(dirs) > 1 {
			c.warn(Warning{Code: WarnConfigPathList, Pos: cp.Pos,
				Message: fmt.Sprintf("config_path %q lists several directories; containerd 2.1+ pulls read it as one path, so it becomes %q (pass --certs-dir to choose)", cp.Value, dirs[0])})
		}
		if dirs[0] != "" {
			return dirs[0]
		}
	}
	return DefaultCertsDir
}

// foldAuths applies containerd's own auths → configs conversion (§2.3) and
// decides, per host, whether credentials stay or become a header.
func (c *converter) foldAuths() error {
	c.auth = map[string]*hostAuth{}
	for _, h := range sortedKeys(c.reg.Configs) {
		if a := c.reg.Configs[h].Auth; a != nil {
			c.auth[h] = &hostAuth{Auth: a}
		}
	}
	for _, raw := range sortedKeys(c.reg.Auths) {
		a := c.reg.Auths[raw]
		u, err := url.Parse(raw)
		if err != nil {
			return errorf(a.Pos, "auths key %q is not a URL (%v): containerd refuses to load the CRI plugin with it; fix the key, e.g. https://%s", raw, unwrapURLError(err), raw)
		}
		key := raw
		if u.Scheme != "" {
			key = u.Host
		}
		if key == "" {
			c.warn(Warning{Code: WarnAuthsDeadKey, Pos: a.Pos,
				Message: fmt.Sprintf("auths key %q never matched any host (containerd reads a scheme-less host:port as a URL scheme); it is left as it is: rewrite it as configs.%s.auth to use it", raw, quoteKey(strings.TrimSuffix(raw, "/")))})
			continue
		}
		c.auth[key] = &hostAuth{Auth: a, fromAuths: raw}
	}
	if c.opts.Auth != AuthHeader {
		return nil
	}
	for _, h := range sortedKeys(c.auth) {
		ha := c.auth[h]
		v, err := basicAuth(ha.Auth)
		if err != nil {
			return err
		}
		if v == "" {
			c.warn(Warning{Code: WarnIdentityToken, Pos: ha.Pos,
				Message: fmt.Sprintf("the identitytoken for %s (an OAuth refresh token) has no hosts.toml equivalent; these credentials stay in config.toml", h)})
			continue
		}
		if validHost(h) != nil {
			c.warn(Warning{Code: WarnConfigKeyNotHost, Pos: ha.Pos,
				Message: fmt.Sprintf("configs key %q is not a host[:port], so containerd never used its credentials; left as it is", h)})
			continue
		}
		ha.header = v
	}
	return nil
}

// basicAuth is the Authorization value for credentials, following
// containerd's ParseAuth precedence: username, then identitytoken, then
// auth. It returns "" for an identity token, which a header cannot carry.
func basicAuth(a *Auth) (string, error) {
	switch {
	case a.Username != "":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.Username+":"+a.Password)), nil
	case a.IdentityToken != "":
		return "", nil
	case a.Auth != "":
		decoded, err := base64.StdEncoding.DecodeString(a.Auth)
		if err != nil || !strings.Contains(string(decoded), ":") {
			return "", errorf(a.Pos, "auth is not base64 of user:password; containerd fails pulls with it (invalid decoded auth)")
		}
		user, pass, _ := strings.Cut(strings.Trim(string(decoded), "\x00"), ":")
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)), nil
	}
	return "", errorf(a.Pos, "auth table without username, auth or identitytoken")
}

func (c *converter) trimSpec(f *ConfigFile, setConfigPath bool, certsDir string) *trimSpec {
	spec := &trimSpec{regPath: registryPath(f.Version), dropAuth: map[string]bool{}, dropAuths: map[string]bool{}}
	if setConfigPath {
		spec.configPath = certsDir
	}
	r := f.Registry
	for _, key := range sortedKeys(c.auth) {
		ha := c.auth[key]
		if ha.fromAuths != "" {
			if _, here := r.Auths[ha.fromAuths]; !here {
				continue
			}
			spec.dropAuths[ha.fromAuths] = true
			// auths overrides configs auth for the same host (§2.3).
			spec.dropAuth[key] = r.Configs[key] != nil && r.Configs[key].Auth != nil
			if ha.header == "" {
				spec.addAuth = append(spec.addAuth, authBlock{Key: key, Auth: ha.Auth})
			}
			continue
		}
		if ha.header != "" {
			spec.dropAuth[key] = true
		}
	}
	return spec
}
