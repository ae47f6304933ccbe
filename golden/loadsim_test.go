package golden

// How containerd turns an import chain into one config, simulated on the
// decoded plugin maps for each release line (not by file: the whole
// config is built as containerd builds it, then its registry is read).
//
//   - 1.x (services/server/config/config.go, v1.6.0–v1.7.x): files are
//     merged in load order; a file's `version`, when set, replaces the
//     merged one (mergo WithOverride skips a zero); each plugin table
//     replaces the one merged before; the registry is read at the merged
//     version, and at version 2 a plugin key that is not a URI stops
//     containerd (ValidateV2), as does version 3.
//   - 2.0–2.2 (cmd/containerd/server/config LoadConfig): a version 0/1
//     file is migrated to the version merged so far (starting at 3): its
//     short plugin names become URIs; plugin tables merge key by key; if
//     the merged version is below 3, the CRI images plugin's migration
//     copies io.containerd.grpc.v1.cri's registry to
//     io.containerd.cri.v1.images.
//   - 2.3+ (LoadConfigWithPlugins): every file is migrated on its own to
//     version 4; for a file at version 3 or below the images plugin's
//     migration copies io.containerd.grpc.v1.cri's registry (plugin
//     ConfigMigration runs for every version below 4).
//   - k0s before 1.36 merges its CRI drop-ins key by key into its own
//     version 2 CRI config, which containerd 1.7 imports.

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

type releaseLine string

const (
	line1     releaseLine = "containerd 1.x"
	line20    releaseLine = "containerd 2.0–2.2"
	line23    releaseLine = "containerd 2.3+"
	lineK0s35 releaseLine = "k0s before 1.36"
)

// v1Names are containerd 2.x's v1MigratePluginName for the names the
// cases use.
var v1Names = map[string]string{"cri": "io.containerd.grpc.v1.cri", "opt": "io.containerd.internal.v1.opt"}

func renameV1(plugins map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range plugins {
		if full, ok := v1Names[k]; ok {
			k = full
		}
		out[k] = v
	}
	return out
}

func copyTree(m map[string]any) map[string]any {
	out := map[string]any{}
	deepMerge(out, m)
	return out
}

// moveCRIRegistry is the images plugin's configMigration, registry part.
func moveCRIRegistry(plugins map[string]any) {
	cri, _ := plugins["io.containerd.grpc.v1.cri"].(map[string]any)
	reg, ok := cri["registry"]
	if !ok {
		return
	}
	images, _ := plugins["io.containerd.cri.v1.images"].(map[string]any)
	if images == nil {
		images = map[string]any{}
		plugins["io.containerd.cri.v1.images"] = images
	}
	images["registry"] = reg
}

// simulate builds the merged plugins of files as a release line does and
// returns the registry table it reads, or why containerd refuses to start.
func simulate(files []*legacyConfigFile, line releaseLine) (map[string]any, string) {
	merged := map[string]any{}
	switch line {
	case lineK0s35:
		for _, f := range files {
			if f.k0sPatch {
				deepMerge(merged, copyTree(f.plugins))
			}
		}
		cri, _ := merged["io.containerd.grpc.v1.cri"].(map[string]any)
		reg, _ := cri["registry"].(map[string]any)
		return reg, ""
	case line1:
		version := int64(0)
		for _, f := range files {
			if f.version != 0 {
				version = f.version
			}
			for k, v := range f.plugins {
				merged[k] = v // whole plugin tables replace
			}
		}
		switch {
		case version > 2:
			return nil, fmt.Sprintf("1.x refuses version %d", version)
		case version == 2:
			for k := range merged {
				if !strings.HasPrefix(k, "io.containerd.") {
					return nil, fmt.Sprintf("1.x refuses plugin key %q in a version 2 config", k)
				}
			}
		}
		cri, _ := merged[registryPluginKey(version)].(map[string]any)
		reg, _ := cri["registry"].(map[string]any)
		return reg, ""
	case line20:
		version := int64(3)
		for _, f := range files {
			plugins := copyTree(f.plugins)
			v := f.version
			if v <= 1 {
				plugins, v = renameV1(plugins), version
			}
			version = v
			deepMerge(merged, plugins)
		}
		if version < 3 {
			moveCRIRegistry(merged)
		}
	case line23:
		for _, f := range files {
			plugins := copyTree(f.plugins)
			if f.version <= 1 {
				plugins = renameV1(plugins)
			}
			if f.version <= 3 {
				moveCRIRegistry(plugins)
			}
			deepMerge(merged, plugins)
		}
	}
	images, _ := merged["io.containerd.cri.v1.images"].(map[string]any)
	reg, _ := images["registry"].(map[string]any)
	return reg, ""
}

