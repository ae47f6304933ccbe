package migrate

import (
	"io"
	"testing"
)

// BenchmarkPreviewExample is a whole preview of the bundled example node:
// read the config and the CA file, convert, plan, and print the diff.
func BenchmarkPreviewExample(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		p, err := Build(Options{Root: "../examples/node", ConfigFile: "/etc/containerd/config.toml"})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.WriteDiff(io.Discard, false, false); err != nil {
			b.Fatal(err)
		}
	}
}
