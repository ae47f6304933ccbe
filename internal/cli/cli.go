// Package cli is certsd-migrate's command line: it parses the flags,
// builds the plan, applies it when asked and prints the preview, the JSON
// report or the summary. The main package and the golden tests both call
// Run, so the tests exercise exactly what the binary runs, in process.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/internal/lastapply"
	"github.com/certsd-migrate/certsd-migrate/migrate"
)

// Exit codes follow diff(1) and kubectl diff.
const (
	exitOK      = 0
	exitChanges = 1 // diff: changes are pending
	exitError   = 2
)

const usage = `certsd-migrate migrates containerd's deprecated CRI registry settings
(registry.mirrors, registry.configs.*.tls, registry.auths) to config_path and
<certs-dir>/<registry>/hosts.toml files. Nothing is written without "apply".

Usage:
  certsd-migrate [diff] [flags]   preview: print a unified diff of every file
  certsd-migrate apply [flags]    write the files (atomically, with a backup)
  certsd-migrate check [flags]    explain what containerd does with the node's
                                  registry config, and what is wrong with it
  certsd-migrate rollback [--dry-run]
                                  undo the last apply (or an interrupted one)

Examples:
  # Preview the migration of this node
  certsd-migrate diff

  # One-shot upgrade: migrate, then restart containerd
  certsd-migrate apply && systemctl restart containerd

  # Fleet (Ansible): machine-readable plan; exit 1 means changes are pending
  certsd-migrate diff -o json

  # Offline: convert a copy of a node's /etc under ./node
  certsd-migrate diff --root ./node

Exit status: diff exits 0 when nothing would change, 1 when changes are
pending, 2 on error; apply exits 0 on success (changed or not), 2 on error.
rollback --dry-run exits like diff, rollback like apply.

Flags:
`

type invocation struct {
	command           string
	config            string
	registries        string
	flavor            string
	rewritePath       bool
	toVersion         int
	certsDir          string
	root              string
	stateDir          string
	auth              string
	containerdVersion string
	output            string
	color             string
	showSecrets       bool
	noBackup          bool
	force             bool
	strict            bool
	k0sVersion        string
	failOnWarnings    string
	startedAt         string
	dryRun            bool
	wait              time.Duration
}

// Run runs certsd-migrate with args (without the program name) and returns
// its exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return runCheck(args[1:], stdout, stderr)
	}
	c, code, done := parseFlags(args, stdout, stderr)
	if done {
		return code
	}
	opts, err := c.options()
	if err != nil {
		return c.fail(usageError{err}, stdout, stderr)
	}
	if c.command == "rollback" {
		return c.rollback(stdout, stderr)
	}
	// apply holds the node's lock from before it reads the node, and
	// first finishes an apply that was interrupted; diff shows one.
	var finished *migrate.Plan
	if c.command == "apply" && c.mayWrite(opts) {
		unlock, recovered, code, done := c.lockAndRecover(stdout, stderr)
		if done {
			return code
		}
		defer unlock()
		finished = recovered
	} else if c.command == "diff" {
		if code, done := c.showInterrupted(stdout, stderr); done {
			return code
		}
	}
	plan, err := migrate.Build(opts)
	if err != nil {
		return c.fail(err, stdout, stderr)
	}
	if err := c.checkWarnings(plan); err != nil {
		return c.fail(err, stdout, stderr)
	}
	if c.strict && len(plan.Warnings) > 0 {
		// --strict: every warning is an error, and nothing is written.
		if err := plan.WriteErrors(stderr, c.showSecrets); err != nil {
			fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
		}
		fmt.Fprintln(stderr, "certsd-migrate: --strict makes every warning an error; nothing was written")
		if c.output == "json" {
			encodeError(c.strictError(plan), stdout)
		}
		return exitError
	}
	var applied *migrate.ApplyResult
	var state nodeState
	if c.command == "apply" && plan.Changed() {
		if applied, err = migrate.Apply(plan, migrate.ApplyOptions{NoBackup: c.noBackup, StateDir: c.stateDir}); err != nil {
			return c.fail(err, stdout, stderr)
		}
		state = c.state(plan, applied.Record)
	} else if finished != nil {
		// The run's changes are the recovery's: report those.
		done := &migrate.ApplyResult{}
		for _, f := range finished.Files {
			if f.Action != migrate.Unchanged {
				done.Written = append(done.Written, f.Path)
			}
		}
		state = c.readState(finished, stderr)
		if c.output == "json" {
			plan, applied = finished, done
		}
	} else {
		state = c.readState(plan, stderr)
	}
	if err := c.print(plan, applied, state, stdout, stderr); err != nil {
		if applied != nil {
			// The exit status describes the node, which is migrated.
			fmt.Fprintf(stderr, "certsd-migrate: %v\n", err)
			return exitOK
		}
		return c.fail(err, stdout, stderr)
	}
	if c.command == "diff" && plan.Changed() {
		return exitChanges
	}
	return exitOK
}

