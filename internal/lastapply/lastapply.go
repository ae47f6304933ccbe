// Package lastapply decides what the record of the last apply says and
// whether it means containerd must restart, so a later run can tell that a node was migrated but containerd
// has not restarted since: the trap of a rollout that stops between the
// apply and the restart (the next run sees nothing to change, so nothing
// would notify a restart).
//
// The record is part of the committed journal that package migrate writes
// (/var/lib/certsd-migrate/rollback.json, under --root); this package only
// computes its content and reads the running containerd's start. It holds
// the wall-clock time of the last config change and the same instant
// as seconds since boot with the boot's id, which compare exactly with a
// process's start time from /proc and survive clock steps.
package lastapply

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Record is what the record of the last apply says about it.
type Record struct {
	// Config is the main config file of the apply, the one containerd is
	// started with: a restart is pending only for the daemon reading it.
	Config string `json:"config"`
	// Time is when the last apply that changed a file finished.
	Time time.Time `json:"time"`
	// Files are the node paths that apply wrote.
	Files []string `json:"files"`
	// ConfigChangedAt is when an apply last changed a containerd config
	// file (zero if none ever did); containerd reads those only at start.
	// An apply that writes only hosts.toml files keeps the earlier value.
	ConfigChangedAt time.Time `json:"config_changed_at,omitzero"`
	// BootID and ConfigChangedUptime place ConfigChangedAt on the boot's
	// monotonic clock (/proc/sys/kernel/random/boot_id, /proc/uptime).
	BootID              string  `json:"boot_id,omitempty"`
	ConfigChangedUptime float64 `json:"config_changed_uptime,omitempty"`
}

// Next is the record of an apply of the main config file config that
// wrote files at now, following prev (the record of the apply before it,
// nil if none); configChanged says whether one of them is a containerd
// config file. An apply that changes no config file keeps prev's config
// change, since a restart may still be pending for it. live says the
// apply ran on this machine's root: only then do the clock fields come
// from this machine's /proc (under --root the node is an offline copy).
func (prev *Record) Next(config string, files []string, configChanged bool, now time.Time, live bool) *Record {
	r := &Record{Config: config, Time: now.UTC(), Files: files}
	if prev != nil && prev.Config == config {
		r.ConfigChangedAt, r.BootID, r.ConfigChangedUptime = prev.ConfigChangedAt, prev.BootID, prev.ConfigChangedUptime
	}
	if configChanged {
		r.ConfigChangedAt, r.BootID, r.ConfigChangedUptime = r.Time, "", 0
		if live {
			r.BootID, r.ConfigChangedUptime = bootClock()
		}
	}
	return r
}

// Start is when the running containerd started: a wall-clock time (given
// by the caller), or seconds since the boot BootID (found in /proc).
type Start struct {
	Time   time.Time
	BootID string
	Uptime float64
}

// RestartPending reports whether the config file config, or a file it
// imports, changed after containerd started. A record on another boot's
// clock predates the running daemon.
func (r *Record) RestartPending(config string, s Start) bool {
	if r == nil || r.ConfigChangedAt.IsZero() || r.Config != config {
		return false
	}
	if s.BootID == "" || r.BootID == "" {
		if s.Time.IsZero() {
			return false
		}
		return r.ConfigChangedAt.After(s.Time)
	}
	return s.BootID == r.BootID && r.ConfigChangedUptime > s.Uptime
}

// RunningContainerd finds, in /proc, the start time of the running
// containerd daemon that reads the main config file config (its --config or
// -c argument, else containerd's default). With several, the earliest
// counts: if it predates a change, something still runs the old config. ok
// is false when no such containerd runs.
func RunningContainerd(config string) (s Start, ok bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return s, false
	}
	bootID, _ := bootClock()
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "containerd" {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || filepath.Clean(configArg(strings.Split(string(cmdline), "\x00"))) != filepath.Clean(config) {
			continue
		}
		started, err := processStart(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if !ok || started < s.Uptime {
			s, ok = Start{BootID: bootID, Uptime: started}, true
		}
	}
	return s, ok && bootID != ""
}

// defaultConfig is the config containerd reads without --config.
const defaultConfig = "/etc/containerd/config.toml"

// configArg is the config file a containerd command line names: --config
// or -c, as the next argument or after "=" (k0s and k3s both pass one).
func configArg(args []string) string {
	for i := 1; i < len(args); i++ {
		a := args[i]
		for _, flag := range []string{"--config", "-c"} {
			switch {
			case a == flag && i+1 < len(args):
				return args[i+1]
			case strings.HasPrefix(a, flag+"="):
				return strings.TrimPrefix(a, flag+"=")
			}
		}
	}
	return defaultConfig
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's start time: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// processStart reads a process's start time, in seconds since boot, from
// field 22 of /proc/<pid>/stat (after the parenthesised command name,
// which may itself hold spaces and parentheses).
func processStart(statPath string) (float64, error) {
	data, err := os.ReadFile(statPath)
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no command name", statPath)
	}
	fields := strings.Fields(string(data[i+1:]))
	const startField = 22 - 3 // fields 1 and 2 precede ")", field 3 is fields[0]
	if len(fields) <= startField {
		return 0, fmt.Errorf("%s: too few fields", statPath)
	}
	ticks, err := strconv.ParseUint(fields[startField], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: start time: %w", statPath, err)
	}
	return float64(ticks) / clockTicks, nil
}

// bootClock returns this boot's id and the seconds since it.
func bootClock() (string, float64) {
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", 0
	}
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return "", 0
	}
	fields := strings.Fields(string(up))
	if len(fields) == 0 {
		return "", 0
	}
	secs, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", 0
	}
	return strings.TrimSpace(string(id)), secs
}
