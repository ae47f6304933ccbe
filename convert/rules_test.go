package convert

import (
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in       string
		url      string
		override bool
		warn     string // a warning code, if one is expected
		err      string
	}{
		{in: "https://mirror.example.com", url: "https://mirror.example.com"},
		{in: "mirror.example.com", url: "https://mirror.example.com"},
		{in: "mirror.example.com:5000", url: "https://mirror.example.com:5000"},
		{in: "localhost:5000", url: "http://localhost:5000"},
		{in: "127.0.0.1:5000", url: "http://127.0.0.1:5000"},
		{in: "127.0.0.2", url: "http://127.0.0.2"}, // any loopback address (1.6.0+)
		{in: "[::1]:5000", url: "http://[::1]:5000"},
		{in: "http://mirror.example.com", url: "http://mirror.example.com"},
		{in: "https://m.example/v2", url: "https://m.example"},
		{in: "https://m.example/v2/", url: "https://m.example"},
		{in: "https://m.example/x/v2", url: "https://m.example/x/v2"},
		{in: "https://m.example/prefix", url: "https://m.example/prefix", override: true},
		{in: "https://m.example/prefix/", url: "https://m.example/prefix", override: true},
		{in: "https://m.example/", url: "https://m.example/", override: true, warn: WarnEndpointRootPath},
		{in: "https://user:pw@m.example", url: "https://m.example", warn: WarnEndpointUserinfo},
		{in: "https://m.example?x=1", url: "https://m.example"},
		{in: "ftp://m.example", err: "scheme must be http or https"},
		{in: "https://", err: "empty host"},
		{in: "https://m.example:99999", err: "invalid port"},
		{in: "http://[::1", err: "invalid mirror endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var warnings []Warning
			ep, err := parseEndpoint(stringSetting{Value: tt.in}, func(w Warning) { warnings = append(warnings, w) })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ep.URL() != tt.url || ep.OverridePath != tt.override {
				t.Errorf("got %s override=%v, want %s override=%v", ep.URL(), ep.OverridePath, tt.url, tt.override)
			}
			var codes []string
			for _, w := range warnings {
				codes = append(codes, w.Code)
			}
			if got := strings.Join(codes, ","); got != tt.warn {
				t.Errorf("warnings %q, want %q", got, tt.warn)
			}
			for _, w := range warnings {
				if strings.Contains(w.Message, "pw") {
					t.Errorf("warning leaks the password: %s", w.Message)
				}
			}
		})
	}
}

func TestUpstream(t *testing.T) {
	tests := map[string]string{
		"docker.io":        "https://registry-1.docker.io",
		"quay.io":          "https://quay.io",
		"localhost:5000":   "http://localhost:5000",
		"127.0.0.1":        "http://127.0.0.1",
		"[::1]:5000":       "http://[::1]:5000",
		"registry.local:5": "https://registry.local:5",
	}
	for ns, want := range tests {
		if got := upstream(ns).URL(); got != want {
			t.Errorf("upstream(%q) = %s, want %s", ns, got, want)
		}
	}
}

func TestValidHost(t *testing.T) {
	valid := []string{"docker.io", "registry-1.docker.io", "myreg:5000", "10.0.0.1:443", "[::1]:5000", "[fe80::1]", "my_reg.local", "UPPER.example"}
	invalid := []string{"", ".", "..", "../x", "a/b", "a..b", "/etc", "x:", "x:0", "x:65536", "x:abc", "[::1", "[::1]x", "bad\x00name", "with space", "_default", "-x", "https://x", "[1.2.3.4]"}
	for _, h := range valid {
		if err := validHost(h); err != nil {
			t.Errorf("validHost(%q) = %v, want nil", h, err)
		}
	}
	for _, h := range invalid {
		if err := validHost(h); err == nil {
			t.Errorf("validHost(%q) = nil, want an error", h)
		}
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in       string
		min, max string
		err      bool
	}{
		{in: "1.6.20", min: "1.6.20", max: "1.6.20"},
		{in: "v1.7", min: "1.7.0", max: "1.7.99"},
		{in: "2", min: "2.0.0", max: "2.99.99"},
		{in: "1.6.20~ds1", min: "1.6.20", max: "1.6.20"},
		{in: "2.1.0-rc.1", min: "2.1.0", max: "2.1.0"},
		{in: "1.5.18", err: true},
		{in: "1.x", err: true},
		{in: "", err: true},
		{in: "1.2.3.4", err: true},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("ParseTarget(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got.Min.String() != tt.min || got.Max.String() != tt.max {
			t.Errorf("ParseTarget(%q) = %v..%v, %v; want %s..%s", tt.in, got.Min, got.Max, err, tt.min, tt.max)
		}
	}
}

func TestBasicAuth(t *testing.T) {
	tests := []struct {
		auth authConfig
		want string
		err  bool
	}{
		{auth: authConfig{Username: "u", Password: "p"}, want: "Basic dTpw"},
		{auth: authConfig{Username: "u", Password: "p", Auth: "eDp5"}, want: "Basic dTpw"}, // username first
		{auth: authConfig{Auth: "dTpw"}, want: "Basic dTpw"},
		{auth: authConfig{IdentityToken: "tok", Auth: "dTpw"}, want: ""}, // identitytoken before auth
		{auth: authConfig{Auth: "not base64!"}, err: true},
		{auth: authConfig{Auth: "bm9jb2xvbg=="}, err: true}, // "nocolon"
		{auth: authConfig{}, err: true},
	}
	for _, tt := range tests {
		got, err := basicAuth(&tt.auth)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("basicAuth(%+v) = %q, %v; want %q, error %v", tt.auth, got, err, tt.want, tt.err)
		}
	}
}

func TestImportGlobFromWorkDir(t *testing.T) {
	tests := []struct {
		target    string
		all, some bool
	}{
		{"1.6.20", true, true},
		{"1.6.28", true, true},
		{"1.6.29", false, false},
		{"1.6", false, true},
		{"1.7.15", true, true},
		{"1.7.16", false, false},
		{"1.7", false, true},
		{"2.1", false, false},
		{"", false, true}, // the default target spans both
	}
	for _, tt := range tests {
		var target Target
		if tt.target != "" {
			var err error
			if target, err = ParseTarget(tt.target); err != nil {
				t.Fatal(err)
			}
		}
		all, some := target.ImportGlobFromWorkDir()
		if all != tt.all || some != tt.some {
			t.Errorf("%q: all=%v some=%v, want %v %v", tt.target, all, some, tt.all, tt.some)
		}
	}
}
