package convert

import (
	"strings"
	"testing"
)

// TestEditShapes covers the TOML shapes a registry table can take, one
// case per testdata/edit/*.txtar: the edit must keep every other byte and
// leave a config containerd accepts. A case holds in.toml and either
// want.toml (the edited file) or error (the start of the error message),
// and optionally certs-dir (--certs-dir).
func TestEditShapes(t *testing.T) {
	for _, c := range loadCases(t, "testdata/edit") {
		t.Run(c.name, func(t *testing.T) {
			opts := Options{CertsDir: strings.TrimSpace(c.section("certs-dir"))}
			checkEdit(t, c.mustSection(t, "in.toml"), opts, c.section("want.toml"), strings.TrimSpace(c.section("error")))
		})
	}
}

// TestEditNoFinalNewline covers an input without a final newline, which a
// txtar section cannot hold.
func TestEditNoFinalNewline(t *testing.T) {
	in := "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m.example\"]"
	want := "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry]\n  config_path = \"/etc/containerd/certs.d\"\n"
	checkEdit(t, in, Options{}, want, "")
}

func checkEdit(t *testing.T, in string, opts Options, want, wantErr string) {
	t.Helper()
	f, err := ParseConfig("/etc/containerd/config.toml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert([]*ConfigFile{f}, opts)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error = %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(res.ConfigEdits) != 1 {
		t.Fatalf("%d configs edited, want 1", len(res.ConfigEdits))
	}
	if got := string(res.ConfigEdits[0].After); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
