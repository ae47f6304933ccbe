package migrate

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// Options describe one run.
type Options struct {
	// Root stands for the node's "/"; "" is the real root.
	Root string
	// ConfigFile is the main containerd config's path on the node; ""
	// finds it: /etc/containerd/config.toml, else k0s's
	// /etc/k0s/containerd.toml.
	ConfigFile string
	// RegistriesPath names a k3s/RKE2 registries.yaml to convert instead
	// of the config's own registry settings; ConfigFile is then the
	// config that gets config_path (created when absent).
	RegistriesPath string
	// K0sVersion names the k0s release that reads the drop-ins ("" tells
	// it from the files).
	K0sVersion string
	// Force overwrites hosts.toml files that certsd-migrate did not write,
	// after backing them up.
	Force bool
	convert.Options
}

// ConflictError reports hosts.toml files that belong to someone else (the
// CLI tells it apart in its JSON error object).
type ConflictError struct {
	Paths []string
}

func (e *ConflictError) Error() string {
	if len(e.Paths) == 1 {
		return fmt.Sprintf("%s already exists with different content and was not written by certsd-migrate; nothing was written (use --force to back it up and replace it)", e.Paths[0])
	}
	return fmt.Sprintf("%s already exist with different content and were not written by certsd-migrate; nothing was written (use --force to back them up and replace them)", strings.Join(e.Paths, ", "))
}

// Build reads the node's config and plans the migration. It writes nothing.
func Build(opts Options) (*Plan, error) {
	n, err := snapshot(opts.Root)
	if err != nil {
		return nil, err
	}
	defer n.close()
	if !findConfig(n, &opts) {
		return &Plan{Root: opts.Root, NoConfig: true}, nil
	}
	res, globs, err := convertInputs(n, opts)
	if err != nil {
		return nil, err
	}
	p := &Plan{Root: opts.Root, ConfigFile: opts.ConfigFile, CertsDir: res.CertsDir, Warnings: res.Warnings, ImportGlobs: globs, Secrets: res.Secrets}
	for _, c := range res.ConfigEdits {
		fc := FileChange{Path: c.Path, Kind: ConfigKind, Action: Create, After: c.After, Mode: 0o644}
		if err := checkReplaceable(n, c.Path); err != nil {
			return nil, err
		}
		if c.Before != nil {
			_, fi, err := n.readIfExists(c.Path)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", c.Path, err)
			}
			if fi == nil {
				return nil, fmt.Errorf("%s: %w", c.Path, errChanged)
			}
			fc.Action, fc.Before, fc.Mode, fc.Backup = Modify, c.Before, fi.Mode().Perm(), true
			if bytes.Equal(c.Before, c.After) {
				fc.Action = Unchanged
			}
		}
		p.Files = append(p.Files, fc)
	}
	var conflicts []string
	for _, h := range res.Hosts {
		fc, conflict, err := p.hostsChange(n, h, opts.Force)
		if err != nil {
			return nil, err
		}
		if conflict {
			conflicts = append(conflicts, fc.Path)
		}
		p.Files = append(p.Files, fc)
		p.checkShadowingDir(n, h)
	}
	p.checkDefaultShadowed(n, res.Hosts)
	if len(conflicts) > 0 {
		return nil, &ConflictError{Paths: conflicts}
	}
	for _, f := range res.TLSFiles {
		if w := checkTLSFile(n, f); w != nil {
			p.Warnings = append(p.Warnings, *w)
		}
	}
	if err := p.checkHostsFiles(n, opts.Target); err != nil {
		return nil, err
	}
	return p, nil
}

// Well-known config locations.
const (
	containerdConfigPath = "/etc/containerd/config.toml"
	k0sConfigPath        = "/etc/k0s/containerd.toml"
)

// findConfig fills in the config path when none was given. It reports
// false when none was given and no default config exists: containerd then
// runs on its built-in defaults, which hold no registry settings, so there
// is nothing to migrate. (A config that was named must exist.)
func findConfig(n *node, opts *Options) bool {
	if opts.ConfigFile != "" {
		return true
	}
	opts.ConfigFile = containerdConfigPath
	if opts.RegistriesPath != "" {
		return true
	}
	if _, err := n.stat(containerdConfigPath); !errors.Is(err, fs.ErrNotExist) {
		return true // present, or unreadable: reading it reports why
	}
	if _, err := n.stat(k0sConfigPath); !errors.Is(err, fs.ErrNotExist) {
		opts.ConfigFile = k0sConfigPath
		return true
	}
	return false
}

