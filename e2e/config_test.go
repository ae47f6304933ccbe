package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/e2e/rig"
)

// layout says how a phase's containerd config files are written.
type layout struct {
	// version is the config file version: 2, or 1 (written without a
	// version key, as 1.x configs often are).
	version int
	// header, if set, is written as the first line(s) of config.toml, e.g.
	// k0s's "# k0s_managed=true" marker.
	header string
	// imports, if set, is the `imports` entry of config.toml, e.g.
	// "conf.d/cri.toml" (relative to config.toml) or "{DIR}/conf.d/*.toml"
	// ({DIR}: the phase directory; containerd 1.6 resolves a relative glob
	// against its working directory, not config.toml's), and the whole CRI
	// section, registry included, goes into the drop-in (see dropIn).
	// containerd 1.x replaces whole plugin sections on import, so the CRI
	// settings must all live there.
	imports string
	// dropIn is the drop-in's path relative to the phase directory when
	// imports is set; "" means conf.d/cri.toml.
	dropIn string
	// registry is legacy registry TOML: "{R}" stands for the registry
	// table of the version and "{CERTS}" for the phase's certs.d directory.
	registry string
	// files are extra files to write, by path relative to the phase
	// directory (for example an existing certs.d/<ns>/hosts.toml), with the
	// same placeholders as registry.
	files map[string]string
}

// bare is the same file layout (header, imports, drop-in) without any
// registry settings or extra files: the negative control's config.
func (l layout) bare() layout {
	return layout{version: l.version, header: l.header, imports: l.imports, dropIn: l.dropIn}
}

// registryTable is the CRI registry table of a config version.
func registryTable(version int) string {
	if version == 1 {
		return "plugins.cri.registry"
	}
	return `plugins."io.containerd.grpc.v1.cri".registry`
}

// writeConfig writes dir/config.toml (and any drop-in) for an isolated
// containerd and returns the config path.
func writeConfig(dir, certsDir string, l layout) (string, error) {
	p := rig.PathsIn(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("writing config: %w", err)
	}
	var main strings.Builder
	if l.header != "" {
		main.WriteString(strings.TrimSuffix(l.header, "\n") + "\n")
	}
	if l.version != 1 {
		main.WriteString("version = 2\n")
	}
	fmt.Fprintf(&main, "root = %q\nstate = %q\n", p.Root, p.State)
	if l.imports != "" {
		fmt.Fprintf(&main, "imports = [%q]\n", strings.ReplaceAll(l.imports, "{DIR}", dir))
	}
	fmt.Fprintf(&main, "\n[grpc]\n  address = %q\n\n[ttrpc]\n  address = %q\n", p.Socket, p.TTRPCSocket)
	optPlugin, criPlugin := `"io.containerd.internal.v1.opt"`, `"io.containerd.grpc.v1.cri"`
	if l.version == 1 {
		optPlugin, criPlugin = "opt", "cri"
	}
	fmt.Fprintf(&main, "\n[plugins]\n  [plugins.%s]\n    path = %q\n", optPlugin, p.Opt)

	placeholders := strings.NewReplacer("{R}", registryTable(l.version), "{CERTS}", certsDir)
	for rel, content := range l.files {
		if err := writeFile(filepath.Join(dir, rel), placeholders.Replace(content)); err != nil {
			return "", err
		}
	}
	var cri strings.Builder
	fmt.Fprintf(&cri, "\n[plugins.%s.containerd]\n  snapshotter = \"native\"\n", criPlugin)
	if l.registry != "" {
		cri.WriteString("\n" + placeholders.Replace(l.registry))
	}

	cfg := filepath.Join(dir, "config.toml")
	if l.imports == "" {
		return cfg, writeFile(cfg, main.String()+cri.String())
	}
	if err := writeFile(cfg, main.String()); err != nil {
		return "", err
	}
	dropIn := l.dropIn
	if dropIn == "" {
		dropIn = filepath.Join("conf.d", "cri.toml")
	}
	return cfg, writeFile(filepath.Join(dir, dropIn), "version = 2\n"+cri.String())
}

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// dumpTree returns every regular file under dir with its content, for
// failure reports.
func dumpTree(dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", path, err)
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case "root", "state", "opt":
				return filepath.SkipDir // containerd's own data
			}
			return nil
		}
		if !strings.HasSuffix(path, ".toml") && !strings.Contains(d.Name(), "bak") {
			return nil
		}
		content, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", path, err)
			return nil
		}
		fmt.Fprintf(&b, "----- %s\n%s\n", path, content)
		return nil
	})
	return b.String()
}
