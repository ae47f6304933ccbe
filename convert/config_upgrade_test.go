package convert

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// The cases are testdata/upgrade/*.txtar: in.toml, and either want.toml
// (the version 3 config) with warnings (each warning as printed, one per
// line; none if absent), or error (the start of the *inputError message).
// The input file is named f.toml.

func TestUpgradeCases(t *testing.T) {
	for _, c := range loadCases(t, "testdata/upgrade") {
		t.Run(c.name, func(t *testing.T) {
			in := c.mustSection(t, "in.toml")
			out, warns, err := upgradeToVersion3("f.toml", []byte(in))
			if want := strings.TrimSpace(c.section("error")); want != "" {
				var e *inputError
				if !errors.As(err, &e) {
					t.Fatalf("got %q, %v; want *inputError", out, err)
				}
				if !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error\n%s\nwant\n%s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := c.mustSection(t, "want.toml"); string(out) != want {
				t.Errorf("output:\n%s\nwant:\n%s", out, want)
			}
			var got strings.Builder
			for _, w := range warns {
				got.WriteString(w.String() + "\n")
			}
			if want := c.section("warnings"); got.String() != want {
				t.Errorf("warnings\n%s\nwant\n%s", got.String(), want)
			}
			doc, err := tomldoc.Parse(out)
			if err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			if v := doc.Root.Get("version"); v == nil || v.Str != "3" {
				t.Errorf("output version %v", v)
			}
			// A version 3 config goes through unchanged.
			again, warns, err := upgradeToVersion3("x.toml", out)
			if err != nil || string(again) != string(out) || len(warns) != 0 {
				t.Errorf("second run: %v, %v, changed: %v", err, warns, string(again) != string(out))
			}
		})
	}
}

// TestUpgradeSemantics compares each output, decoded, with what
// containerd's own migration makes of the decoded input.
func TestUpgradeSemantics(t *testing.T) {
	for _, c := range loadCases(t, "testdata/upgrade") {
		if c.section("error") != "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			in := c.mustSection(t, "in.toml")
			out, _, err := upgradeToVersion3("test.toml", []byte(in))
			if err != nil {
				t.Fatal(err)
			}
			var dec, got map[string]any
			if err := toml.Unmarshal([]byte(in), &dec); err != nil {
				t.Fatal(err)
			}
			if err := toml.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			want := v3Oracle(t, dec)
			if g, w := v3Normalize(t, got), v3Normalize(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("decoded output\n%v\nwant (containerd's migration)\n%v", g, w)
			}
		})
	}
}

func FuzzV3(f *testing.F) {
	for _, c := range loadCases(f, "testdata/upgrade") {
		f.Add(c.section("in.toml"))
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, _, err := upgradeToVersion3("f.toml", []byte(in))
		if err != nil {
			var e *inputError
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *inputError", err)
			}
			return
		}
		if _, err := tomldoc.Parse(out); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		again, warns, err := upgradeToVersion3("f.toml", out)
		if err != nil || string(again) != string(out) || len(warns) != 0 {
			t.Fatalf("second run: %v, %v", err, warns)
		}
		var dec, got map[string]any
		if toml.Unmarshal([]byte(in), &dec) != nil {
			t.Fatalf("input decodes with tomldoc but not go-toml")
		}
		if err := toml.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		want, ok := func() (m map[string]any, ok bool) {
			defer func() { ok = recover() == nil }()
			return v3Oracle(t, dec), true
		}()
		if !ok {
			return // containerd's migration panics on this input
		}
		if g, w := v3Normalize(t, got), v3Normalize(t, want); !reflect.DeepEqual(g, w) {
			t.Fatalf("decoded output\n%v\nwant\n%v\nout:\n%s", g, w, out)
		}
	})
}

