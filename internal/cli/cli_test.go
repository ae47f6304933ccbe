package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const nodeConfig = `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.example.com"]
[plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.example.com".auth]
  username = "puller"
  password = "hunter2-secret"
`

// node lays out a node root holding config.
func node(t *testing.T, config string) string {
	t.Helper()
	root := t.TempDir()
	path := filepath.Join(root, "etc/containerd/config.toml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(config), 0o640); err != nil {
		t.Fatal(err)
	}
	return root
}

func runCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestExitCodes(t *testing.T) {
	root := node(t, nodeConfig)
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"--root", root}, exitChanges},
		{[]string{"diff", "--root", root}, exitChanges},
		{[]string{"diff", "--root", root, "--auth", "bogus"}, exitError},
		{[]string{"diff", "--root", root, "--containerd-version", "1.4"}, exitError},
		{[]string{"diff", "--root", root, "--no-such-flag"}, exitError},
		{[]string{"diff", "--root", root, "extra"}, exitError},
		{[]string{"diff", "--root", root, "--config", "/missing.toml"}, exitError},
		{[]string{"--help"}, exitOK},
		{[]string{"--version"}, exitOK},
		{[]string{"apply", "--root", root}, exitOK},
		{[]string{"diff", "--root", root}, exitOK}, // after apply
		{[]string{"apply", "--root", root}, exitOK},
	}
	for _, tt := range tests {
		if code, _, stderr := runCLI(tt.args...); code != tt.want {
			t.Errorf("%v: exit %d, want %d\n%s", tt.args, code, tt.want, stderr)
		}
	}
}

func TestHelpShowsTheThreeJobs(t *testing.T) {
	_, stdout, _ := runCLI("--help")
	for _, want := range []string{"certsd-migrate diff", "certsd-migrate apply", "-o json", "--root", "Exit status"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestJSONReport(t *testing.T) {
	root := node(t, nodeConfig)
	code, stdout, stderr := runCLI("diff", "--root", root, "-o", "json")
	if code != exitChanges {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if stderr != "" {
		t.Errorf("json mode wrote to stderr: %s", stderr)
	}
	var r struct {
		Changed bool `json:"changed"`
		Files   []struct {
			Path, Kind, Action, Mode, Before, After, Diff string
		} `json:"files"`
		Warnings []struct {
			Code     string `json:"code"`
			Message  string `json:"message"`
			Position struct {
				File   string `json:"file"`
				Line   int    `json:"line"`
				Column int    `json:"column"`
			} `json:"position"`
		} `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, stdout)
	}
	if !r.Changed || len(r.Files) != 2 {
		t.Fatalf("changed=%v with %d files, want true with 2", r.Changed, len(r.Files))
	}
	cfg := r.Files[0]
	if cfg.Path != "/etc/containerd/config.toml" || cfg.Action != "modify" || cfg.Mode != "0640" || !strings.HasPrefix(cfg.Diff, "--- a/etc/containerd/config.toml") {
		t.Errorf("config entry = %+v", cfg)
	}
	if hosts := r.Files[1]; hosts.Action != "create" || hosts.Mode != "0644" || hosts.Before != "" {
		t.Errorf("hosts entry = %+v", hosts)
	}
	if strings.Contains(stdout, "hunter2-secret") {
		t.Error("the password appears in the JSON report")
	}
	if len(r.Warnings) == 0 || r.Warnings[0].Code != "auth-kept-in-config" || r.Warnings[0].Position.Line != 4 {
		t.Errorf("warnings = %+v", r.Warnings)
	}
	_, shown, _ := runCLI("diff", "--root", root, "-o", "json", "--show-secrets")
	if !strings.Contains(shown, "hunter2-secret") {
		t.Error("--show-secrets does not show the password")
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	root := node(t, nodeConfig)
	for _, args := range [][]string{
		{"diff", "--root", root},
		{"diff", "--root", root, "--auth", "header"},
		{"diff", "--root", root, "--auth", "header", "-o", "json"},
		{"apply", "--root", root, "--auth", "header"},
	} {
		_, stdout, stderr := runCLI(args...)
		for _, secret := range []string{"hunter2-secret", "cHVsbGVyOmh1bnRlcjItc2VjcmV0"} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("%v printed a secret:\n%s%s", args, stdout, stderr)
			}
		}
	}
	// The header mode wrote the credential into a 0600 file.
	info, err := os.Stat(filepath.Join(root, "etc/containerd/certs.d/mirror.example.com/hosts.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("hosts.toml with a credential has mode %v, want 0600", info.Mode().Perm())
	}
}

func TestPathEscapeRejected(t *testing.T) {
	for _, ns := range []string{"../../etc", "a/b", "..", ""} {
		root := node(t, "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\""+ns+"\"]\n  endpoint = [\"https://m.example\"]\n")
		code, _, stderr := runCLI("apply", "--root", root)
		if code != exitError || !strings.Contains(stderr, "config.toml:2:") {
			t.Errorf("namespace %q: exit %d, stderr %q", ns, code, stderr)
		}
		entries, _ := os.ReadDir(filepath.Join(root, "etc"))
		if len(entries) != 1 {
			t.Errorf("namespace %q: something was written: %v", ns, entries)
		}
	}
}

// TestSecretsInOddShapes covers credentials that a line-by-line pattern
// cannot see: multi-line and literal strings, URL user information in
// warnings.
func TestSecretsInOddShapes(t *testing.T) {
	root := node(t, `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://bob:Hunter2xyz@mirror.example.com/"]
[plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.example.com".auth]
  username = "puller"
  password = '''Sup3r"Secret'''
[plugins."io.containerd.grpc.v1.cri".registry.auths."https://other.example.com"]
  identitytoken = """
MultiLineToken123
"""
`)
	for _, args := range [][]string{
		{"diff", "--root", root},
		{"diff", "--root", root, "-o", "json"},
		{"diff", "--root", root, "--auth", "header"},
		{"diff", "--root", root, "--auth", "header", "-o", "json"},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != exitChanges {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		for _, secret := range []string{"Hunter2xyz", "Sup3r", "MultiLineToken123"} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("%v printed %q:\n%s%s", args, secret, stdout, stderr)
			}
		}
	}
}

func TestColorAndBackupFlags(t *testing.T) {
	root := node(t, nodeConfig)
	_, colored, _ := runCLI("diff", "--root", root, "--color", "always")
	if !strings.Contains(colored, "\x1b[31m-") || !strings.Contains(colored, "\x1b[32m+") {
		t.Errorf("--color always printed no coloured lines:\n%q", colored)
	}
	for _, mode := range []string{"never", "auto"} { // auto: stdout is not a terminal
		if _, plain, _ := runCLI("diff", "--root", root, "--color", mode); strings.Contains(plain, "\x1b[") {
			t.Errorf("--color %s printed escape sequences", mode)
		}
	}
	if code, _, stderr := runCLI("apply", "--root", root, "--no-backup"); code != exitOK {
		t.Fatalf("apply exit %d: %s", code, stderr)
	}
	entries, err := os.ReadDir(filepath.Join(root, "etc/containerd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".bak") {
			t.Errorf("--no-backup left a backup: %s", e.Name())
		}
	}
	root2 := node(t, nodeConfig)
	if code, _, stderr := runCLI("apply", "--root", root2); code != exitOK || !strings.Contains(stderr, "backup /etc/containerd/config.toml.certsd-migrate-") {
		t.Errorf("apply without --no-backup: exit %d, stderr %q", code, stderr)
	}
}
