package diagnose

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

// k0sDropInDir is where k0s imports drop-ins from.
const k0sDropInDir = "/etc/k0s/containerd.d"

// checkConfig reports what the release does with the config files'
// registry settings.
func (ck *checker) checkConfig() {
	c, r, reg := ck.c, ck.rel, ck.reg
	if len(ck.n.Configs) == 0 {
		return
	}
	main := ck.n.Configs[0]
	plugin := "the CRI plugin (io.containerd.grpc.v1.cri)"
	wrap := "invalid plugin config"
	if r.atLeast(2, 0, 0) {
		plugin, wrap = "the CRI image service (io.containerd.cri.v1.images, and the CRI plugins that need it)", "invalid cri image config"
	}
	cp := reg.ConfigPath != nil && reg.ConfigPath.Value != ""
	diff := "run `certsd-migrate diff` to preview moving them into hosts.toml files, then `certsd-migrate apply`"

	if main.Version == 1 && r.atLeast(2, 0, 0) && !r.atLeast(2, 3, 0) {
		c.add(Finding{Code: "v1-config-on-2x", Pos: convert.Position{File: main.Path},
			Message: "this is a version 1 config: containerd 2.0–2.2 ignore every CRI setting in it, config_path and the registry included",
			Fix:     "convert it: `containerd config migrate`, or `certsd-migrate diff --to-config-version 3`"})
	}
	for _, f := range ck.n.Configs {
		for _, w := range f.Notices() {
			c.add(Finding{Code: "ignored-registry-table", Pos: w.Pos, Message: w.Message,
				Fix: fmt.Sprintf("move it under plugins.%q", convert.CRIPluginName(f.Version))})
		}
	}
	if !r.atLeast(2, 0, 0) {
		for _, s := range reg.Shadowed {
			c.add(Finding{Code: "shadowed-by-import", Pos: s.Pos,
				Message: "containerd 1.x never reads this registry table: a file imported later defines the CRI plugin table and replaces it whole",
				Fix:     "keep the registry settings in the file that defines the CRI plugin last"})
		}
	}
	switch {
	case cp && len(reg.Mirrors) > 0:
		c.add(Finding{Code: "mirrors-with-config-path", Pos: reg.Mirrors[0].Pos,
			Message: fmt.Sprintf("mirrors beside config_path: containerd refuses to load %s (\"%s: `mirrors` cannot be set when `config_path` is provided\"); the daemon keeps running, but kubelet can pull and start nothing", plugin, wrap),
			Fix:     "remove the mirrors: " + diff})
	case !cp && len(reg.Mirrors) > 0 && r.atLeast(2, 2, 0) && !r.atLeast(2, 2, 2):
		c.add(Finding{Code: "mirrors-with-default-config-path", Pos: reg.Mirrors[0].Pos,
			Message: fmt.Sprintf("containerd 2.2.0 and 2.2.1 set a default config_path, so mirrors alone make them refuse to load %s (\"%s: `mirrors` cannot be set when `config_path` is provided\")", plugin, wrap),
			Fix:     diff + "; or set config_path = \"\" explicitly in a version 3 config"})
	case len(reg.Mirrors) > 0:
		c.add(Finding{Code: "legacy-registry-settings", Pos: reg.Mirrors[0].Pos,
			Message: "registry.mirrors is deprecated: containerd still reads it, but not together with config_path, and hosts.toml files have no effect while it is used",
			Fix:     diff})
	}
	for _, t := range reg.TLS {
		switch {
		case r.atLeast(2, 0, 0):
			c.add(Finding{Code: "configs-tls-ignored", Pos: t.Pos,
				Message: fmt.Sprintf("containerd 2.x no longer has configs.%q.tls and drops it with only \"Ignoring unknown key in TOML for plugin\" in its log: this CA, client certificate or skip-verify is not used", t.Value),
				Fix:     diff})
		case cp:
			c.add(Finding{Code: "configs-tls-with-config-path", Pos: t.Pos,
				Message: fmt.Sprintf("configs.tls beside config_path: containerd refuses to load %s (\"%s: `configs.tls` cannot be set when `config_path` is provided\")", plugin, wrap),
				Fix:     diff})
		default:
			c.add(Finding{Code: "legacy-registry-settings", Pos: t.Pos,
				Message: "registry.configs.*.tls is deprecated and gone in containerd 2.0: the TLS settings are lost on upgrade",
				Fix:     diff})
		}
	}
	if len(reg.Auths) > 0 {
		c.add(Finding{Code: "legacy-registry-settings", Pos: reg.Auths[0].Pos,
			Message: "registry.auths is deprecated: containerd converts it into configs.<host>.auth",
			Fix:     diff})
	}
	if cp {
		ck.checkConfigPath(reg.ConfigPath)
	}
	if ck.n.K0s {
		for _, f := range ck.n.Configs {
			if f.K0sManaged || path.Dir(f.Path) != k0sDropInDir {
				continue
			}
			why := ""
			switch {
			case f.Version < 3:
				why = fmt.Sprintf("it is a version %d config", f.Version)
			case f.NamesGRPCCRIPlugin():
				why = "it names the io.containerd.grpc.v1.cri plugin"
			default:
				continue
			}
			c.add(Finding{Code: "k0s-dropin-refused", Pos: convert.Position{File: f.Path},
				Message: fmt.Sprintf("k0s 1.36 and later refuse this drop-in and stop: %s (k0s 1.36 runs containerd 2, which wants version 3 and io.containerd.cri.v1.* plugins)", why),
				Fix:     "rewrite it as version 3: `certsd-migrate diff --to-config-version 3`"})
		}
	}
}

// checkConfigPath reports config_path values the release misreads.
func (ck *checker) checkConfigPath(s *convert.Setting) {
	c := ck.c
	roots := filepath.SplitList(s.Value)
	if len(roots) > 1 && ck.transferPulls() {
		c.add(Finding{Code: "config-path-multi-root", Pos: s.Pos,
			Message: fmt.Sprintf("config_path lists %d directories: containerd 2.1+ pulls through its transfer service, which reads %q as one directory that does not exist, so no hosts.toml takes effect (local-mode pulls, forced by use_local_image_pull or legacy registry settings, split it)", len(roots), s.Value),
			Fix:     fmt.Sprintf("set config_path = %q (one directory)", roots[0])})
	}
	for _, p := range roots {
		if p != "" && !path.IsAbs(p) {
			c.add(Finding{Code: "config-path-relative", Pos: s.Pos,
				Message: fmt.Sprintf("config_path %q is relative: containerd resolves it against its working directory (/ under systemd), as %s", p, path.Join("/", p)),
				Fix:     fmt.Sprintf("write %q", path.Join("/", p))})
		}
		if p == "" && len(roots) > 1 {
			c.add(Finding{Code: "config-path-relative", Pos: s.Pos,
				Message: "config_path has an empty entry (a leading, trailing or double separator): containerd looks hosts up relative to its working directory there",
				Fix:     "remove the empty entry: " + strings.Join(nonEmpty(roots), string(filepath.ListSeparator))})
		}
	}
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
