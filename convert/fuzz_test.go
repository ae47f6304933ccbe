package convert

import (
	"os"
	"strings"
	"testing"

	"github.com/certsd-migrate/certsd-migrate/internal/goldenseed"
	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

// FuzzConvert feeds arbitrary config.toml bytes through the conversion: it
// must never panic, and whatever it produces must parse again, with the
// edited config free of mirrors and tls tables.
func FuzzConvert(f *testing.F) {
	for _, data := range goldenseed.Files(f, "../golden/testdata", func(name string) bool {
		return strings.HasPrefix(name, "in/") && strings.HasSuffix(name, ".toml")
	}) {
		f.Add(data, uint8(0))
	}
	if data, err := os.ReadFile("../examples/node/etc/containerd/config.toml"); err == nil {
		f.Add(data, uint8(1))
	}
	f.Add([]byte("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"*\"]\nendpoint = [\"m\"]\n"), uint8(3))
	f.Add([]byte("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.x]\nruntime_type = \"y\"\n"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		cf, err := ParseConfig("/etc/containerd/config.toml", data)
		if err != nil {
			return
		}
		opts := Options{}
		if mode&1 != 0 {
			opts.Auth = AuthHeader
		}
		if mode&2 != 0 {
			opts.ToConfigVersion = 3
		}
		res, err := Convert([]*ConfigFile{cf}, opts)
		if err != nil {
			return
		}
		for _, c := range res.ConfigEdits {
			again, err := ParseConfig(c.Path, c.After)
			if err != nil {
				t.Fatalf("edited config does not parse: %v\n%s", err, c.After)
			}
			if r := again.Registry; r != nil && len(r.Mirrors) > 0 {
				t.Fatalf("edited config still has mirrors:\n%s", c.After)
			}
		}
		for _, h := range res.Hosts {
			if validHost(h.Namespace) != nil && h.Namespace != "*" {
				t.Fatalf("unsafe directory name %q", h.Namespace)
			}
			if _, err := tomldoc.Parse(h.Render()); err != nil {
				t.Fatalf("hosts.toml for %s does not parse: %v\n%s", h.Namespace, err, h.Render())
			}
		}
	})
}

// FuzzRegistries does the same for registries.yaml input.
func FuzzRegistries(f *testing.F) {
	for _, data := range goldenseed.Files(f, "../golden/testdata", func(name string) bool {
		return strings.HasSuffix(name, "registries.yaml")
	}) {
		f.Add(data)
	}
	f.Add([]byte("mirrors:\n  docker.io:\n    endpoint: [\"m:5000/x\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rf, err := ParseRegistries("/etc/rancher/k3s/registries.yaml", data)
		if err != nil {
			return
		}
		opts := Options{RewriteToPath: true}
		if len(data)%2 == 0 {
			opts = Options{Flavor: FlavorK3s, Auth: AuthHeader}
		}
		res, err := ConvertRegistries(rf, nil, "/etc/containerd/config.toml", opts)
		if err != nil {
			return
		}
		for _, c := range res.ConfigEdits {
			if _, err := ParseConfig(c.Path, c.After); err != nil {
				t.Fatalf("config does not parse: %v\n%s", err, c.After)
			}
		}
		for _, h := range res.Hosts {
			if h.Namespace != "*" && validHost(h.Namespace) != nil {
				t.Fatalf("unsafe directory name %q", h.Namespace)
			}
			if _, err := tomldoc.Parse(h.Render()); err != nil {
				t.Fatalf("hosts.toml for %s does not parse: %v\n%s", h.Namespace, err, h.Render())
			}
		}
	})
}
