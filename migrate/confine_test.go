package migrate

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A node whose migration writes one hosts file and modifies the config.
const confineConfig = `version = 2
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
  endpoint = ["https://mirror.example.com"]
`

// hostileNode makes a node and, beside it (outside --root), a directory
// that must stay empty.
func hostileNode(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "node"), filepath.Join(base, "outside")
	must(t, os.MkdirAll(filepath.Join(root, "etc/containerd"), 0o755))
	must(t, os.MkdirAll(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(root, configPath), []byte(confineConfig), 0o644))
	return root, outside
}

func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	if len(entries) != 0 {
		t.Errorf("written outside --root: %v", entries)
	}
}

// buildAndApply plans and applies; the error is the first one.
func buildAndApply(root string, opts Options) error {
	opts.Root = root
	p, err := Build(opts)
	if err != nil {
		return err
	}
	_, err = Apply(p, ApplyOptions{})
	return err
}

func TestSymlinkEscapesRefused(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, root, outside string)
		opts    Options
		wantErr string
	}{{
		name: "certs.d leads outside",
		setup: func(t *testing.T, root, outside string) {
			must(t, os.Symlink("../../../outside", filepath.Join(root, "etc/containerd/certs.d")))
		},
		wantErr: "/etc/containerd/certs.d is a symbolic link to ../../../outside, which leads outside --root",
	}, {
		name: "namespace directory is a link inside the node",
		setup: func(t *testing.T, root, outside string) {
			must(t, os.MkdirAll(filepath.Join(root, "etc/containerd/certs.d/elsewhere"), 0o755))
			must(t, os.Symlink("elsewhere", filepath.Join(root, "etc/containerd/certs.d/docker.io")))
		},
		wantErr: "/etc/containerd/certs.d/docker.io is a symbolic link: refusing to write hosts.toml through it",
	}, {
		name: "namespace directory leads outside",
		setup: func(t *testing.T, root, outside string) {
			must(t, os.MkdirAll(filepath.Join(root, "etc/containerd/certs.d"), 0o755))
			must(t, os.Symlink("../../../../outside", filepath.Join(root, "etc/containerd/certs.d/docker.io")))
		},
		wantErr: "/etc/containerd/certs.d/docker.io is a symbolic link: refusing to write hosts.toml through it",
	}, {
		name: "/etc/containerd leads outside",
		setup: func(t *testing.T, root, outside string) {
			must(t, os.Rename(filepath.Join(root, "etc/containerd"), filepath.Join(outside, "containerd")))
			must(t, os.Symlink("../../outside/containerd", filepath.Join(root, "etc/containerd")))
		},
		wantErr: "/etc/containerd is a symbolic link to ../../outside/containerd, which leads outside --root",
	}, {
		name: "/var/backups leads outside",
		setup: func(t *testing.T, root, outside string) {
			// An import glob matching the backup's name sends it to
			// /var/backups.
			conf := "version = 2\nimports = [\"/etc/containerd/*\"]\n" + strings.TrimPrefix(confineConfig, "version = 2\n")
			must(t, os.WriteFile(filepath.Join(root, configPath), []byte(conf), 0o644))
			must(t, os.MkdirAll(filepath.Join(root, "var"), 0o755))
			must(t, os.Symlink("../../outside", filepath.Join(root, "var/backups")))
		},
		wantErr: "/var/backups is a symbolic link to ../../outside, which leads outside --root",
	}, {
		name: "hosts.toml leads outside",
		setup: func(t *testing.T, root, outside string) {
			must(t, os.MkdirAll(filepath.Join(root, "etc/containerd/certs.d/docker.io"), 0o755))
			must(t, os.Symlink("../../../../../outside/hosts.toml", filepath.Join(root, "etc/containerd/certs.d/docker.io/hosts.toml")))
		},
		wantErr: "/etc/containerd/certs.d/docker.io/hosts.toml is a symbolic link",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, outside := hostileNode(t)
			tt.setup(t, root, outside)
			if tt.name == "/etc/containerd leads outside" {
				// The config itself is outside now: only the links inside
				// may be listed.
				outside = filepath.Join(outside, "containerd")
				before, _ := os.ReadDir(outside)
				err := buildAndApply(root, tt.opts)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				after, _ := os.ReadDir(outside)
				if len(after) != len(before) {
					t.Errorf("written outside --root: %v", after)
				}
				return
			}
			err := buildAndApply(root, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			checkEmpty(t, outside)
		})
	}
}

