package lastapply

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestNextKeepsTheLastConfigChange(t *testing.T) {
	const cfg = "/etc/containerd/config.toml"
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var none *Record
	first := none.Next(cfg, []string{"/etc/containerd/config.toml", "/etc/containerd/certs.d/a/hosts.toml"}, true, t0, false)
	// A later apply that writes only a hosts.toml must not forget that the
	// config changed at t0 (a restart may still be pending).
	r := first.Next(cfg, []string{"/etc/containerd/certs.d/b/hosts.toml"}, false, t0.Add(time.Hour), false)
	if !r.ConfigChangedAt.Equal(t0) || !r.Time.Equal(t0.Add(time.Hour)) || len(r.Files) != 1 {
		t.Errorf("record = %+v", r)
	}
	if !r.RestartPending(cfg, Start{Time: t0.Add(-time.Minute)}) || r.RestartPending(cfg, Start{Time: t0.Add(time.Minute)}) {
		t.Error("RestartPending does not compare with the config change time")
	}
	// Another config's apply replaces the record: its own change counts.
	other := r.Next("/etc/k0s/containerd.toml", []string{"/etc/k0s/containerd.d/r.toml"}, false, t0.Add(2*time.Hour), false)
	if !other.ConfigChangedAt.IsZero() || other.RestartPending(cfg, Start{Time: t0.Add(-time.Minute)}) {
		t.Errorf("a record for another config: %+v", other)
	}
	// Only a live apply (no --root) reads this machine's boot clock.
	if offline := none.Next(cfg, nil, true, t0, false); offline.BootID != "" || offline.ConfigChangedUptime != 0 {
		t.Errorf("an offline record has boot clock fields: %+v", offline)
	}
	if _, err := os.Stat("/proc/sys/kernel/random/boot_id"); err == nil {
		if live := none.Next(cfg, nil, true, t0, true); live.BootID == "" || live.ConfigChangedUptime == 0 {
			t.Errorf("a live record lacks the boot clock: %+v", live)
		}
	}
}

func TestNoRecordNoRestart(t *testing.T) {
	var none *Record
	if none.RestartPending("/etc/containerd/config.toml", Start{Time: time.Now()}) {
		t.Error("no record, yet a restart is pending")
	}
}

func TestRestartPending(t *testing.T) {
	changed := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	const cfg = "/etc/containerd/config.toml"
	live := &Record{Config: cfg, ConfigChangedAt: changed, BootID: "boot-a", ConfigChangedUptime: 500}
	offline := &Record{Config: cfg, ConfigChangedAt: changed}
	tests := []struct {
		name  string
		rec   *Record
		start Start
		want  bool
	}{
		{"started before, same boot", live, Start{BootID: "boot-a", Uptime: 400}, true},
		{"started after, same boot", live, Start{BootID: "boot-a", Uptime: 600}, false},
		{"same tick", live, Start{BootID: "boot-a", Uptime: 500}, false},
		{"rebooted since", live, Start{BootID: "boot-b", Uptime: 10}, false},
		{"wall clock before", live, Start{Time: changed.Add(-time.Second)}, true},
		{"wall clock after", offline, Start{Time: changed.Add(time.Second)}, false},
		{"offline record, boot clock only", offline, Start{BootID: "boot-a", Uptime: 1}, false},
		{"no config change", &Record{Config: cfg, Time: changed}, Start{Time: changed.Add(-time.Hour)}, false},
		{"another config's record", &Record{Config: "/other.toml", ConfigChangedAt: changed}, Start{Time: changed.Add(-time.Hour)}, false},
	}
	for _, tt := range tests {
		if got := tt.rec.RestartPending(cfg, tt.start); got != tt.want {
			t.Errorf("%s: RestartPending = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestProcessStart(t *testing.T) {
	dir := t.TempDir()
	// The command name may hold spaces and parentheses; field 22 is the
	// start time in clock ticks.
	stat := "1234 (contain) erd) S 1 1234 1234 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 12 0 98765 1000000 500 18446744073709551615\n"
	path := filepath.Join(dir, "stat")
	if err := os.WriteFile(path, []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := processStart(path)
	if err != nil || got != 987.65 {
		t.Errorf("processStart = %v, %v; want 987.65", got, err)
	}
	if _, err := processStart(filepath.Join(dir, "missing")); err == nil {
		t.Error("no error for a missing stat file")
	}
}

// TestThisProcessStart checks the field arithmetic against a real process:
// this test started after boot and before now.
func TestThisProcessStart(t *testing.T) {
	start, err := processStart("/proc/self/stat")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	_, uptime := bootClock()
	if start <= 0 || start > uptime {
		t.Errorf("this process started at %v s after boot, but the uptime is %v s", start, uptime)
	}
}

func TestConfigArg(t *testing.T) {
	tests := []struct {
		cmdline []string
		want    string
	}{
		{[]string{"/usr/bin/containerd"}, "/etc/containerd/config.toml"},
		{[]string{"containerd", "--config", "/etc/k0s/containerd.toml"}, "/etc/k0s/containerd.toml"},
		{[]string{"containerd", "--config=/etc/k0s/containerd.toml", ""}, "/etc/k0s/containerd.toml"},
		{[]string{"containerd", "-c", "/var/lib/rancher/k3s/agent/etc/containerd/config.toml", "-a", "/run/k3s/containerd/containerd.sock"}, "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"},
		{[]string{"containerd", "--log-level", "debug"}, "/etc/containerd/config.toml"},
	}
	for _, tt := range tests {
		if got := configArg(tt.cmdline); got != tt.want {
			t.Errorf("configArg(%q) = %q, want %q", tt.cmdline, got, tt.want)
		}
	}
}

// TestRunningContainerd starts a process named containerd with a --config
// and finds its start on the boot clock: after a record written before it,
// before one written after it.
func TestRunningContainerd(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	dir := t.TempDir()
	writeTest(t, filepath.Join(dir, "go.mod"), "module fake\n\ngo 1.21\n")
	writeTest(t, filepath.Join(dir, "main.go"), "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Minute) }\n")
	build := exec.Command("go", "build", "-o", "containerd", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a fake containerd: %v\n%s", err, out)
	}
	config := filepath.Join(dir, "config.toml")
	before := (*Record)(nil).Next(config, []string{config}, true, time.Now(), true)
	time.Sleep(20 * time.Millisecond) // past the 10 ms clock tick

	daemon := exec.Command(filepath.Join(dir, "containerd"), "--config="+config)
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	time.Sleep(20 * time.Millisecond)
	after := *before
	after.BootID, after.ConfigChangedUptime = bootClock()

	start, ok := RunningContainerd(config)
	if !ok {
		t.Fatal("the running fake containerd was not found")
	}
	if before.RestartPending(config, start) {
		t.Errorf("a change before the daemon started is pending (start %+v, change at %v)", start, before.ConfigChangedUptime)
	}
	if !after.RestartPending(config, start) {
		t.Errorf("a change after the daemon started is not pending (start %+v, change at %v)", start, after.ConfigChangedUptime)
	}
	if _, ok := RunningContainerd(filepath.Join(dir, "other.toml")); ok {
		t.Error("found a containerd for a config it does not read")
	}
}

func writeTest(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
