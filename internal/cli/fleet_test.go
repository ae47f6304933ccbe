package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The CLI's side of fleet automation (issue 10): errors as JSON, a node on
// containerd's defaults, --fail-on-warnings, and the apply record that
// tells a migrated node whose containerd has not restarted.

type jsonError struct {
	Error *struct {
		Message string `json:"message"`
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Kind    string `json:"kind"`
	} `json:"error"`
}

func TestJSONErrors(t *testing.T) {
	syntax := node(t, "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\n  endpoint = [\"https://m.example.com]\n")
	conflict := node(t, nodeConfig)
	writeTestFile(t, filepath.Join(conflict, "etc/containerd/certs.d/docker.io/hosts.toml"), "server = \"https://mine.example\"\n")
	plain := node(t, nodeConfig)
	tests := []struct {
		name       string
		args       []string
		kind, file string
		line, col  int
		msg        string
	}{
		{"syntax", []string{"diff", "--root", syntax}, "syntax", "/etc/containerd/config.toml", 3, 38, "/etc/containerd/config.toml:3:38: invalid TOML"},
		{"conflict", []string{"apply", "--root", conflict}, "conflict", "/etc/containerd/certs.d/docker.io/hosts.toml", 0, 0, "not written by certsd-migrate"},
		{"bad value", []string{"diff", "--root", plain, "--auth", "bogus"}, "usage", "", 0, 0, "--auth must be keep or header"},
		{"bad flag", []string{"diff", "-o", "json", "--root", plain, "--bogus"}, "usage", "", 0, 0, "unknown flag: --bogus"},
		{"extra argument", []string{"diff", "--root", plain, "extra"}, "usage", "", 0, 0, `unexpected argument "extra"`},
		{"missing named config", []string{"diff", "--root", plain, "--config", "/etc/none.toml"}, "system", "", 0, 0, "reading /etc/none.toml"},
		{"warnings", []string{"apply", "--root", plain, "--fail-on-warnings", "all"}, "warnings", "/etc/containerd/config.toml", 4, 2, "[auth-kept-in-config] (--fail-on-warnings auth-kept-in-config); nothing was written"},
		{"strict", []string{"apply", "--root", plain, "--strict"}, "warnings", "/etc/containerd/config.toml", 4, 2, "[auth-kept-in-config] (--strict makes every warning an error); nothing was written"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if args[1] != "-o" {
				args = append(args, "-o", "json")
			}
			code, stdout, stderr := runCLI(args...)
			if code != exitError {
				t.Fatalf("exit %d, want %d", code, exitError)
			}
			var e jsonError
			if err := json.Unmarshal([]byte(stdout), &e); err != nil || e.Error == nil {
				t.Fatalf("stdout is not an error object (%v):\n%s", err, stdout)
			}
			got := *e.Error
			if got.Kind != tt.kind || got.File != tt.file || got.Line != tt.line || got.Column != tt.col || !strings.Contains(got.Message, tt.msg) {
				t.Errorf("error = %+v, want kind %s at %s:%d:%d with %q", got, tt.kind, tt.file, tt.line, tt.col, tt.msg)
			}
			inStderr := tt.msg
			if tt.name == "strict" { // --strict prints each warning as an error line
				inStderr = "--strict makes every warning an error; nothing was written"
			}
			if !strings.Contains(stderr, inStderr) {
				t.Errorf("stderr lacks %q: %s", inStderr, stderr)
			}
			if strings.Contains(stdout, "hunter2-secret") {
				t.Error("the error object shows the password")
			}
		})
	}
	// Text mode: the message on stderr only.
	if _, stdout, _ := runCLI("diff", "--root", syntax); stdout != "" {
		t.Errorf("text mode printed on stdout: %s", stdout)
	}
}

