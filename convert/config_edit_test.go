package convert

import (
	"strings"
	"testing"
)

// TestTrimShapes covers the TOML shapes a registry table can take: the
// edit must keep every other byte and leave a config containerd accepts.
func TestTrimShapes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" with err set
		err  string
		opts Options
	}{{
		name: "dotted keys in the CRI plugin table",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "pause:3.9"
  registry.mirrors."docker.io".endpoint = ["https://m.example"]
  enable_selinux = false
`,
		want: `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "pause:3.9"
  registry.config_path = "/etc/containerd/certs.d"
  enable_selinux = false
`,
	}, {
		name: "inline mirrors table",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  mirrors = { "docker.io" = { endpoint = ["https://m.example"] } }
  # keep me
`,
		want: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
  # keep me
`,
	}, {
		name: "inline registry table",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  registry = { mirrors = { "docker.io" = { endpoint = ["https://m.example"] } } }
  sandbox_image = "pause:3.9"
`,
		want: `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  registry.config_path = "/etc/containerd/certs.d"
  sandbox_image = "pause:3.9"
`,
	}, {
		name: "inline table mixing tls and auth",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.configs]
  "m.example" = { tls = { insecure_skip_verify = true }, auth = { username = "u", password = "p" } }
`,
		err: "config.toml:3:3: this inline table mixes",
	}, {
		name: "existing config_path is replaced",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/old/dir" # half migrated
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://m.example"]
`,
		opts: Options{CertsDir: "/new/dir"},
		want: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/new/dir" # half migrated
`,
	}, {
		name: "registry only through sub-tables, with a table after it",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://m.example"]

[plugins."io.containerd.grpc.v1.cri".registry.configs."m.example".auth]
  username = "u"

[metrics]
  address = ""
`,
		want: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"

[plugins."io.containerd.grpc.v1.cri".registry.configs."m.example".auth]
  username = "u"

[metrics]
  address = ""
`,
	}, {
		name: "auths fold into configs, overriding configs auth",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = ""
  [plugins."io.containerd.grpc.v1.cri".registry.configs."m.example".auth]
    username = "old"
  [plugins."io.containerd.grpc.v1.cri".registry.auths."https://m.example"]
    username = "new"
    password = "pw"

[metrics]
  address = ""
`,
		want: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"

[plugins."io.containerd.grpc.v1.cri".registry.configs."m.example".auth]
  username = "new"
  password = "pw"

[metrics]
  address = ""
`,
	}, {
		name: "CRLF line endings are kept",
		in:   "version = 2\r\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\r\n  [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\r\n    endpoint = [\"https://m.example\"]\r\n",
		want: "version = 2\r\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\r\n  config_path = \"/etc/containerd/certs.d\"\r\n",
	}, {
		name: "no trailing newline",
		in:   "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m.example\"]",
		want: "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n",
	}, {
		name: "empty tls table and empty configs go",
		in: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
  [plugins."io.containerd.grpc.v1.cri".registry.configs]
    [plugins."io.containerd.grpc.v1.cri".registry.configs."m.example"]
      [plugins."io.containerd.grpc.v1.cri".registry.configs."m.example".tls]
`,
		want: `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseConfig("/etc/containerd/config.toml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Convert([]*ConfigFile{f}, tt.opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.ConfigEdits) != 1 {
				t.Fatalf("%d configs edited, want 1", len(res.ConfigEdits))
			}
			if got := string(res.ConfigEdits[0].After); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}