// An absolute link is a node path: it is followed under --root, as the
// node itself would follow it.
func TestAbsoluteSymlinkStaysInside(t *testing.T) {
	root, outside := hostileNode(t)
	must(t, os.MkdirAll(filepath.Join(root, "data/certs"), 0o755))
	must(t, os.Symlink("/data/certs", filepath.Join(root, "etc/containerd/certs.d")))
	must(t, buildAndApply(root, Options{}))
	if _, err := os.Stat(filepath.Join(root, "data/certs/docker.io/hosts.toml")); err != nil {
		t.Errorf("hosts.toml not written through the link: %v", err)
	}
	checkEmpty(t, outside)
}

func TestNonRegularInputsRefused(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string)
		opts    Options
		wantErr string
	}{{
		name: "FIFO config",
		setup: func(t *testing.T, root string) {
			p := filepath.Join(root, configPath)
			must(t, os.Remove(p))
			must(t, syscall.Mkfifo(p, 0o644))
		},
		wantErr: "reading /etc/containerd/config.toml: not a regular file (a FIFO); refusing to read it",
	}, {
		name: "FIFO registries.yaml",
		setup: func(t *testing.T, root string) {
			must(t, os.MkdirAll(filepath.Join(root, "etc/rancher/k3s"), 0o755))
			must(t, syscall.Mkfifo(filepath.Join(root, "etc/rancher/k3s/registries.yaml"), 0o644))
		},
		opts:    Options{RegistriesPath: "/etc/rancher/k3s/registries.yaml"},
		wantErr: "reading /etc/rancher/k3s/registries.yaml: not a regular file (a FIFO); refusing to read it",
	}, {
		name: "imported FIFO",
		setup: func(t *testing.T, root string) {
			conf := "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"
			must(t, os.WriteFile(filepath.Join(root, configPath), []byte(conf), 0o644))
			must(t, os.MkdirAll(filepath.Join(root, "etc/containerd/conf.d"), 0o755))
			must(t, syscall.Mkfifo(filepath.Join(root, "etc/containerd/conf.d/a.toml"), 0o644))
		},
		wantErr: "reading /etc/containerd/conf.d/a.toml: not a regular file (a FIFO)",
	}, {
		name: "config larger than the limit",
		setup: func(t *testing.T, root string) {
			big := confineConfig + "#" + strings.Repeat("x", MaxInputSize) + "\n"
			must(t, os.WriteFile(filepath.Join(root, configPath), []byte(big), 0o644))
		},
		wantErr: "larger than the 16 MiB limit; refusing to read it",
	}, {
		name: "config is a directory",
		setup: func(t *testing.T, root string) {
			p := filepath.Join(root, configPath)
			must(t, os.Remove(p))
			must(t, os.Mkdir(p, 0o755))
		},
		wantErr: "reading /etc/containerd/config.toml: not a regular file (a directory)",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, outside := hostileNode(t)
			tt.setup(t, root)
			before := snapshotNode(t, root)
			err := buildAndApply(root, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
			checkTree(t, snapshotNode(t, root), before)
			checkEmpty(t, outside)
		})
	}
}