// v3Oracle migrates a decoded config as containerd v2.4.2 does: its
// migration functions, transcribed (cmd/containerd/server/config/config.go
// v1Migrate; then, for each version step, the ConfigMigration of the plugins
// in graph order: images and runtime before the CRI plugin), with the one
// difference upgradeToVersion3 makes on purpose (see v3OracleImages).
func v3Oracle(t *testing.T, c map[string]any) map[string]any {
	version, _ := c["version"].(int64)
	if version == 0 {
		version = 1
	}
	plugins, _ := c["plugins"].(map[string]any)
	if plugins == nil {
		plugins = map[string]any{}
	}
	if version == 1 {
		renamed := map[string]any{}
		for k, v := range plugins {
			id, _ := v1PluginID(k)
			renamed[id] = v
		}
		plugins = renamed
		for _, key := range []string{"disabled_plugins", "required_plugins"} {
			if list, ok := c[key].([]any); ok {
				for i, p := range list {
					list[i], _ = v1PluginID(p.(string))
				}
			}
		}
	}
	for v := version; v < 3; v++ {
		v3OracleImages(plugins)
		v3OracleRuntime(plugins)
		v3OracleCRI(plugins)
		for _, r := range [][2]string{
			{"io.containerd.monitor.v1.cgroups", "io.containerd.monitor.task.v1.cgroups"},
			{"io.containerd.internal.v1.restart", "io.containerd.monitor.container.v1.restart"},
		} {
			if c, ok := plugins[r[0]]; ok {
				plugins[r[1]] = c
				delete(plugins, r[0])
			}
		}
		if original, ok := plugins["io.containerd.runtime.v2.task"]; ok {
			src := original.(map[string]any)
			dest := map[string]any{}
			if v, ok := src["sched_core"]; ok {
				if schedCore, ok := v.(bool); schedCore {
					dest["env"] = []string{"SCHED_CORE=1"}
				} else if !ok {
					t.Logf("skipping migration for non-boolean 'sched_core' value %v", v)
				}
				delete(src, "sched_core")
			}
			plugins["io.containerd.runtime.v2.task"] = src
			plugins["io.containerd.shim.v1.manager"] = dest
		}
	}
	c["plugins"] = plugins
	c["version"] = int64(3)
	return c
}

// v3OracleImages is plugins/cri/images/plugin.go's configMigration.
func v3OracleImages(pluginConfigs map[string]any) {
	original, ok := pluginConfigs["io.containerd.grpc.v1.cri"]
	if !ok {
		return
	}
	src := original.(map[string]any)
	updated, ok := pluginConfigs["io.containerd.cri.v1.images"]
	var dst map[string]any
	if ok {
		dst = updated.(map[string]any)
	} else {
		dst = map[string]any{}
	}
	var pinnedImages map[string]any
	if v, ok := dst["pinned_images"]; ok {
		pinnedImages = v.(map[string]any)
	} else {
		pinnedImages = map[string]any{}
	}
	if simage, ok := src["sandbox_image"]; ok {
		pinnedImages["sandbox"] = simage
	}
	if len(pinnedImages) > 0 {
		dst["pinned_images"] = pinnedImages
	}
	for _, key := range []string{"registry", "image_decryption", "max_concurrent_downloads",
		"image_pull_progress_timeout", "image_pull_with_sync_fs", "stats_collect_period"} {
		if val, ok := src[key]; ok {
			dst[key] = val
		}
	}
	defer func() { pluginConfigs["io.containerd.cri.v1.images"] = dst }()
	containerdConf, ok := src["containerd"]
	if !ok {
		return
	}
	containerdConfMap := containerdConf.(map[string]any)
	// DIFFERENCE: containerd returns here when the containerd table has no
	// runtimes, dropping snapshotter, disable_snapshot_annotations and
	// discard_unpacked_layers; upgradeToVersion3 keeps them.
	runtimesConf, ok := containerdConfMap["runtimes"]
	if !ok {
		runtimesConf = map[string]any{}
	}
	var runtimePlatforms map[string]any
	if v, ok := dst["runtime_platform"]; ok {
		runtimePlatforms = v.(map[string]any)
	} else {
		runtimePlatforms = map[string]any{}
	}
	for runtime, v := range runtimesConf.(map[string]any) {
		runtimeConf := v.(map[string]any)
		if snapshotter, ok := runtimeConf["snapshot"]; ok && snapshotter != "" {
			runtimePlatforms[runtime] = map[string]any{"platform": "DefaultStrict", "snapshotter": snapshotter}
		}
	}
	if len(runtimePlatforms) > 0 {
		dst["runtime_platform"] = runtimePlatforms
	}
	for _, key := range []string{"snapshotter", "disable_snapshot_annotations", "discard_unpacked_layers"} {
		if val, ok := containerdConfMap[key]; ok {
			dst[key] = val
		}
	}
}

