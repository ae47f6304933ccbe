package convert

import (
	"strings"
	"testing"
)

// TestVersionlessImport checks which registry table each release line
// reads in a version-less import, per root version (fileversion.go).
func TestVersionlessImport(t *testing.T) {
	const (
		short  = `[plugins.cri.registry.mirrors."docker.io"]` + "\n" + `  endpoint = ["https://m.example"]` + "\n"
		long   = `[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]` + "\n" + `  endpoint = ["https://m.example"]` + "\n"
		images = `[plugins."io.containerd.cri.v1.images".registry.mirrors."docker.io"]` + "\n" + `  endpoint = ["https://m.example"]` + "\n"
	)
	tests := []struct {
		name   string
		root   string // the importing config's version line
		dropIn string
		target string
		plugin string // the table read; "" for none
		err    string
	}{
		{name: "v2 root, long name, every release", root: "version = 2", dropIn: long, plugin: "io.containerd.grpc.v1.cri"},
		{name: "v2 root, long name, 1.6", root: "version = 2", dropIn: long, target: "1.6.20", plugin: "io.containerd.grpc.v1.cri"},
		{name: "v2 root, short name, 1.x refuses to start", root: "version = 2", dropIn: short, target: "1.7", err: "refuses to start"},
		{name: "v2 root, short name, spans 1.x and 2.x", root: "version = 2", dropIn: short, err: "pass --containerd-version"},
		{name: "v2 root, short name, 2.1 renames it", root: "version = 2", dropIn: short, target: "2.1", plugin: "cri"},
		{name: "v2 root, short name, 2.4 migrates it", root: "version = 2", dropIn: short, target: "2.4", plugin: "cri"},
		{name: "v1 root, short name, 1.x", root: "", dropIn: short, target: "1.7", plugin: "cri"},
		{name: "v1 root, long name ignored on 1.x", root: "", dropIn: long, target: "1.7", plugin: ""},
		{name: "v3 root, long name, 2.0-2.2 ignore, 2.3+ apply", root: "version = 3", dropIn: long, err: "pass --containerd-version"},
		{name: "v3 root, long name, 2.2", root: "version = 3", dropIn: long, target: "2.2", plugin: ""},
		{name: "v3 root, long name, 2.3", root: "version = 3", dropIn: long, target: "2.3", plugin: "io.containerd.grpc.v1.cri"},
		{name: "v3 root, images name, 2.2", root: "version = 3", dropIn: images, target: "2.2", plugin: "io.containerd.cri.v1.images"},
		{name: "v3 root, images name, 2.3", root: "version = 3", dropIn: images, target: "2.3", plugin: "io.containerd.cri.v1.images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, err := ParseConfig("/etc/containerd/config.toml", []byte(tt.root+"\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"))
			if err != nil {
				t.Fatal(err)
			}
			dropIn, err := ParseConfig("/etc/containerd/conf.d/r.toml", []byte(tt.dropIn))
			if err != nil {
				t.Fatal(err)
			}
			target := defaultTarget
			if tt.target != "" {
				if target, err = ParseTarget(tt.target); err != nil {
					t.Fatal(err)
				}
			} else if root.Version == 3 {
				target.Min = v2_0 // as checkVersions narrows it
			}
			err = resolveVersions([]*ConfigFile{root, dropIn}, target)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if dropIn.Registry != nil {
				got = dropIn.regPlugin
			}
			if got != tt.plugin {
				t.Errorf("registry read under plugins.%q, want %q", got, tt.plugin)
			}
		})
	}
}

