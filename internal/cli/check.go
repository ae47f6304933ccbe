package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/diagnose"
	"github.com/certsd-migrate/certsd-migrate/migrate"
)

// Exit codes of check, as linters use them.
const (
	checkClean    = 0 // no findings at warning or above
	checkFindings = 1
	checkUnread   = 2 // the node could not be read
)

const checkUsage = `certsd-migrate check reads the node's registry configuration as containerd
does (config.toml and its imports, config_path, every hosts.toml) and reports
what containerd will ignore, reject or do differently than written, with the fix.

Usage:
  certsd-migrate check [flags]

Examples:
  # Why is my hosts.toml not taking effect?
  certsd-migrate check

  # The hosts containerd tries for one registry, in order, and how to test them
  certsd-migrate check --explain registry.example.com:5000

  # Monitoring / Ansible: findings as JSON; exit 1 when there are warnings or errors
  certsd-migrate check -o json

Exit status: 0 no findings at warning or above, 1 findings, 2 the node could
not be read.

Flags:
`

// runCheck is `certsd-migrate check`.
func runCheck(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("certsd-migrate check", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "containerd config file (default /etc/containerd/config.toml, else k0s's /etc/k0s/containerd.toml)")
	certsDir := fs.String("certs-dir", "", "check this directory instead of the config's config_path")
	root := fs.String("root", "", "treat `DIR` as the file system root for every path")
	version := fs.String("containerd-version", "", "containerd `version` to check against, e.g. 1.6.20, 1.7 or 2.1 (default: 1.6.17 through 2.x)")
	k0sVersion := fs.String("k0s-version", "", "k0s `version` of the node (default: told from /etc/k0s/containerd.toml)")
	output := fs.StringP("output", "o", "text", "output format: text or json")
	verbose := fs.BoolP("verbose", "v", false, "also print the hosts containerd tries for every configured registry")
	explain := fs.StringArray("explain", nil, "print the hosts containerd tries for `REGISTRY` (host[:port], or _default); repeatable")
	showSecrets := fs.Bool("show-secrets", false, "print header values (redacted by default)")
	fs.String("color", "auto", "accepted for symmetry with diff; check prints no colour")
	help := fs.BoolP("help", "h", false, "show this help")
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprint(stderr, checkUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return checkUnread
	}
	if *help {
		fmt.Fprint(stdout, checkUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return checkClean
	}
	// As diff and apply do: with -o json, stdout always holds one JSON
	// object, the report or {"error": {...}}.
	fail := func(err error) int {
		fmt.Fprintf(stderr, "certsd-migrate check: %v\n", err)
		if *output == "json" {
			encodeError(err, stdout)
		}
		return checkUnread
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if *output != "text" && *output != "json" {
		return fail(fmt.Errorf("--output must be text or json, not %q", *output))
	}
	opts := migrate.Options{Root: *root, ConfigFile: *config, K0sVersion: *k0sVersion}
	opts.CertsDir = *certsDir
	if *version != "" {
		t, err := convert.ParseTarget(*version)
		if err != nil {
			return fail(fmt.Errorf("--containerd-version: %w", err))
		}
		opts.Target = t
	}
	if *root != "" {
		if info, err := os.Stat(*root); err != nil || !info.IsDir() {
			return fail(errors.New("--root must name an existing directory"))
		}
	}
	for _, p := range []*string{&opts.ConfigFile, &opts.CertsDir} {
		if *p == "" || filepath.IsAbs(*p) {
			continue
		}
		if *root != "" {
			*p = filepath.Join("/", *p)
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fail(err)
		}
		*p = abs
	}
	node, closeNode, err := migrate.ReadNode(opts)
	defer closeNode()
	if err != nil {
		return fail(err)
	}
	report, err := diagnose.Check(node)
	if err != nil {
		return fail(err)
	}
	switch {
	case len(*explain) > 0:
		for _, ns := range *explain {
			report.Namespaces = append(report.Namespaces, report.Explain(ns))
		}
	case *verbose:
		report.ExplainAll()
	}
	report.AddTests()
	o := diagnose.Options{ShowSecrets: *showSecrets}
	if *output == "json" {
		err = report.WriteJSON(stdout, o)
	} else {
		err = report.WriteText(stdout, o)
		if err == nil {
			_, err = fmt.Fprintln(stderr, report.Summary())
		}
	}
	if err != nil {
		return fail(err)
	}
	if diagnose.Failing(report.Findings) {
		return checkFindings
	}
	return checkClean
}
