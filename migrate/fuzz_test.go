package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/internal/goldenseed"
)

// FuzzApplyIdempotent checks the promise operators rely on: whatever config
// the tool accepts, after apply a second run has nothing to change.
func FuzzApplyIdempotent(f *testing.F) {
	for _, data := range goldenseed.Files(f, "../golden/testdata", func(name string) bool {
		return name == "in/etc/containerd/config.toml"
	}) {
		f.Add(data, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		root := t.TempDir()
		path := filepath.Join(root, "etc/containerd/config.toml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		opts := Options{Root: root, ConfigFile: "/etc/containerd/config.toml"}
		opts.Target, _ = convert.ParseTarget("2.1")
		if mode&1 != 0 {
			opts.Auth = convert.AuthHeader
		}
		if mode&2 != 0 {
			opts.ToConfigVersion = 3
		}
		p, err := Build(opts)
		if err != nil || !p.Changed() {
			return
		}
		if _, err := Apply(p, ApplyOptions{NoBackup: true}); err != nil {
			if strings.Contains(err.Error(), "not a regular file") {
				return
			}
			t.Fatalf("apply: %v", err)
		}
		again, err := Build(opts)
		if err != nil {
			t.Fatalf("second run fails: %v\ninput:\n%s", err, data)
		}
		if again.Changed() {
			var changed []string
			for _, fc := range again.Files {
				if fc.Action != Unchanged {
					changed = append(changed, fc.Path+"\n"+unifiedDiff(fc.Path, fc.Before, fc.After, nil))
				}
			}
			t.Fatalf("second run changes files:\n%s\ninput:\n%s", strings.Join(changed, "\n"), data)
		}
	})
}