// v3OracleRuntime is plugins/cri/runtime/plugin.go's configMigration.
func v3OracleRuntime(pluginConfigs map[string]any) {
	src, ok := pluginConfigs["io.containerd.grpc.v1.cri"].(map[string]any)
	if !ok {
		return
	}
	dst, ok := pluginConfigs["io.containerd.cri.v1.runtime"].(map[string]any)
	if !ok {
		dst = make(map[string]any)
	}
	defer func() { pluginConfigs["io.containerd.cri.v1.runtime"] = dst }()
	for k, v := range src {
		switch k {
		case "cni", "containerd", "sandbox_image", "registry", "image_decryption",
			"max_concurrent_downloads", "image_pull_progress_timeout", "image_pull_with_sync_fs",
			"stats_collect_period", "disable_tcp_service", "stream_server_address",
			"stream_server_port", "stream_idle_timeout", "enable_tls_streaming",
			"x509_key_pair_streaming", "enable_cdi":
			continue
		default:
			if _, ok := dst[k]; !ok {
				dst[k] = v
			}
		}
	}
	if cniConf, ok := src["cni"].(map[string]any); ok {
		newCniConf, ok := dst["cni"].(map[string]any)
		if !ok {
			newCniConf = map[string]any{}
		}
		for k, v := range cniConf {
			switch k {
			case "bin_dir":
				if binDirs, ok := newCniConf["bin_dirs"].([]string); !ok || len(binDirs) == 0 {
					newCniConf["bin_dirs"] = []string{v.(string)}
				}
			default:
				if _, ok := newCniConf[k]; !ok {
					newCniConf[k] = v
				}
			}
		}
		dst["cni"] = newCniConf
	}
	containerdConf, ok := src["containerd"].(map[string]any)
	if !ok {
		return
	}
	newContainerdConf, ok := dst["containerd"].(map[string]any)
	if !ok {
		newContainerdConf = map[string]any{}
	}
	for k, v := range containerdConf {
		switch k {
		case "snapshotter", "disable_snapshot_annotations", "discard_unpacked_layers":
			continue
		default:
			if _, ok := newContainerdConf[k]; !ok {
				newContainerdConf[k] = v
			}
		}
	}
	dst["containerd"] = newContainerdConf
	runtimesConf, ok := newContainerdConf["runtimes"]
	if !ok {
		return
	}
	for _, v := range runtimesConf.(map[string]any) {
		runtimeConf := v.(map[string]any)
		if sandboxMode, ok := runtimeConf["sandbox_mode"]; ok {
			if _, ok := runtimeConf["sandboxer"]; !ok {
				runtimeConf["sandboxer"] = sandboxMode
				delete(runtimeConf, "sandbox_mode")
			}
		}
	}
}

// v3OracleCRI is plugins/cri/cri.go's configMigration.
func v3OracleCRI(pluginConfigs map[string]any) {
	src, ok := pluginConfigs["io.containerd.grpc.v1.cri"].(map[string]any)
	if !ok {
		return
	}
	dst := map[string]any{}
	for _, k := range []string{"disable_tcp_service", "stream_server_address", "stream_server_port",
		"stream_idle_timeout", "enable_tls_streaming", "x509_key_pair_streaming"} {
		if val, ok := src[k]; ok {
			dst[k] = val
		}
	}
	pluginConfigs["io.containerd.grpc.v1.cri"] = dst
}

// v3Normalize re-decodes a config and drops its empty tables, which
// containerd's migration leaves and upgradeToVersion3 does not write.
func v3Normalize(t *testing.T, c map[string]any) map[string]any {
	b, err := toml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := toml.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	var prune func(m map[string]any)
	prune = func(m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				prune(sub)
				if len(sub) == 0 {
					delete(m, k)
				}
			}
		}
	}
	prune(out)
	return out
}
