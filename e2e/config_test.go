package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/certsd-migrate/certsd-migrate/e2e/rig"
)

// layout says how a phase's containerd config files are written.
type layout struct {
	// version is the config file version: 2, 3 (the 2.x layout: CRI image
	// settings under io.containerd.cri.v1.images), or 1 (written without a
	// version key, as 1.x configs often are).
	version int
	// daemon2 means containerd 2.x reads the files: config.toml also sets
	// the transfer service's unpack_config to the native snapshotter, which
	// 2.x needs to pull through the transfer service (the path it takes
	// with config_path only).
	daemon2 bool
	// dropInVersion is the drop-in's config version; 0 means version.
	dropInVersion int
	// versionlessDropIn writes the drop-in without a version line (its
	// tables still in dropInVersion's layout), the shape k0s's docs and
	// many conf.d files have: containerd reads it at the importing
	// config's version (1.x, 2.0–2.2) or migrates it from version 1 (2.3+).
	versionlessDropIn bool
	// criInMain keeps the CRI snapshotter setting in config.toml (written
	// in version's layout) and puts only the registry into the drop-in, as
	// k0s 1.36 does with its version 3 main file. Needs a 2.x daemon, which
	// merges imported plugin tables key by key.
	criInMain bool
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
	return layout{version: l.version, daemon2: l.daemon2, dropInVersion: l.dropInVersion, versionlessDropIn: l.versionlessDropIn, criInMain: l.criInMain,
		header: l.header, imports: l.imports, dropIn: l.dropIn}
}

// registryTable is the CRI registry table of a config version.
func registryTable(version int) string {
	switch version {
	case 1:
		return "plugins.cri.registry"
	case 3:
		return `plugins."io.containerd.cri.v1.images".registry`
	}
	return `plugins."io.containerd.grpc.v1.cri".registry`
}

// snapshotterTable is the CRI table holding `snapshotter` in a config version.
func snapshotterTable(version int) string {
	switch version {
	case 1:
		return "plugins.cri.containerd"
	case 3:
		return `plugins."io.containerd.cri.v1.images"`
	}
	return `plugins."io.containerd.grpc.v1.cri".containerd`
}

// versionLine is the `version` line of a config file ("" for version 1).
func versionLine(version int) string {
	if version == 1 {
		return ""
	}
	return fmt.Sprintf("version = %d\n", version)
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
	main.WriteString(versionLine(l.version))
	fmt.Fprintf(&main, "root = %q\nstate = %q\n", p.Root, p.State)
	if l.imports != "" {
		fmt.Fprintf(&main, "imports = [%q]\n", strings.ReplaceAll(l.imports, "{DIR}", dir))
	}
	fmt.Fprintf(&main, "\n[grpc]\n  address = %q\n\n[ttrpc]\n  address = %q\n", p.Socket, p.TTRPCSocket)
	optPlugin := `"io.containerd.internal.v1.opt"`
	if l.version == 1 {
		optPlugin = "opt"
	}
	fmt.Fprintf(&main, "\n[plugins]\n  [plugins.%s]\n    path = %q\n", optPlugin, p.Opt)
	if l.daemon2 {
		fmt.Fprintf(&main, "  [plugins.\"io.containerd.transfer.v1.local\"]\n    unpack_config = [{ platform = %q, snapshotter = \"native\" }]\n",
			"linux/"+runtime.GOARCH)
	}

	dropInVersion := l.dropInVersion
	if dropInVersion == 0 {
		dropInVersion = l.version
	}
	regVersion := l.version
	if l.imports != "" {
		regVersion = dropInVersion
	}
	placeholders := strings.NewReplacer("{R}", registryTable(regVersion), "{CERTS}", certsDir)
	for rel, content := range l.files {
		if err := writeFile(filepath.Join(dir, rel), placeholders.Replace(content)); err != nil {
			return "", err
		}
	}
	snapshotter := func(version int) string {
		return fmt.Sprintf("\n[%s]\n  snapshotter = \"native\"\n", snapshotterTable(version))
	}
	var cri strings.Builder
	if l.imports != "" && l.criInMain {
		main.WriteString(snapshotter(l.version))
	} else {
		cri.WriteString(snapshotter(regVersion))
	}
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
	head := versionLine(dropInVersion)
	if l.versionlessDropIn {
		head = ""
	}
	return cfg, writeFile(filepath.Join(dir, dropIn), head+cri.String())
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
