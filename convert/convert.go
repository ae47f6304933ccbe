// Package convert turns containerd's deprecated CRI registry settings
// (mirrors, configs.*.tls, configs.*.auth, auths) into hosts.toml files for
// config_path and a trimmed config.toml. It does no I/O: bytes in, bytes
// out, with every rule traceable to the semantics reference in
// docs/semantics.md (§ numbers in comments).
package convert

import (
	"fmt"
	"path"
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

// Flavor is the containerd that reads the output.
type Flavor string

const (
	// FlavorContainerd is upstream containerd.
	FlavorContainerd Flavor = "containerd"
	// FlavorK3s is k3s/RKE2's containerd, which understands
	// [host."…".rewrite] tables.
	FlavorK3s Flavor = "k3s"
)

// Options control a conversion.
type Options struct {
	// CertsDir is the config_path directory; "" lets certsDir decide.
	CertsDir string
	Auth     AuthMode
	Target   Target
	// Flavor is the containerd reading a converted registries.yaml.
	Flavor Flavor
	// RewriteToPath turns registries.yaml rewrites that only add a
	// repository prefix into endpoint paths.
	RewriteToPath bool
	// ToConfigVersion 3 rewrites every config file that is older (k0s
	// 1.36 refuses version 2 drop-ins); 0 keeps each file's version.
	ToConfigVersion int
}

// Result is what a conversion produces.
type Result struct {
	// CertsDir is the config_path directory the hosts files go into.
	CertsDir string
	Hosts    []*HostsFile
	// ConfigEdits are the edited config files, in load order.
	ConfigEdits []ConfigEdit
	Warnings    []Warning
	// TLSFiles are the certificate files the hosts files name; the caller
	// checks them, since containerd fails pulls on a bad one in hosts mode.
	TLSFiles []TLSFile
	// Secrets are the credential values in the inputs and outputs
	// (passwords, auth and identity tokens, Authorization values, URL user
	// information), for the caller to hide in anything it prints.
	Secrets []string
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

// converter holds one conversion's state: the registry settings in
// effect, the credentials decided per host, and the warnings so far.
type converter struct {
	opts     Options
	reg      *registryTable
	auth     map[string]*hostAuth // effective credentials per configs key
	warnings []Warning
	seen     map[string]bool // warnings already given
	tlsFiles map[string]TLSFile
	// tlsWritten are the configs keys whose TLS settings some hosts.toml
	// entry carries.
	tlsWritten map[string]bool
	// configFile is the config that receives credentials from a
	// registries.yaml.
	configFile string
	// inputs are the registry settings read, for their secrets.
	inputs []*registryTable
}

// newConverter sets up a conversion of either input format, with the
// options' defaults filled in.
func newConverter(opts Options) *converter {
	if opts.Auth == "" {
		opts.Auth = AuthKeep
	}
	opts.Target = opts.Target.OrDefault()
	return &converter{opts: opts, seen: map[string]bool{}, tlsFiles: map[string]TLSFile{}, tlsWritten: map[string]bool{}}
}

// Convert converts the registry settings of files, given in containerd's
// load order (the main config first, then its imports).
func Convert(files []*ConfigFile, opts Options) (*Result, error) {
	c := newConverter(opts)
	if err := c.checkVersions(files); err != nil {
		return nil, err
	}
	if err := resolveVersions(files, c.opts.Target); err != nil {
		return nil, err
	}
	if err := checkMixedVersions(files, c.opts.Target); err != nil {
		return nil, err
	}
	c.higherVersionImport(files)
	for _, f := range files {
		for _, w := range append(f.ignoredTables(), f.inert...) {
			c.warn(w)
		}
		if f.Registry != nil {
			c.inputs = append(c.inputs, f.Registry)
		}
	}
	merged, err := mergeFiles(files, c.opts.Target)
	if err != nil {
		return nil, err
	}
	for _, f := range merged.shadowed {
		c.warn(Warning{Code: WarnShadowedByImport, Pos: f.Registry.Pos,
			Message: "containerd 1.x ignores this registry table: a later file replaces the whole CRI plugin table; it is left as it is, but containerd 2.x would read it"})
	}
	c.reg = merged.reg
	res := &Result{}
	if !c.needsMigration() {
		if !c.needsVersion3(files) {
			// Nothing to change; what was found and left (ignored
			// tables, inert keys, drop-ins k0s 1.36 refuses) is still
			// said.
			c.warnK0sDropIns(files, res)
			res.Warnings, res.Secrets = leftovers(c.warnings), c.secrets()
			return res, nil
		}
		if err := c.toVersion3(files, res); err != nil {
			return nil, err
		}
		return c.finish(res)
	}
	res.CertsDir = c.certsDir(c.reg.ConfigPath, files[0])
	if err := c.foldAuths(); err != nil {
		return nil, err
	}
	if res.Hosts, err = c.hostsFiles(merged.configPathFile.Path); err != nil {
		return nil, err
	}
	for _, f := range merged.live {
		if k0sGenerated(f.Path) {
			return nil, errorf(f.Registry.Pos, "this file is generated by k0s (before 1.36) from the drop-ins in /etc/k0s/containerd.d/ at every start; edit the drop-in that holds these settings instead (run without --config to find it)")
		}
		if f.K0sManaged {
			return nil, errorf(f.Registry.Pos, "this config is generated by k0s (%s) and rewritten by it; move its registry settings into a drop-in under /etc/k0s/containerd.d/ and run again", k0sManagedMarker)
		}
		spec := c.editSpecFor(f, f == merged.configPathFile, res.CertsDir)
		after, err := editConfig(f, spec)
		if err != nil {
			return nil, err
		}
		res.ConfigEdits = append(res.ConfigEdits, ConfigEdit{Path: f.Path, Before: f.Doc.Data, After: after})
	}
	if err := c.toVersion3(files, res); err != nil {
		return nil, err
	}
	return c.finish(res)
}

// leftovers are the warnings about registry settings a run with nothing
// to migrate leaves where they are; the version notes (a version 1 config
// on 2.x) are for a conversion, and a migrated node stays quiet.
func leftovers(warnings []Warning) []Warning {
	var out []Warning
	for _, w := range warnings {
		if w.Code != WarnV1ConfigOn2x {
			out = append(out, w)
		}
	}
	return out
}

// k0sGenerated reports a file k0s generates under its run directory (k0s
// before 1.36 writes its merged CRI config to /run/k0s/containerd-cri.toml).
func k0sGenerated(path string) bool { return strings.HasPrefix(path, "/run/k0s/") }

// finish applies the version gates and collects what the caller checks.
func (c *converter) finish(res *Result) (*Result, error) {
	if err := c.versionGates(res); err != nil {
		return nil, err
	}
	for _, h := range res.Hosts {
		h.Path = path.Join(res.CertsDir, h.Dir(), "hosts.toml")
	}
	for _, k := range sortedKeys(c.tlsFiles) {
		res.TLSFiles = append(res.TLSFiles, c.tlsFiles[k])
	}
	res.Warnings = c.warnings
	res.Secrets = c.secrets()
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

// ConvertRegistries converts a k3s/RKE2 registries.yaml the way k3s itself
// renders it into hosts.toml files (k3s pkg/agent/containerd/config.go,
// getHostConfigs), and sets config_path, plus credentials with --auth keep,
// in config. config is nil when the file does not exist yet; configFile
// names it.
func ConvertRegistries(rf *RegistriesFile, config *ConfigFile, configFile string, opts Options) (*Result, error) {
	c := newConverter(opts)
	c.reg, c.configFile = &registryTable{Configs: rf.Configs}, configFile
	for _, w := range rf.Warnings {
		c.warn(w)
	}
	if rf.Auths != nil {
		c.warn(Warning{Code: WarnYAMLAuthsIgnored, Pos: *rf.Auths,
			Message: "auths is deprecated and k3s ignores it; it is not carried over (use configs.<host>.auth)"})
	}
	if len(rf.Mirrors) == 0 && !hasSettings(rf.Configs) {
		// Nothing for k3s to write either; what was ignored is said.
		return &Result{Warnings: c.warnings}, nil
	}
	if config == nil {
		version := 2
		if !opts.Target.includes1x() {
			version = 3
		}
		var err error
		if config, err = ParseConfig(configFile, fmt.Appendf(nil, "%s from %s.\nversion = %d\n", GeneratedPrefix, rf.Path, version)); err != nil {
			return nil, err
		}
		config.created = true
	}
	if r := config.Registry; r != nil && (len(r.Mirrors) > 0 || hasTLS(r)) {
		return nil, errorf(r.Pos, "this config has its own registry mirrors or TLS settings: migrate it first (without --registries), then convert the registries.yaml")
	}
	if err := c.checkVersions([]*ConfigFile{config}); err != nil {
		return nil, err
	}
	// Credentials: k3s writes them under configs."<key>".auth, the YAML
	// key verbatim; --auth header turns them into headers instead.
	c.reg.Configs = c.dockerHubCredentials(rf)
	if err := c.foldAuths(); err != nil {
		return nil, err
	}
	var ownConfigPath *stringSetting
	if config.Registry != nil {
		ownConfigPath = config.Registry.ConfigPath
	}
	res := &Result{CertsDir: c.certsDir(ownConfigPath, config)}
	hosts, err := c.k3sHostsFiles(rf)
	if err != nil {
		return nil, err
	}
	res.Hosts = hosts
	spec := &editSpec{regPath: registryPath(config.Version), dropConfigAuth: map[string]bool{}, dropAuthsKeys: map[string]bool{}, configPath: res.CertsDir}
	for _, key := range sortedKeys(c.auth) {
		if c.auth[key].header != "" {
			continue
		}
		want := c.auth[key].authConfig
		if r := config.Registry; r != nil && r.Configs[key] != nil && r.Configs[key].Auth != nil {
			if sameCredentials(r.Configs[key].Auth, want) {
				continue // already there (a second run)
			}
			spec.dropConfigAuth[key] = true // registries.yaml wins, as k3s regenerates it
		}
		spec.addAuth = append(spec.addAuth, authBlock{Key: key, Auth: want})
	}
	after, err := editConfig(config, spec)
	if err != nil {
		return nil, err
	}
	before := config.Doc.Data
	if config.created {
		before = nil
	}
	res.ConfigEdits = []ConfigEdit{{Path: config.Path, Before: before, After: after}}
	return c.finish(res)
}

func hasSettings(configs map[string]*registryConfig) bool {
	for _, c := range configs {
		if c.Auth != nil || c.TLS != nil {
			return true
		}
	}
	return false
}

func hasTLS(r *registryTable) bool {
	for _, c := range r.Configs {
		if c.TLS != nil {
			return true
		}
	}
	return false
}
