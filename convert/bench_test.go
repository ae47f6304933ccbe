package convert

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// BenchmarkTypicalNode converts the bundled example node's config: parse,
// convert, render every hosts file.
func BenchmarkTypicalNode(b *testing.B) {
	data, err := os.ReadFile("../examples/node/etc/containerd/config.toml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		convertAndRender(b, data)
	}
}

// BenchmarkNamespaces converts generated configs with n mirrored
// namespaces, each with a TLS host; ns/op over n shows whether the cost
// stays linear.
func BenchmarkNamespaces(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		data := generatedConfig(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				convertAndRender(b, data)
			}
		})
	}
}

func convertAndRender(b *testing.B, data []byte) {
	f, err := ParseConfig("/etc/containerd/config.toml", data)
	if err != nil {
		b.Fatal(err)
	}
	res, err := Convert([]*ConfigFile{f}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range res.Hosts {
		_ = h.Render()
	}
}

func generatedConfig(n int) []byte {
	var s strings.Builder
	s.WriteString("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n")
	for i := range n {
		fmt.Fprintf(&s, "[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"reg%d.example.com\"]\n  endpoint = [\"https://mirror%d.example.com\", \"https://backup.example.com/reg%d\"]\n", i, i, i)
		fmt.Fprintf(&s, "[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"mirror%d.example.com\".tls]\n  ca_file = \"/etc/certs/ca%d.pem\"\n", i, i)
	}
	return []byte(s.String())
}