func TestResolveVersion3(t *testing.T) {
	cfg := "version = 3\n" +
		"[plugins.\"io.containerd.cri.v1.images\".registry.mirrors.\"a.example\"]\n  endpoint = [\"https://m.example\"]\n" +
		"[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"b.example\"]\n  endpoint = [\"https://m.example\"]\n"
	for target, want := range map[string]string{"2.2": "a.example", "2.3": "b.example", "2": "error"} {
		f, err := ParseConfig("/c.toml", []byte(cfg))
		if err != nil {
			t.Fatal(err)
		}
		tgt, _ := ParseTarget(target)
		err = resolveVersions([]*ConfigFile{f}, tgt)
		got := "error"
		if err == nil {
			got = sortedKeys(f.Registry.Mirrors)[0]
		}
		if got != want {
			t.Errorf("target %s: read %s, want %s (err %v)", target, got, want, err)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	known := []string{"endpoint", "rewrite"}
	for key, want := range map[string]string{
		"endpoints": "endpoint",
		"Endpoint":  "endpoint",
		"rewrites":  "rewrite",
		"mirrors":   "",
		"url":       "",
	} {
		if got := didYouMean(key, known); got != want {
			t.Errorf("didYouMean(%q) = %q, want %q", key, got, want)
		}
	}
	if got := didYouMean("token", []string{"username", "password", "auth", "identity_token"}); got != "identity_token" {
		t.Errorf("didYouMean(token) = %q, want identity_token", got)
	}
}

func TestInertKeyHints(t *testing.T) {
	tests := []struct {
		doc, want string
	}{
		{`[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]` + "\n  endpoint = []\n  override_path = true\n", "hosts.toml [host] setting"},
		{`[plugins."io.containerd.grpc.v1.cri".registry]` + "\n  insecure_registries = []\n", "daemon.json"},
		{`[plugins."io.containerd.grpc.v1.cri".registry.configs."h".http]` + "\n  skip_verify = true\n", "http:// endpoint"},
		{`[plugins."io.containerd.grpc.v1.cri".registry.configs."h".tls]` + "\n  skip_verify = true\n", "did you mean insecure_skip_verify"},
		{`[plugins."io.containerd.grpc.v1.cri".registry.configs."h".auth]` + "\n  usrname = \"x\"\n", "did you mean username"},
		{`[plugins."io.containerd.grpc.v1.cri".registry]` + "\n  mirror = {}\n", "did you mean mirrors"},
	}
	for _, tt := range tests {
		f, err := ParseConfig("/c.toml", []byte("version = 2\n"+tt.doc))
		if err != nil {
			t.Fatalf("%q: %v", tt.doc, err)
		}
		if len(f.inert) != 1 || f.inert[0].Code != WarnInertKey || !strings.Contains(f.inert[0].Message, tt.want) {
			t.Errorf("%q: warnings %v, want one inert-key warning containing %q", tt.doc, f.inert, tt.want)
		}
	}
}

func TestUnsafeDirName(t *testing.T) {
	for key, want := range map[string]bool{
		"783794618700.dkr.ecr.*.amazonaws.com": false,
		"https://registry.example.com":         false,
		"https://registry.example.com/":        false,
		"Registry.Example.COM:bad":             false,
		"":                                     true,
		".":                                    true,
		"..":                                   true,
		"a/b":                                  true,
		"https://registry.example.com/path":    true,
		"a\\b":                                 true,
		"a\nb":                                 true,
		"https://../x":                         true,
	} {
		if got := unsafeDirName(key); got != want {
			t.Errorf("unsafeDirName(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestK0s136Refuses(t *testing.T) {
	for doc, want := range map[string]bool{
		"":            false,
		"version = 3": false,
		"version = 3\n[plugins.\"io.containerd.cri.v1.images\".registry]\n  config_path = \"/x\"\n": false,
		"[plugins.cri.registry]\n  config_path = \"/x\"\n":                                          false,
		"version = 2": true,
		"version = 1": true,
		"[plugins.\"io.containerd.grpc.v1.cri\".registry]": true,
	} {
		if got := k0s136Refuses([]byte(doc)); got != want {
			t.Errorf("k0s136Refuses(%q) = %v, want %v", doc, got, want)
		}
	}
}

func TestVersionHex(t *testing.T) {
	f, err := ParseConfig("/c.toml", []byte("version = 0x2\n"))
	if err != nil || f.Version != 2 {
		t.Fatalf("version = 0x2: version %d, error %v; want 2", f.Version, err)
	}
}

func TestVersionlessRoot(t *testing.T) {
	const long = `[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]` + "\n" + `  endpoint = ["https://m.example"]` + "\n"
	for target, want := range map[string]string{
		"1.7": "",                          // 1.x reads plugins.cri in a version 1 config
		"2.3": "io.containerd.grpc.v1.cri", // 2.3+ migrate it and apply the long name
		"":    "error",                     // the two disagree
	} {
		f, err := ParseConfig("/etc/containerd/config.toml", []byte(long))
		if err != nil {
			t.Fatal(err)
		}
		tgt := defaultTarget
		if target != "" {
			tgt, _ = ParseTarget(target)
		}
		got := "error"
		if err := resolveVersions([]*ConfigFile{f}, tgt); err == nil {
			got = ""
			if f.Registry != nil {
				got = f.regPlugin
			}
		} else if !strings.Contains(err.Error(), "1:2:") {
			t.Errorf("target %q: error %v does not point at the registry table", target, err)
		}
		if got != want {
			t.Errorf("target %q: read %q, want %q", target, got, want)
		}
	}
}

func TestIsK0sManaged(t *testing.T) {
	for doc, want := range map[string]bool{
		"# k0s_managed=true\nversion = 2\n":   true,
		"\n# k0s_managed=true\nversion = 2\n": true, // k0s before 1.30
		"# k0s_managed=true\r\nversion = 2\n": true,
		"version = 2\n":                       false,
		"# k0s_managed=false\n":               false,
	} {
		if got := isK0sManaged([]byte(doc)); got != want {
			t.Errorf("isK0sManaged(%q) = %v, want %v", doc, got, want)
		}
	}
}

func TestRegistriesYAMLLenient(t *testing.T) {
	// configs indented under mirrors (k3s#10135): one warning at the key.
	rf, err := ParseRegistries("/r.yaml", []byte("mirrors:\n  docker.io:\n    endpoint: [\"https://m.example\"]\n  configs:\n    m.example:\n      auth: {username: u, password: p}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rf.Mirrors["configs"]; ok || len(rf.Warnings) != 1 || rf.Warnings[0].Pos.Line != 4 || !strings.Contains(rf.Warnings[0].Message, "indented one level too deep") {
		t.Errorf("configs under mirrors: mirrors %v, warnings %v", sortedKeys(rf.Mirrors), rf.Warnings)
	}
	// A key with nothing after it is YAML null, which k3s reads as "".
	rf, err = ParseRegistries("/r.yaml", []byte("configs:\n  h:5000:\n    tls:\n      ca_file: /ca.pem\n      cert_file:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tls := rf.Configs["h:5000"].TLS; tls == nil || tls.CertFile != nil || tls.CAFile == nil {
		t.Errorf("null cert_file: got %+v, want no cert_file and the CA", tls)
	}
	// A typo is a warning with a suggestion, not an error.
	rf, err = ParseRegistries("/r.yaml", []byte("mirrors:\n  docker.io:\n    endpoints: [\"https://m.example\"]\n"))
	if err != nil || len(rf.Warnings) != 1 || !strings.Contains(rf.Warnings[0].Message, "did you mean endpoint") {
		t.Errorf("endpoints typo: error %v, warnings %v", err, rf.Warnings)
	}
}
