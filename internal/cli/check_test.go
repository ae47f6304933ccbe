package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const migratedConfig = `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "/etc/containerd/certs.d"
`

func writeNodeFile(t *testing.T, root, p, content string) {
	t.Helper()
	full := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckExitCodes: 0 without findings at warning or above, 1 with
// them, 2 when the node cannot be read or the flags are wrong.
func TestCheckExitCodes(t *testing.T) {
	clean := node(t, migratedConfig)
	writeNodeFile(t, clean, "etc/containerd/certs.d/docker.io/hosts.toml", "server = \"https://registry-1.docker.io\"\n[host.\"https://mirror.example.com\"]\n  capabilities = [\"pull\", \"resolve\"]\n")
	infoOnly := node(t, migratedConfig)
	writeNodeFile(t, infoOnly, "etc/containerd/certs.d/docker.io/hosts.toml", "server = \"https://registry-1.docker.io\"\n[host.\"https://mirror.example.com\"]\n  ca = \"ca.crt\"\n")
	ca, err := os.ReadFile("../../golden/testdata/check/cert-file-extension.txtar")
	if err != nil {
		t.Fatal(err)
	}
	_, pem, _ := strings.Cut(string(ca), "-- in/etc/containerd/certs.d/registry.example.com/ca.crt --\n")
	pem, _, _ = strings.Cut(pem, "\n-- ")
	writeNodeFile(t, infoOnly, "etc/containerd/certs.d/docker.io/ca.crt", pem+"\n")
	legacy := node(t, nodeConfig)
	broken := node(t, "version = 2\n[plugins\n")
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"check", "--root", clean}, checkClean},
		{[]string{"check", "--root", infoOnly}, checkClean}, // a relative ca path is info
		{[]string{"check", "--root", legacy}, checkFindings},
		{[]string{"check", "--root", broken}, checkUnread},
		{[]string{"check", "--root", clean, "--config", "/missing.toml"}, checkUnread},
		{[]string{"check", "--root", clean, "-o", "yaml"}, checkUnread},
		{[]string{"check", "--root", clean, "--containerd-version", "1.4"}, checkUnread},
		{[]string{"check", "--root", clean, "extra"}, checkUnread},
		{[]string{"check", "--root", clean, "--no-such-flag"}, checkUnread},
		{[]string{"check", "--help"}, checkClean},
	} {
		if code, stdout, stderr := runCLI(tt.args...); code != tt.want {
			t.Errorf("%v: exit %d, want %d\n%s%s", tt.args, code, tt.want, stdout, stderr)
		}
	}
	// A node without any config file is read (containerd runs on defaults).
	empty := t.TempDir()
	if code, stdout, stderr := runCLI("check", "--root", empty); code != checkClean {
		t.Errorf("empty node: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestCheckJSON: one object, findings with code, severity and position;
// header values redacted unless --show-secrets.
func TestCheckJSON(t *testing.T) {
	root := node(t, migratedConfig)
	writeNodeFile(t, root, "etc/containerd/certs.d/ghcr.io/hosts.toml", "server = \"https://ghcr.io\"\n[host.\"https://ghcr.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  [host.\"https://ghcr.io\".header]\n    authorization = \"Basic c2VjcmV0LXZhbHVl\"\n")
	code, stdout, stderr := runCLI("check", "--root", root, "-o", "json", "-v")
	if code != checkFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r struct {
		Findings []struct {
			Code, Severity string
			Position       struct {
				File string
				Line int
			}
		}
		Namespaces []struct {
			Namespace string
			Hosts     []struct{ Header map[string][]string }
			Test      []string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, f := range r.Findings {
		codes = append(codes, f.Code+"/"+f.Severity)
		if f.Position.File == "" {
			t.Errorf("%s has no position", f.Code)
		}
	}
	if got := strings.Join(codes, " "); !strings.Contains(got, "header-authorization-case/warning") {
		t.Errorf("findings %s lack header-authorization-case", got)
	}
	if strings.Contains(stdout, "c2VjcmV0LXZhbHVl") {
		t.Error("the header value is printed without --show-secrets")
	}
	if len(r.Namespaces) != 1 || r.Namespaces[0].Namespace != "ghcr.io" || len(r.Namespaces[0].Test) != 3 {
		t.Errorf("namespaces: %+v", r.Namespaces)
	}
	if _, stdout, _ := runCLI("check", "--root", root, "-o", "json", "-v", "--show-secrets"); !strings.Contains(stdout, "c2VjcmV0LXZhbHVl") {
		t.Error("--show-secrets does not print the header value")
	}
}

// TestCheckHidesURLUserinfo: a host URL's user information, quoted in a
// finding, is redacted.
func TestCheckHidesURLUserinfo(t *testing.T) {
	root := node(t, migratedConfig)
	writeNodeFile(t, root, "etc/containerd/certs.d/docker.io/hosts.toml", "[host.\"http://puller:pa55word@mirror.example.com\"]\n  skip_verify = true\n")
	for _, o := range []string{"text", "json"} {
		code, stdout, _ := runCLI("check", "--root", root, "-o", o)
		if code != checkFindings || !strings.Contains(stdout, "tls-on-http-host") {
			t.Fatalf("%s: exit %d, want the tls-on-http-host finding:\n%s", o, code, stdout)
		}
		if strings.Contains(stdout, "pa55word") {
			t.Errorf("%s output prints the URL's password:\n%s", o, stdout)
		}
	}
}

// TestCheckJSONError: with -o json a node that cannot be read still gives
// one JSON object on stdout, the error with its position and kind, as diff
// and apply give.
func TestCheckJSONError(t *testing.T) {
	broken := node(t, "version = 2\n[plugins\n")
	code, stdout, stderr := runCLI("check", "--root", broken, "-o", "json")
	if code != checkUnread {
		t.Fatalf("exit %d, want %d\n%s%s", code, checkUnread, stdout, stderr)
	}
	var got errorObject
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout)
	}
	e := got.Error
	if e.Kind != kindSyntax || !strings.HasSuffix(e.File, "/etc/containerd/config.toml") || e.Line != 2 || e.Message == "" {
		t.Errorf("error object %+v, want a syntax error at config.toml line 2", e)
	}
}