func parseFlags(args []string, stdout, stderr io.Writer) (c invocation, code int, done bool) {
	c.command = "diff"
	if len(args) > 0 && (args[0] == "diff" || args[0] == "apply" || args[0] == "rollback") {
		c.command, args = args[0], args[1:]
	}
	fs := pflag.NewFlagSet("certsd-migrate", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.config, "config", "", "containerd config file (default /etc/containerd/config.toml, else k0s's /etc/k0s/containerd.toml)")
	fs.StringVar(&c.registries, "registries", "", "convert a k3s/RKE2 registries.yaml at `PATH` (the --config file gets config_path; created when absent)")
	fs.StringVar(&c.flavor, "flavor", "containerd", "who reads a converted registries.yaml: containerd (upstream) or k3s (keeps rewrite rules)")
	fs.BoolVar(&c.rewritePath, "rewrite-to-path", false, "registries.yaml: turn a rewrite that only adds a repository prefix into an endpoint path with override_path")
	fs.IntVar(&c.toVersion, "to-config-version", 0, "rewrite older config files as config `version` 3, the only value (k0s 1.36 refuses version 2 drop-ins)")
	fs.StringVar(&c.certsDir, "certs-dir", "", "config_path directory to write (default: the config's own config_path, else /etc/k0s/containerd.d/certs.d on k0s, else "+convert.DefaultCertsDir+")")
	fs.StringVar(&c.root, "root", "", "treat `DIR` as the file system root for every path")
	fs.StringVar(&c.stateDir, "state-dir", migrate.StateDir, "apply, diff, rollback: the node `DIR` (under --root) of the journal, the record of the last apply and the lock")
	fs.StringVar(&c.auth, "auth", "keep", "where legacy credentials go: keep (configs.<host>.auth in config.toml) or header (Authorization header in hosts.toml)")
	fs.StringVar(&c.containerdVersion, "containerd-version", "", "containerd `version` that will read the output, e.g. 1.6.20, 1.7 or 2.1 (default: valid on 1.6.17 through 2.x)")
	fs.StringVarP(&c.output, "output", "o", "text", "output format: text or json")
	fs.StringVar(&c.color, "color", "auto", "colour the diff: auto, always or never")
	fs.BoolVar(&c.showSecrets, "show-secrets", false, "print credentials in diffs and JSON (redacted by default)")
	fs.BoolVar(&c.noBackup, "no-backup", false, "apply: do not keep a timestamped backup of each modified config")
	fs.BoolVar(&c.strict, "strict", false, "treat every warning as an error: exit 2 and write nothing")
	fs.StringVar(&c.k0sVersion, "k0s-version", "", "k0s `version` of the node (before 1.36 k0s merges CRI drop-ins into its own config; default: told from /etc/k0s/containerd.toml)")
	fs.BoolVar(&c.force, "force", false, "replace hosts.toml files certsd-migrate did not write (after backing them up)")
	fs.StringVar(&c.failOnWarnings, "fail-on-warnings", "", "stop with exit 2, before writing anything, on these warning `codes` (comma-separated) or all")
	fs.StringVar(&c.startedAt, "containerd-started-at", "", "when the node's containerd started (RFC 3339), for restart_pending (default: the running containerd's start, without --root)")
	fs.BoolVar(&c.dryRun, "dry-run", false, "rollback: print what would be undone, as diff does, and write nothing")
	fs.DurationVar(&c.wait, "wait", migrate.LockWait, "apply, rollback: how long to wait for another certsd-migrate working on this node")
	help := fs.BoolP("help", "h", false, "show this help")
	showVersion := fs.Bool("version", false, "print the version")
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		// pflag prints nothing with ContinueOnError.
		return c, c.fail(usageError{err}, stdout, stderr), true
	}
	switch {
	case *help:
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return c, exitOK, true
	case *showVersion:
		fmt.Fprintf(stdout, "certsd-migrate %s\n", buildVersion())
		return c, exitOK, true
	case fs.NArg() > 0:
		return c, c.fail(usageError{fmt.Errorf("unexpected argument %q (commands: diff, apply, check, rollback)", fs.Arg(0))}, stdout, stderr), true
	}
	return c, 0, false
}

