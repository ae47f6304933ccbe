package convert

import (
	"fmt"
	"path"
	"path/filepath"
)

// DefaultCertsDir is the conventional config_path.
const DefaultCertsDir = "/etc/containerd/certs.d"

// k0s's layout: k0s imports the top-level *.toml files of k0sDropInDir, and
// its documentation puts hosts.toml files in k0sCertsDir, below it, where
// no import glob loads them.
const (
	k0sDropInDir = "/etc/k0s/containerd.d"
	k0sCertsDir  = k0sDropInDir + "/certs.d"
)

// certsDir is the one place that decides where the hosts files go, for
// either input format: --certs-dir; else the config's own config_path
// (configPath: the setting in effect, nil if none); else, on a k0s node
// (main is k0s's generated config or one of its drop-ins), k0s's
// directory; else the default.
func (c *converter) certsDir(configPath *stringSetting, main *ConfigFile) string {
	if c.opts.CertsDir != "" {
		return c.opts.CertsDir
	}
	if cp := configPath; cp != nil && cp.Value != "" {
		dirs := filepath.SplitList(cp.Value)
		if len(dirs) > 1 {
			c.warn(Warning{Code: WarnConfigPathList, Pos: cp.Pos,
				Message: fmt.Sprintf("config_path %q lists several directories; containerd 2.1+ pulls read it as one path, so it becomes %q (pass --certs-dir to choose)", cp.Value, dirs[0])})
		}
		if dir := dirs[0]; dir != "" {
			if !filepath.IsAbs(dir) {
				// containerd reads it from its working directory, / under
				// systemd.
				c.warn(Warning{Code: WarnRelativeConfigPath, Pos: cp.Pos,
					Message: fmt.Sprintf("config_path %q is relative: containerd reads it from its working directory, so it becomes %q (right when containerd runs from /, as under systemd)", dir, filepath.Join("/", dir))})
				dir = filepath.Join("/", dir)
			}
			return dir
		}
	}
	if main != nil && (main.K0sManaged || path.Dir(main.Path) == k0sDropInDir) {
		return k0sCertsDir
	}
	return DefaultCertsDir
}