func TestNoDefaultConfigIsNothingToMigrate(t *testing.T) {
	root := t.TempDir() // containerd runs on its defaults
	if code, stdout, stderr := runCLI("diff", "--root", root); code != exitOK || stdout != "" || stderr != "" {
		t.Errorf("diff: exit %d, stdout %q, stderr %q; want 0 and silence", code, stdout, stderr)
	}
	code, stdout, _ := runCLI("apply", "--root", root, "-o", "json")
	var r struct {
		Changed  bool              `json:"changed"`
		NoConfig bool              `json:"no_config"`
		Files    []json.RawMessage `json:"files"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != exitOK || r.Changed || !r.NoConfig || len(r.Files) != 0 {
		t.Errorf("apply -o json: exit %d, %+v (%v)\n%s", code, r, err, stdout)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("apply wrote to a node with no config: %v", entries)
	}
	// A config that was named must exist; so must registries.yaml.
	if code, _, _ := runCLI("diff", "--root", root, "--config", "/etc/containerd/config.toml"); code != exitError {
		t.Errorf("--config naming a missing file: exit %d, want %d", code, exitError)
	}
	if code, _, _ := runCLI("diff", "--root", root, "--registries", "/etc/rancher/k3s/registries.yaml"); code != exitError {
		t.Errorf("--registries naming a missing file: exit %d, want %d", code, exitError)
	}
}

func TestFailOnWarnings(t *testing.T) {
	tests := []struct {
		codes string
		want  int
	}{
		{"auth-kept-in-config", exitError},
		{"duplicate-endpoint,auth-kept-in-config", exitError},
		{"all", exitError},
		{"duplicate-endpoint", exitOK},
		{"", exitOK},
		{"Not_A_Code", exitError},
		{"all,duplicate-endpoint", exitError},
	}
	for _, tt := range tests {
		root := node(t, nodeConfig)
		config := filepath.Join(root, "etc/containerd/config.toml")
		args := []string{"apply", "--root", root}
		if tt.codes != "" {
			args = append(args, "--fail-on-warnings", tt.codes)
		}
		code, _, stderr := runCLI(args...)
		if code != tt.want {
			t.Errorf("--fail-on-warnings %q: exit %d, want %d\n%s", tt.codes, code, tt.want, stderr)
		}
		after, _ := os.ReadFile(config)
		if written := string(after) != nodeConfig; written != (tt.want == exitOK) {
			t.Errorf("--fail-on-warnings %q: config written = %v", tt.codes, written)
		}
		if _, err := os.Stat(filepath.Join(root, "etc/containerd/certs.d")); (err == nil) != (tt.want == exitOK) {
			t.Errorf("--fail-on-warnings %q: certs.d exists = %v", tt.codes, err == nil)
		}
	}
	// diff stops too (exit 2, not "changes pending").
	root := node(t, nodeConfig)
	if code, _, _ := runCLI("diff", "--root", root, "--fail-on-warnings", "auth-kept-in-config"); code != exitError {
		t.Errorf("diff --fail-on-warnings: exit %d, want %d", code, exitError)
	}
}

type restartReport struct {
	Changed   bool `json:"changed"`
	LastApply *struct {
		Time            time.Time `json:"time"`
		Files           []string  `json:"files"`
		ConfigChangedAt time.Time `json:"config_changed_at"`
	} `json:"last_apply"`
	RestartPending *bool `json:"restart_pending"`
}

func restartState(t *testing.T, args ...string) restartReport {
	t.Helper()
	code, stdout, stderr := runCLI(append(args, "-o", "json")...)
	if code == exitError {
		t.Fatalf("%v: %s", args, stderr)
	}
	var r restartReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stdout)
	}
	return r
}

func TestRestartPending(t *testing.T) {
	root := node(t, nodeConfig)
	before := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)

	// Never migrated: nothing pending.
	if r := restartState(t, "diff", "--root", root, "--containerd-started-at", before); r.RestartPending == nil || *r.RestartPending || r.LastApply != nil {
		t.Errorf("before apply: %+v", r)
	}
	applied := restartState(t, "apply", "--root", root, "--containerd-started-at", before)
	if applied.RestartPending == nil || !*applied.RestartPending || applied.LastApply == nil || len(applied.LastApply.Files) != 2 {
		t.Fatalf("apply: %+v", applied)
	}
	// One record of the last apply: the committed journal, which rollback
	// reads too, carries what restart_pending needs.
	var record struct {
		Applied *struct {
			Config          string    `json:"config"`
			ConfigChangedAt time.Time `json:"config_changed_at"`
		} `json:"applied"`
	}
	data, err := os.ReadFile(filepath.Join(root, "var/lib/certsd-migrate/rollback.json"))
	if err == nil {
		err = json.Unmarshal(data, &record)
	}
	if err != nil || record.Applied == nil || record.Applied.Config != "/etc/containerd/config.toml" || !record.Applied.ConfigChangedAt.Equal(applied.LastApply.ConfigChangedAt) {
		t.Fatalf("no apply record in rollback.json: %v\n%s", err, data)
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "var/lib/certsd-migrate")); len(entries) != 2 { // rollback.json, lock
		t.Errorf("state dir holds %v, want the record and the lock", entries)
	}

	// The rollout stopped before the restart: the next run has nothing to
	// change but still says the restart is pending.
	r := restartState(t, "diff", "--root", root, "--containerd-started-at", before)
	if r.Changed || r.RestartPending == nil || !*r.RestartPending {
		t.Errorf("migrated, not restarted: %+v", r)
	}
	_, _, stderr := runCLI("diff", "--root", root, "--containerd-started-at", before)
	if !strings.Contains(stderr, "restart containerd") {
		t.Errorf("text mode does not say the restart is pending: %q", stderr)
	}
	// Restarted since: nothing pending.
	after := time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)
	if r := restartState(t, "diff", "--root", root, "--containerd-started-at", after); r.RestartPending == nil || *r.RestartPending {
		t.Errorf("restarted: %+v", r)
	}
	// Under --root without a start time, the running containerd is not the
	// node's: unknown, so absent.
	if r := restartState(t, "diff", "--root", root); r.RestartPending != nil {
		t.Errorf("start unknown: restart_pending = %v, want absent", *r.RestartPending)
	}
	if code, _, _ := runCLI("diff", "--root", root, "--containerd-started-at", "yesterday"); code != exitError {
		t.Errorf("--containerd-started-at yesterday: exit %d", code)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