func (c *invocation) options() (migrate.Options, error) {
	opts := migrate.Options{Root: c.root, ConfigFile: c.config, Force: c.force, RegistriesPath: c.registries}
	opts.CertsDir = c.certsDir
	opts.RewriteToPath = c.rewritePath
	if c.toVersion != 0 && c.toVersion != 3 {
		return opts, fmt.Errorf("--to-config-version must be 3, not %d", c.toVersion)
	}
	opts.ToConfigVersion = c.toVersion
	opts.K0sVersion = c.k0sVersion
	switch convert.Flavor(c.flavor) {
	case convert.FlavorContainerd, convert.FlavorK3s:
		opts.Flavor = convert.Flavor(c.flavor)
	default:
		return opts, fmt.Errorf("--flavor must be containerd or k3s, not %q", c.flavor)
	}
	if c.registries == "" && (c.flavor != string(convert.FlavorContainerd) || c.rewritePath) {
		return opts, errors.New("--flavor and --rewrite-to-path apply to --registries input only")
	}
	switch convert.AuthMode(c.auth) {
	case convert.AuthKeep, convert.AuthHeader:
		opts.Auth = convert.AuthMode(c.auth)
	default:
		return opts, fmt.Errorf("--auth must be keep or header, not %q", c.auth)
	}
	if c.containerdVersion != "" {
		t, err := convert.ParseTarget(c.containerdVersion)
		if err != nil {
			return opts, fmt.Errorf("--containerd-version: %w", err)
		}
		opts.Target = t
	}
	if c.output != "text" && c.output != "json" {
		return opts, fmt.Errorf("--output must be text or json, not %q", c.output)
	}
	if c.color != "auto" && c.color != "always" && c.color != "never" {
		return opts, fmt.Errorf("--color must be auto, always or never, not %q", c.color)
	}
	if _, _, err := parseWarningCodes(c.failOnWarnings); err != nil {
		return opts, err
	}
	if c.startedAt != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.startedAt); err != nil {
			return opts, fmt.Errorf("--containerd-started-at must be an RFC 3339 time such as 2026-12-01T10:00:00Z, not %q", c.startedAt)
		}
	}
	if c.root != "" {
		if info, err := os.Stat(c.root); err != nil || !info.IsDir() {
			return opts, errors.New("--root must name an existing directory")
		}
	}
	if !filepath.IsAbs(c.stateDir) {
		return opts, fmt.Errorf("--state-dir must be an absolute node path (under --root), not %q", c.stateDir)
	}
	// Node paths are absolute: relative ones are relative to the working
	// directory, or to --root.
	for _, p := range []*string{&opts.ConfigFile, &opts.RegistriesPath, &opts.CertsDir} {
		if *p == "" || filepath.IsAbs(*p) {
			continue
		}
		if c.root != "" {
			*p = filepath.Join("/", *p)
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return opts, err
		}
		*p = abs
	}
	return opts, nil
}

// jsonReport is the -o json output: the plan and the node's apply record.
type jsonReport struct {
	migrate.Report
	LastApply *lastapply.Record `json:"last_apply,omitempty"`
	// RestartPending: a config file changed after containerd started
	// (absent when the start time is unknown).
	RestartPending *bool `json:"restart_pending,omitempty"`
}

func (c *invocation) print(plan *migrate.Plan, applied *migrate.ApplyResult, state nodeState, stdout, stderr io.Writer) error {
	if c.output == "json" {
		r := jsonReport{Report: plan.Report(c.showSecrets), LastApply: state.record, RestartPending: state.restartPending}
		if applied != nil {
			r.Backups = applied.Backups
		}
		return writeJSON(stdout, r)
	}
	if state.restartPending != nil && *state.restartPending && applied == nil {
		fmt.Fprintf(stderr, "certsd-migrate: containerd started before certsd-migrate changed its config at %s: restart containerd to load it\n",
			state.record.ConfigChangedAt.Format(time.RFC3339))
	}
	if !plan.Changed() {
		// Like diff(1), a migrated node prints nothing (a run that plans
		// files, all unchanged, is a migration already done); but when
		// there was nothing to migrate, the registry settings left alone
		// are said.
		if len(plan.Warnings) == 0 || len(plan.Files) > 0 {
			return nil
		}
		if err := plan.WriteWarnings(stderr, c.showSecrets); err != nil {
			return err
		}
		_, err := fmt.Fprintln(stderr, plan.Summary())
		return err
	}
	if err := plan.WriteDiff(stdout, c.useColor(stdout), c.showSecrets); err != nil {
		return err
	}
	if err := plan.WriteWarnings(stderr, c.showSecrets); err != nil {
		return err
	}
	summary := plan.Summary()
	switch {
	case applied != nil:
		summary = "applied: " + summary
		for _, b := range applied.Backups {
			summary += "; backup " + b
		}
	case plan.Changed():
		summary += "; run `certsd-migrate apply` with the same flags to write them"
	}
	_, err := fmt.Fprintln(stderr, summary)
	return err
}

func writeJSON(w io.Writer, r any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (c *invocation) useColor(w io.Writer) bool {
	switch c.color {
	case "always":
		return true
	case "never":
		return false
	}
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func buildVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "(devel)"
}