// /dev/zero never ends: it is refused before a byte is read.
func TestDeviceInputRefused(t *testing.T) {
	_, err := Build(Options{ConfigFile: "/dev/zero"})
	want := "reading /dev/zero: not a regular file (a character device); refusing to read it"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// A CA file that is a FIFO is reported like an unreadable one, without
// blocking.
func TestFIFOCertificateIsAWarning(t *testing.T) {
	root, _ := hostileNode(t)
	conf := confineConfig + `[plugins."io.containerd.grpc.v1.cri".registry.configs."mirror.example.com".tls]
  ca_file = "/etc/pki/ca.pem"
`
	must(t, os.WriteFile(filepath.Join(root, configPath), []byte(conf), 0o644))
	must(t, os.MkdirAll(filepath.Join(root, "etc/pki"), 0o755))
	must(t, syscall.Mkfifo(filepath.Join(root, "etc/pki/ca.pem"), 0o644))
	p, err := Build(Options{Root: root})
	must(t, err)
	found := false
	for _, w := range p.Warnings {
		found = found || strings.Contains(w.Message, "cannot read ca file /etc/pki/ca.pem (not a regular file (a FIFO)")
	}
	if !found {
		t.Errorf("no warning about the FIFO CA file: %v", p.Warnings)
	}
}

// An edit made to the config while apply runs is refused just before the
// config's rename, never lost.
func TestEditDuringApplyRefused(t *testing.T) {
	root, _ := hostileNode(t)
	p, err := Build(Options{Root: root})
	must(t, err)
	const edited = "# edited while apply ran\n"
	edit := func(step, path string) error {
		if step == "rename" && path == configPath {
			return os.WriteFile(filepath.Join(root, configPath), []byte(edited), 0o644)
		}
		return nil
	}
	_, err = Apply(p, ApplyOptions{fail: edit})
	if err == nil || !strings.Contains(err.Error(), "changed while apply ran, refusing to replace it") || !strings.Contains(err.Error(), "the node was restored") {
		t.Fatalf("got %v", err)
	}
	data, err := os.ReadFile(filepath.Join(root, configPath))
	must(t, err)
	if string(data) != edited {
		t.Errorf("the edit was lost: config is %q", data)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/containerd/certs.d")); err == nil {
		t.Errorf("certs.d left behind")
	}
}

// The config keeps its setgid and sticky bits and its owner; the backup
// has the original's mode and owner.
func TestApplyKeepsSpecialBitsAndBackupOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	root, _ := hostileNode(t)
	cfg := filepath.Join(root, configPath)
	must(t, os.Chown(cfg, 1234, 4321))
	must(t, os.Chmod(cfg, 0o640|os.ModeSetgid|os.ModeSticky))
	p, err := Build(Options{Root: root})
	must(t, err)
	res, err := Apply(p, ApplyOptions{Now: applyClock})
	must(t, err)
	want := os.FileMode(0o640) | os.ModeSetgid | os.ModeSticky
	for _, f := range []string{configPath, res.Backups[0]} {
		fi, err := os.Stat(filepath.Join(root, f))
		must(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != want || st.Uid != 1234 || st.Gid != 4321 {
			t.Errorf("%s: mode %v owner %d:%d, want %v 1234:4321", f, fi.Mode(), st.Uid, st.Gid, want)
		}
	}
}

// An apply finished or undone from the journal keeps the special bits
// too.
func TestRecoveryKeepsSpecialBits(t *testing.T) {
	for _, finish := range []string{"apply", "rollback"} {
		root, _ := hostileNode(t)
		cfg := filepath.Join(root, configPath)
		want := os.FileMode(0o640) | os.ModeSetgid
		must(t, os.Chmod(cfg, want))
		p, err := Build(Options{Root: root})
		must(t, err)
		// Forward: stopped before the config is written, so finishing
		// writes it; backward: stopped after, so rolling back restores it.
		at := map[string]string{"apply": "write", "rollback": "wrote"}[finish]
		stop := func(step, path string) error {
			if step == at && path == configPath {
				panic(crash{})
			}
			return nil
		}
		func() {
			defer func() { recover() }()
			Apply(p, ApplyOptions{fail: stop})
		}()
		if finish == "apply" {
			_, _, err = Recover(root, "")
		} else {
			_, err = Rollback(root, "")
		}
		must(t, err)
		fi, err := os.Stat(cfg)
		must(t, err)
		if fi.Mode() != want {
			t.Errorf("%s: config mode %v, want %v", finish, fi.Mode(), want)
		}
	}
}

// check's hosts.toml rules, which diff and apply run on the files they
// keep, read certificates through the node too: a FIFO among them does
// not block, a link out of --root is not followed.
func TestKeptHostsFileInputsConfined(t *testing.T) {
	root, outside := hostileNode(t)
	dir := filepath.Join(root, "etc/containerd/certs.d/other.example")
	must(t, os.MkdirAll(dir, 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "etc/pki"), 0o755))
	must(t, syscall.Mkfifo(filepath.Join(root, "etc/pki/ca.pem"), 0o644))
	must(t, os.WriteFile(filepath.Join(outside, "secret.crt"), []byte("outside"), 0o644))
	must(t, os.Symlink("../../../../../outside/secret.crt", filepath.Join(dir, "leak.crt")))
	must(t, os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte("server = \"https://other.example\"\n[host.\"https://other.example\"]\n  ca = \"/etc/pki/ca.pem\"\n"), 0o644))
	p, err := Build(Options{Root: root})
	must(t, err)
	found := false
	for _, w := range p.Warnings {
		found = found || strings.Contains(w.Message, "/etc/pki/ca.pem")
	}
	if !found {
		t.Errorf("no warning about the FIFO CA file: %v", p.Warnings)
	}
}