// checkReplaceable refuses, at plan time, a file that apply would refuse:
// renaming over a symlink would replace the link, not its target.
func checkReplaceable(n *node, nodeFile string) error {
	info, err := n.lstat(nodeFile)
	if err != nil || info.Mode().IsRegular() {
		return nil
	}
	if info.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link: writing it atomically would replace the link; run again with the path it points to", nodeFile)
	}
	return fmt.Errorf("%s is not a regular file", nodeFile)
}

// loadNodeConfigs reads the main config and the files containerd (or k0s)
// loads with it, in merge order, as Convert needs them; on a k0s node it
// narrows an implicit target to the containerd that k0s release runs.
// check (ReadNode) reads the node through it too.
func loadNodeConfigs(n *node, opts *Options) ([]*convert.ConfigFile, []string, error) {
	main, err := readConfig(n, opts.ConfigFile)
	if err != nil {
		return nil, nil, err
	}
	layout, err := detectK0sLayout(main, opts.K0sVersion)
	if err != nil {
		return nil, nil, err
	}
	if layout != notK0s && !opts.Target.Explicit {
		opts.Target = k0sTarget(layout, opts.ToConfigVersion == 3)
	}
	var skip func(string) bool
	if layout == k0sMerging {
		skip = func(p string) bool { return strings.HasPrefix(p, k0sRunDir) }
	}
	files, globs, err := loadConfigs(n, opts.ConfigFile, opts.Target, skip)
	if err != nil {
		return nil, nil, err
	}
	if layout == k0sMerging {
		if files, err = k0sMergedFiles(n, files); err != nil {
			return nil, nil, err
		}
	}
	return files, globs, nil
}

// convertInputs reads the inputs and converts them.
// opts.ConfigFile is set (findConfig).
func convertInputs(n *node, opts Options) (*convert.Result, []string, error) {
	if opts.RegistriesPath == "" {
		files, globs, err := loadNodeConfigs(n, &opts)
		if err != nil {
			return nil, nil, err
		}
		res, err := convert.Convert(files, opts.Options)
		return res, globs, err
	}
	data, _, err := n.readInput(opts.RegistriesPath)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", opts.RegistriesPath, err)
	}
	rf, err := convert.ParseRegistries(opts.RegistriesPath, data)
	if err != nil {
		return nil, nil, err
	}
	var config *convert.ConfigFile
	configData, _, err := n.readIfExists(opts.ConfigFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", opts.ConfigFile, err)
	}
	if configData != nil {
		if config, err = convert.ParseConfig(opts.ConfigFile, configData); err != nil {
			return nil, nil, err
		}
	}
	res, err := convert.ConvertRegistries(rf, config, opts.ConfigFile, opts.Options)
	return res, nil, err
}

// hostsChange plans one hosts.toml. A file that exists, differs, and lacks
// the generated-by line is a conflict unless force.
func (p *Plan) hostsChange(n *node, h *convert.HostsFile, force bool) (FileChange, bool, error) {
	nodeFile := h.Path
	mode := os.FileMode(0o644)
	if h.HasSecret() {
		mode = 0o600
	}
	fc := FileChange{Path: nodeFile, Kind: HostsKind, Action: Create, After: h.Render(), Mode: mode}
	if err := checkNamespaceDir(n, nodeFile); err != nil {
		return fc, false, err
	}
	if err := checkReplaceable(n, nodeFile); err != nil {
		return fc, false, err
	}
	before, fi, err := n.readIfExists(nodeFile)
	if err != nil {
		return fc, false, fmt.Errorf("reading %s: %w", nodeFile, err)
	}
	if before == nil {
		return fc, false, nil
	}
	fc.Before = before
	switch {
	case bytes.Equal(before, fc.After) && fi.Mode().Perm() == mode:
		fc.Action = Unchanged
	case bytes.HasPrefix(before, []byte(convert.GeneratedPrefix)):
		fc.Action = Modify
	case force:
		fc.Action, fc.Backup = Modify, true
	default:
		fc.Action = Modify
		return fc, true, nil
	}
	return fc, false, nil
}

