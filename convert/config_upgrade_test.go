package convert

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"

	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

type v3Case struct {
	name  string
	in    string
	want  string
	warns []string // warning codes, in order
}

var v3Cases = []v3Case{
	{
		name: "k0s registry drop-in",
		in: `version = 2

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/k0s/containerd.d/certs.d"

[plugins."io.containerd.grpc.v1.cri".registry.configs."registry.example.com".auth]
  username = "robot"
  password = "s3cret"
`,
		want: `version = 3

[plugins."io.containerd.cri.v1.images".registry]
config_path = "/etc/k0s/containerd.d/certs.d"

[plugins."io.containerd.cri.v1.images".registry.configs."registry.example.com".auth]
username = "robot"
password = "s3cret"
`,
	},
	{
		name: "sandbox image, snapshotter, runtime and cni",
		in: `version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  enable_selinux = true
  max_concurrent_downloads = 5
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = true
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true
        BinaryName = "/usr/bin/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
    max_conf_num = 1
`,
		want: `version = 3

[plugins."io.containerd.cri.v1.images"]
max_concurrent_downloads = 5
snapshotter = "overlayfs"
discard_unpacked_layers = true

[plugins."io.containerd.cri.v1.images".pinned_images]
sandbox = "registry.k8s.io/pause:3.10"

[plugins."io.containerd.cri.v1.runtime"]
enable_selinux = true

[plugins."io.containerd.cri.v1.runtime".containerd]
default_runtime_name = "runc"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
SystemdCgroup = true
BinaryName = "/usr/bin/runc"

[plugins."io.containerd.cri.v1.runtime".cni]
bin_dirs = ["/opt/cni/bin"]
conf_dir = "/etc/cni/net.d"
max_conf_num = 1
`,
	},
	{
		name: "version 1 drop-in",
		in: `# written by hand, long ago
disabled_plugins = ["aufs", "io.containerd.snapshotter.v1.zfs"]

[plugins.cri]
  sandbox_image = "k8s.gcr.io/pause:3.2"
  [plugins.cri.containerd]
    snapshotter = "native"
  [plugins.cri.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
  [plugins.cri.registry.mirrors."docker.io"]
    endpoint = ["https://mirror.example.com"]
[plugins.overlayfs]
  root_path = "/var/lib/overlay"
[plugins.cgroups]
  no_prometheus = true
[plugins.restart]
  interval = "10s"
`,
		want: `# written by hand, long ago

version = 3
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.zfs"]

[plugins."io.containerd.cri.v1.images"]
snapshotter = "native"

[plugins."io.containerd.cri.v1.images".pinned_images]
sandbox = "k8s.gcr.io/pause:3.2"

[plugins."io.containerd.cri.v1.images".registry.mirrors."docker.io"]
endpoint = ["https://mirror.example.com"]

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.snapshotter.v1.overlayfs"]
root_path = "/var/lib/overlay"

[plugins."io.containerd.monitor.task.v1.cgroups"]
no_prometheus = true

[plugins."io.containerd.monitor.container.v1.restart"]
interval = "10s"
`,
	},
	{
		name: "comments and odd quoting",
		in: `# Registry settings for k0s.
# Do not edit by hand.

version = 2 # the old format
root = '/var/lib/k0s/containerd'
imports = [
  "/etc/k0s/extra.toml", # extra
  '/etc/k0s/more.toml',
]

# the CRI plugin
[plugins."io.containerd.grpc.v1.cri"]
  # pause image, pinned
  sandbox_image = 'registry.example.com:5000/pause:3.10' # not docker.io
  max_container_log_line_size = 16_384
  drain_exec_sync_io_timeout = """
0s"""
  [plugins.'io.containerd.grpc.v1.cri'.registry]
    config_path = "C:\\certs.d"
    headers = { "X-Meta" = ["a", 'b'] , 'X-Other' = [] }
  [plugins."io.containerd.grpc.v1.cri".registry.configs.'my.registry:5000'.auth]
    auth = "dXNlcjpwYXNz"

[plugins."io.containerd.snapshotter.v1.overlayfs"] # overlay
  upperdir_label = false
  mount_options = [
    "nodev", # comment in array
  ]

# end of file
`,
		want: `# Registry settings for k0s.
# Do not edit by hand.

version = 3
root = '/var/lib/k0s/containerd'
imports = [
  "/etc/k0s/extra.toml", # extra
  '/etc/k0s/more.toml',
]

[plugins."io.containerd.cri.v1.images".pinned_images]
# pause image, pinned
sandbox = 'registry.example.com:5000/pause:3.10' # not docker.io

[plugins."io.containerd.cri.v1.images".registry]
config_path = "C:\\certs.d"
headers = { "X-Meta" = ["a", 'b'] , 'X-Other' = [] }

[plugins."io.containerd.cri.v1.images".registry.configs."my.registry:5000".auth]
auth = "dXNlcjpwYXNz"

[plugins."io.containerd.cri.v1.runtime"]
max_container_log_line_size = 16_384
drain_exec_sync_io_timeout = """
0s"""

[plugins."io.containerd.snapshotter.v1.overlayfs"] # overlay
upperdir_label = false
mount_options = [
    "nodev", # comment in array
  ]

# end of file
`,
	},
	{
		name: "stream server settings stay",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".x509_key_pair_streaming]
    tls_cert_file = "/etc/cert.pem"
`,
		want: `version = 3

[plugins."io.containerd.grpc.v1.cri"]
stream_server_address = "127.0.0.1"

[plugins."io.containerd.grpc.v1.cri".x509_key_pair_streaming]
tls_cert_file = "/etc/cert.pem"
`,
		warns: []string{WarnV3SettingDropped, WarnCRIServerKept},
	},
	{
		name: "inline and dotted tables",
		in: `version = 2
[plugins]
"io.containerd.grpc.v1.cri" = { containerd = { snapshotter = "stargz", runtimes = { kata = { runtime_type = "io.containerd.kata.v2", sandbox_mode = "shim" } } }, registry = { config_path = "/etc/certs.d" } }
"io.containerd.runtime.v2.task".sched_core = false
`,
		want: `version = 3

[plugins."io.containerd.cri.v1.images"]
snapshotter = "stargz"
registry = { config_path = "/etc/certs.d" }

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.kata]
runtime_type = "io.containerd.kata.v2"
sandboxer = "shim"

[plugins."io.containerd.runtime.v2.task"]
`,
	},
	{
		name: "snapshotter without runtimes",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "zfs"
  default_runtime_name = "crun"
`,
		want: `version = 3

[plugins."io.containerd.cri.v1.images"]
snapshotter = "zfs"

[plugins."io.containerd.cri.v1.runtime".containerd]
default_runtime_name = "crun"
`,
		warns: []string{WarnMigrationQuirk},
	},
	{
		name: "windows line endings and arrays of tables",
		in: "# top\r\nversion = 2\r\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\r\n  config_path = \"/certs.d\" # path\r\n" +
			"[[stream_processors_list]]\r\n  name = \"a\"\r\n[stream_processors_list.sub]\r\n  x = 1\r\n[[stream_processors_list]]\r\n  name = \"b\"\r\n",
		want: `# top

version = 3

[plugins."io.containerd.cri.v1.images".registry]
config_path = "/certs.d" # path

[[stream_processors_list]]
name = "a"

[stream_processors_list.sub]
x = 1

[[stream_processors_list]]
name = "b"
`,
	},
	{
		name: "version 2 and 3 tables in one file",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "old/pause"
  enable_selinux = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "new/pause"
[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
`,
		want: `version = 3

[plugins."io.containerd.cri.v1.images".pinned_images]
sandbox = "old/pause"

[plugins."io.containerd.cri.v1.runtime"]
enable_selinux = false

[plugins."io.containerd.cri.v1.runtime".cni]
bin_dirs = ["/opt/cni/bin"]
`,
		warns: []string{WarnV3SettingDropped, WarnV3SettingDropped, WarnV3SettingDropped},
	},
}

func TestV3Convert(t *testing.T) {
	for _, tc := range v3Cases {
		t.Run(tc.name, func(t *testing.T) {
			out, warns, err := upgradeToVersion3("/etc/k0s/containerd.d/test.toml", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", out, tc.want)
			}
			var codes []string
			for _, w := range warns {
				codes = append(codes, w.Code)
			}
			if !reflect.DeepEqual(codes, tc.warns) {
				t.Errorf("warnings %v, want %v: %v", codes, tc.warns, warns)
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

// TestV3Semantics compares each output, decoded, with what containerd's own
// migration makes of the decoded input.
func TestV3Semantics(t *testing.T) {
	for _, tc := range v3Cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := upgradeToVersion3("test.toml", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			var in, got map[string]any
			if err := toml.Unmarshal([]byte(tc.in), &in); err != nil {
				t.Fatal(err)
			}
			if err := toml.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			want := v3Oracle(t, in)
			if g, w := v3Normalize(t, got), v3Normalize(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("decoded output\n%v\nwant (containerd's migration)\n%v", g, w)
			}
		})
	}
}

func FuzzV3(f *testing.F) {
	for _, tc := range v3Cases {
		f.Add(tc.in)
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

func TestV3Unchanged(t *testing.T) {
	in := []byte(`# already migrated
version = 3
[plugins."io.containerd.cri.v1.images".registry]
  config_path = '/etc/k0s/containerd.d/certs.d'   # odd spacing
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
`)
	out, warns, err := upgradeToVersion3("x.toml", in)
	if err != nil || len(warns) != 0 || string(out) != string(in) {
		t.Errorf("got %q, %v, %v; want the input back", out, warns, err)
	}
}

func TestV3Errors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"removed setting", `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "pause"
  systemd_cgroup = true
`, `f.toml:4:3: cannot move plugins."io.containerd.grpc.v1.cri".systemd_cgroup to a version 3 config: containerd 2.x has no such setting; it applied only to the removed io.containerd.runtime.v1.linux runtime; for runc set SystemdCgroup = true in containerd.runtimes.runc.options`},
		{"version 1 names", `[plugins.cri.containerd.default_runtime]
  runtime_type = "io.containerd.runtime.v1.linux"
`, `f.toml:1:2: cannot move plugins.cri.containerd.default_runtime to a version 3 config: containerd 2.x has no such setting; define the runtime under containerd.runtimes and name it in default_runtime_name`},
		{"unknown key", `version = 2
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/opt/cni/bin"
  confdir = "/etc/cni"
`, `f.toml:4:3: cannot move plugins."io.containerd.grpc.v1.cri".cni.confdir to a version 3 config: containerd 2.x has no such setting`},
		{"runtime handler", `version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_engine = "/usr/bin/runc"
`, `f.toml:3:3: cannot move plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.runtime_engine to a version 3 config: containerd 2.x has no such setting; set BinaryName in the runtime's options`},
		{"inline table key", `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  containerd = { no_pivot = true }
`, `f.toml:3:18: cannot move plugins."io.containerd.grpc.v1.cri".containerd.no_pivot to a version 3 config: containerd 2.x has no such setting; set NoPivotRoot in the runc runtime's options`},
		{"sandbox_mode and sandboxer", `version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  sandboxer = "podsandbox"
  sandbox_mode = "shim"
`, `f.toml:4:3: cannot move plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.sandbox_mode to a version 3 config: it became sandboxer, which is also set`},
		{"not a table", `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  containerd = "overlayfs"
`, `f.toml:3:3: cannot move plugins."io.containerd.grpc.v1.cri".containerd to a version 3 config: it must be a table`},
		{"bin_dir not a string", `version = 2
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = ["/opt/cni/bin"]
`, `f.toml:3:3: cannot move plugins."io.containerd.grpc.v1.cri".cni.bin_dir to a version 3 config: it must be a string`},
		{"sched_core not a boolean", `version = 2
[plugins."io.containerd.runtime.v2.task"]
  sched_core = "yes"
`, `f.toml:3:3: cannot move plugins."io.containerd.runtime.v2.task".sched_core to a version 3 config: it must be a boolean`},
		{"one plugin twice", `[plugins.cri]
  sandbox_image = "a"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "b"
`, `f.toml:3:2: plugins.cri and plugins."io.containerd.grpc.v1.cri" both configure plugin io.containerd.grpc.v1.cri in a version 1 config; containerd keeps one of them at random`},
		{"version 4", "version = 4\n", `f.toml:1:11: unsupported config version 4 (want 1, 2 or 3)`},
		{"invalid TOML", "version = 2\n[plugins\n", `f.toml:2:9: invalid TOML: expected ']' to close table name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := upgradeToVersion3("f.toml", []byte(tc.in))
			var e *inputError
			if !errors.As(err, &e) {
				t.Fatalf("got %q, %v; want *inputError", out, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error\n%s\nwant\n%s", err, tc.want)
			}
		})
	}
}

func TestV3Warnings(t *testing.T) {
	in := `[plugins.foo]
  a = 1
[plugins."io.containerd.monitor.v1.cgroups"]
  no_prometheus = true
[plugins."io.containerd.monitor.task.v1.cgroups"]
  no_prometheus = false
`
	out, warns, err := upgradeToVersion3("f.toml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `version = 3

[plugins."io.containerd.grpc.v1.foo"]
a = 1

[plugins."io.containerd.monitor.task.v1.cgroups"]
no_prometheus = true
`
	if string(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	wantWarns := []string{
		`f.toml:1:2: warning: containerd reads the version 1 plugin name foo as io.containerd.grpc.v1.foo [v1-plugin-name-ambiguous]`,
		`f.toml:5:2: warning: containerd's migration replaces plugins."io.containerd.monitor.task.v1.cgroups" with plugins."io.containerd.monitor.v1.cgroups"; this table's settings are dropped [v3-setting-dropped]`,
	}
	if !reflect.DeepEqual(got, wantWarns) {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantWarns, "\n"))
	}
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
