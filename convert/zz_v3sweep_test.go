package convert

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/certsd-migrate/certsd-migrate/internal/tomldoc"
)

func TestV3Sweep(t *testing.T) {
	var files []string
	filepath.Walk("..", func(p string, info os.FileInfo, err error) error {
		if strings.HasSuffix(p, ".txtar") || strings.HasSuffix(p, ".toml") {
			files = append(files, p)
		}
		return nil
	})
	n, ok, refused := 0, 0, map[string]int{}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		var parts [][2]string
		if strings.HasSuffix(f, ".txtar") {
			secs := strings.Split("\n"+string(data), "\n-- ")
			for _, s := range secs[1:] {
				i := strings.Index(s, " --\n")
				if i < 0 { continue }
				name := s[:i]
				if strings.HasSuffix(name, ".toml") && !strings.Contains(name, "hosts.toml") {
					parts = append(parts, [2]string{f + ":" + name, s[i+4:]})
				}
			}
		} else {
			parts = append(parts, [2]string{f, string(data)})
		}
		for _, p := range parts {
			if _, err := tomldoc.Parse([]byte(p[1])); err != nil { continue }
			n++
			out, _, err := ToVersion3(p[0], []byte(p[1]))
			if err != nil {
				msg := err.Error()
				if i := strings.Index(msg, ": "); i > 0 { msg = msg[i+2:] }
				refused[msg]++
				continue
			}
			ok++
			var in, got map[string]any
			if toml.Unmarshal([]byte(p[1]), &in) != nil { continue }
			if err := toml.Unmarshal(out, &got); err != nil { t.Errorf("%s: %v", p[0], err); continue }
			want := v3Oracle(t, in)
			if g, w := v3Normalize(t, got), v3Normalize(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("%s: semantic mismatch\n%v\n%v\nin:\n%s\nout:\n%s", p[0], g, w, p[1], out)
			}
		}
	}
	t.Logf("%d configs, %d converted", n, ok)
	for m, c := range refused { t.Logf("%d× %s", c, m) }
}