// checkShadowingDir warns when an existing host_port_ directory, which
// containerd looks up first, hides the directory being written.
func (p *Plan) checkShadowingDir(n *node, h *convert.HostsFile) {
	i := strings.LastIndex(h.Namespace, ":")
	if i <= 0 {
		return
	}
	alt := h.Namespace[:i] + "_" + h.Namespace[i+1:] + "_"
	altPath := path.Join(p.CertsDir, alt)
	if info, err := n.stat(altPath); err == nil && info.IsDir() {
		p.Warnings = append(p.Warnings, convert.Warning{Code: convert.WarnShadowingDir, Pos: convert.Position{File: altPath},
			Message: fmt.Sprintf("containerd looks up %s before %s, so this existing directory hides the migrated settings for %s; merge or remove it", altPath, path.Join(p.CertsDir, h.Namespace), h.Namespace)})
	}
}

// checkDefaultShadowed warns about existing namespace directories that
// hide a new _default from their namespace: legacy sent those namespaces
// through the "*" mirror, hosts mode will not.
func (p *Plan) checkDefaultShadowed(n *node, hosts []*convert.HostsFile) {
	written := map[string]bool{}
	wildcard := false
	for _, h := range hosts {
		written[h.Dir()] = true
		wildcard = wildcard || h.Namespace == "*"
	}
	if !wildcard {
		return
	}
	entries, err := n.readDir(p.CertsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || written[e.Name()] || e.Name() == "_default" {
			continue
		}
		dir := path.Join(p.CertsDir, e.Name())
		p.Warnings = append(p.Warnings, convert.Warning{Code: convert.WarnShadowingDir, Pos: convert.Position{File: dir},
			Message: fmt.Sprintf("this existing directory hides _default from pulls of %s: legacy containerd sent them through the mirrors.\"*\" endpoints, containerd in hosts mode will not; add those endpoints to its hosts.toml if they should", e.Name())})
	}
}

// checkTLSFile reports a certificate file that hosts mode would reject:
// legacy ignored a bad CA file, but hosts mode fails every pull
// (docs/semantics.md §5.8).
func checkTLSFile(n *node, f convert.TLSFile) *convert.Warning {
	data, _, err := n.readInput(f.Path)
	code := convert.WarnCAFile
	if f.Role != "ca" {
		code = convert.WarnClientCertFile
	}
	if err != nil {
		return &convert.Warning{Code: code, Pos: f.Pos,
			Message: fmt.Sprintf("cannot read %s file %s (%v): containerd fails every pull through this host until it exists", f.Role, f.Path, err)}
	}
	switch f.Role {
	case "ca":
		if !hasCertificate(data) {
			return &convert.Warning{Code: code, Pos: f.Pos,
				Message: fmt.Sprintf("CA file %s holds no PEM certificate: legacy containerd ignored it, but in hosts.toml it fails every pull through this host", f.Path)}
		}
	case "cert":
		if !hasCertificate(data) {
			return &convert.Warning{Code: code, Pos: f.Pos,
				Message: fmt.Sprintf("client certificate %s holds no PEM certificate: containerd fails every pull through this host", f.Path)}
		}
	case "key":
		if !hasPrivateKey(data) {
			return &convert.Warning{Code: code, Pos: f.Pos,
				Message: fmt.Sprintf("client key %s holds no PEM private key: containerd fails every pull through this host", f.Path)}
		}
	}
	return nil
}

// hasCertificate reports a PEM block holding an X.509 certificate.
func hasCertificate(data []byte) bool {
	return anyPEMBlock(data, func(b *pem.Block) bool {
		_, err := x509.ParseCertificate(b.Bytes)
		return b.Type == "CERTIFICATE" && err == nil
	})
}

// hasPrivateKey reports a PEM block holding a private key in a form
// containerd's crypto/tls loads (PKCS #8, PKCS #1 or SEC 1).
func hasPrivateKey(data []byte) bool {
	return anyPEMBlock(data, func(b *pem.Block) bool {
		if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
			return true
		}
		if _, err := x509.ParsePKCS1PrivateKey(b.Bytes); err == nil {
			return true
		}
		_, err := x509.ParseECPrivateKey(b.Bytes)
		return err == nil
	})
}

// anyPEMBlock reports whether ok accepts one of data's PEM blocks.
func anyPEMBlock(data []byte, ok func(*pem.Block) bool) bool {
	for {
		var block *pem.Block
		if block, data = pem.Decode(data); block == nil {
			return false
		}
		if ok(block) {
			return true
		}
	}
}