// targetLines are the release lines a --containerd-version argument
// names ("" is every line that can load the chain).
func targetLines(files []*legacyConfigFile, target string) []releaseLine {
	if files[0].k0sManaged {
		for _, f := range files {
			if f.k0sPatch {
				return []releaseLine{lineK0s35}
			}
		}
		if target == "" {
			return []releaseLine{line23} // k0s 1.36+ runs containerd 2.3
		}
	}
	switch {
	case strings.HasPrefix(target, "1"):
		return []releaseLine{line1}
	case target == "2":
		return []releaseLine{line20, line23}
	case strings.HasPrefix(target, "2.0") || strings.HasPrefix(target, "2.1") || strings.HasPrefix(target, "2.2"):
		return []releaseLine{line20}
	case strings.HasPrefix(target, "2"):
		return []releaseLine{line23}
	}
	lines := []releaseLine{line1, line23}
	if files[0].version >= 2 {
		// 2.0–2.2 ignore a version 1 config's CRI settings as a whole,
		// which the tool warns about (v1-config-on-2x).
		lines = append(lines, line20)
	}
	return lines
}

// mergedRegistry returns the registry an import chain configures for the
// target; skip != "" when the release lines the target spans read it
// differently (or none can load it).
func mergedRegistry(files []*legacyConfigFile, target string) (reg *legacyRegistry, skip string) {
	var first map[string]any
	var firstLine releaseLine
	loaded := 0
	var refusals []string
	for _, line := range targetLines(files, target) {
		tree, refuse := simulate(files, line)
		if refuse != "" {
			refusals = append(refusals, refuse)
			if target != "" {
				return nil, refuse
			}
			continue
		}
		if loaded > 0 && !reflect.DeepEqual(normal(tree), normal(first)) {
			return nil, fmt.Sprintf("%s and %s read the registry of %s differently, and no --containerd-version picks one", firstLine, line, files[0].path)
		}
		if loaded == 0 {
			first, firstLine = tree, line
		}
		loaded++
	}
	if loaded == 0 {
		return nil, strings.Join(refusals, "; ")
	}
	reg = &legacyRegistry{}
	if first == nil {
		return reg, ""
	}
	b, err := toml.Marshal(first)
	if err == nil {
		err = toml.Unmarshal(b, reg)
	}
	if err != nil {
		return nil, fmt.Sprintf("decoding the merged registry: %v", err)
	}
	return reg, ""
}

// normal treats a missing registry and an empty one alike.
func normal(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// k0sBefore136 reports a --k0s-version before 1.36 ("v1.35.7+k0s.0").
func k0sBefore136(v string) bool {
	var major, minor int
	n, _ := fmt.Sscanf(strings.TrimPrefix(v, "v"), "%d.%d", &major, &minor)
	return n == 2 && major == 1 && minor < 36
}

// markK0sPatches marks the drop-ins k0s before 1.36 merges itself: those
// in /etc/k0s/containerd.d with a plugins."io.containerd.grpc.v1.cri"
// table.
func markK0sPatches(files []*legacyConfigFile) {
	for _, f := range files {
		if _, cri := f.plugins["io.containerd.grpc.v1.cri"]; cri && strings.HasPrefix(f.path, "/etc/k0s/containerd.d/") {
			f.k0sPatch = true
		}
	}
}

// TestSimulateLines checks the load simulation on the shapes that tell the
// release lines apart (the cross-check is only as good as it).
func TestSimulateLines(t *testing.T) {
	const (
		v2Root  = "version = 2\n"
		v3Root  = "version = 3\n"
		long    = "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m.example\"]\n"
		short   = "[plugins.cri.registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m.example\"]\n"
		images  = "[plugins.\"io.containerd.cri.v1.images\".registry.mirrors.\"quay.io\"]\n  endpoint = [\"https://q.example\"]\n"
		none    = "-"
		refuses = "refuses"
	)
	tests := []struct {
		name  string
		files []string // root first
		want  map[releaseLine]string
	}{
		{"v2 root, version-less long drop-in", []string{v2Root, long},
			map[releaseLine]string{line1: "docker.io", line20: "docker.io", line23: "docker.io"}},
		{"v2 root, version-less short drop-in", []string{v2Root, short},
			map[releaseLine]string{line1: refuses, line20: "docker.io", line23: "docker.io"}},
		{"v3 root, version-less long drop-in", []string{v3Root, long},
			map[releaseLine]string{line20: none, line23: "docker.io"}},
		{"version-less root, long name", []string{long},
			map[releaseLine]string{line1: none, line20: none, line23: "docker.io"}},
		{"v3 file, grpc table replaces images", []string{v3Root + images + long},
			map[releaseLine]string{line20: "quay.io", line23: "docker.io"}},
	}
	for _, tt := range tests {
		var files []*legacyConfigFile
		for i, data := range tt.files {
			f, err := decodeLegacyConfig(fmt.Sprintf("/f%d.toml", i), []byte(data))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		for line, want := range tt.want {
			reg, refuse := simulate(files, line)
			got := none
			switch {
			case refuse != "":
				got = refuses
			case reg != nil:
				mirrors, _ := reg["mirrors"].(map[string]any)
				for k := range mirrors {
					got = k
				}
			}
			if got != want {
				t.Errorf("%s, %s: read %s, want %s", tt.name, line, got, want)
			}
		}
	}
}
