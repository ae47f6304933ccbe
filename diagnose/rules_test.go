package diagnose

import (
	"testing"

	"github.com/certsd-migrate/certsd-migrate/convert"
)

func TestHTTPSFirst(t *testing.T) {
	for _, c := range []struct {
		v    version
		host string
		want bool
	}{
		{ver(1, 6, 20), "m:5000", false},
		{ver(1, 6, 25), "m:5000", true},
		{ver(1, 6, 25), "m", false},
		{ver(1, 6, 25), "m:80", false},
		{ver(1, 7, 6), "m:5000", false},
		{ver(1, 7, 7), "m", true},
		{ver(1, 7, 7), "m:80", true},
		{ver(1, 7, 8), "m", false},
		{ver(1, 7, 24), "m", true},
		{ver(1, 7, 24), "m:80", false},
		{ver(2, 4, 2), "m", true},
		{ver(2, 4, 2), "m:80", false},
	} {
		if got := (release{c.v}).httpsFirst(c.host); got != c.want {
			t.Errorf("%s httpsFirst(%s) = %v, want %v", c.v, c.host, got, c.want)
		}
	}
}

func TestLocalhostUpstream(t *testing.T) {
	for _, c := range []struct {
		v      version
		host   string
		scheme string
		skip   bool
	}{
		{ver(1, 6, 8), "localhost:5000", "https", false},
		{ver(1, 6, 9), "localhost:5000", "http", true},
		{ver(1, 6, 25), "localhost:5000", "http", true},
		{ver(1, 6, 25), "localhost", "https", true},
		{ver(1, 6, 25), "127.0.0.1:80", "http", false},
		{ver(1, 7, 0), "localhost", "http", true},
		{ver(1, 7, 8), "localhost:443", "https", true},
		{ver(2, 4, 2), "localhost:5000", "http", true},
	} {
		scheme, skip := (release{c.v}).localhostUpstream(c.host)
		if scheme != c.scheme || skip != c.skip {
			t.Errorf("%s localhostUpstream(%s) = %s, %v; want %s, %v", c.v, c.host, scheme, skip, c.scheme, c.skip)
		}
	}
}

func TestWindows(t *testing.T) {
	min, max := targetRange(convert.Target{})
	ws := windows(min, max)
	if ws[0].from != ver(1, 6, 17) || ws[len(ws)-1].to != ver(2, 99, 99) {
		t.Fatalf("windows span %s–%s", ws[0].from, ws[len(ws)-1].to)
	}
	for i := 1; i < len(ws); i++ {
		if before(ws[i].from) != ws[i-1].to {
			t.Errorf("window %d starts at %s but the previous ends at %s", i, ws[i].from, ws[i-1].to)
		}
	}
	t17, _ := convert.ParseTarget("1.7")
	min, max = targetRange(t17)
	got := []string{}
	for _, w := range windows(min, max) {
		got = append(got, versionRange(w.from, w.to))
	}
	want := []string{"1.7.0–1.7.6", "1.7.7", "1.7.8–1.7.23", "1.7.24–1.7.31", "1.7.32–1.7.x"}
	if len(got) != len(want) {
		t.Fatalf("1.7 windows %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("1.7 window %d = %s, want %s", i, got[i], want[i])
		}
	}
}

func TestDirectoryNames(t *testing.T) {
	for _, c := range []struct {
		name, code, ns string
		read           bool
	}{
		{"registry.example.com_5000", "dir-port-missing-underscore", "", false},
		{"registry.example.com_5000_", "", "registry.example.com:5000", true},
		{"registry.example.com:5000", "", "registry.example.com:5000", true},
		{"https:", "dir-name-has-scheme", "", false},
		{"docker.io", "", "docker.io", true},
		{"my_registry", "", "my_registry", true},
	} {
		code, _ := misnamed(c.name)
		ns, read := namespaceOf(c.name)
		if code != c.code || read != c.read || read && ns != c.ns {
			t.Errorf("%s: code %q, namespace %q (%v); want %q, %q (%v)", c.name, code, ns, read, c.code, c.ns, c.read)
		}
	}
	if got := hostDirectory("[::1]:5000"); got != "[::1]_5000_" {
		t.Errorf("hostDirectory([::1]:5000) = %s", got)
	}
}

func TestBackupNamesBesideHostsToml(t *testing.T) {
	for name, want := range map[string]bool{
		"hosts.toml.certsd-migrate-20261201T101500Z.bak":   true,
		"hosts.toml.certsd-migrate-20261201T101500Z.bak.1": true,
		"hosts.toml~":     true,
		"hosts.toml.orig": true,
		"Hosts.toml":      false,
		"hosts.yaml":      false,
	} {
		if got := isBackup(name); got != want {
			t.Errorf("isBackup(%s) = %v, want %v", name, got, want)
		}
	}
}
