package migrate

import (
	"fmt"

	"github.com/certsd-migrate/certsd-migrate/convert"
	"github.com/certsd-migrate/certsd-migrate/diagnose"
)

// Warning codes for what `certsd-migrate check`'s rules find in the
// hosts.toml files a plan writes or leaves in place.
const (
	WarnGeneratedHostsFile = "generated-hosts-file"
	WarnKeptHostsFile      = "kept-hosts-file"
)

// checkHostsFiles applies check's hosts.toml rules (package diagnose) to
// the tree after the plan: the files it writes and the files and
// directories it keeps, so that diff and apply warn about what containerd
// would ignore or reject instead of keeping a second set of checks.
// For written files only errors count (checkTLSFile reports their TLS
// files).
func (p *Plan) checkHostsFiles(n *node, target convert.Target) error {
	// Through the node: confined to --root, and a FIFO or a device among
	// the certificate files cannot block or exhaust the run.
	fsys := nodeFS{n}
	written := map[string]bool{}
	for _, f := range p.Files {
		if f.Kind != HostsKind {
			continue
		}
		written[f.Path] = true
		if f.Action == Unchanged {
			continue
		}
		// A written file keeps what the input said (convert warns about
		// that); what matters here is a file containerd would reject.
		for _, d := range diagnose.CheckHostsFile(fsys, target, f.Path, f.After) {
			p.addFinding(WarnGeneratedHostsFile, d)
		}
	}
	if p.CertsDir == "" {
		return nil
	}
	kept, err := diagnose.CheckCertsDir(fsys, target, p.CertsDir, written)
	if err != nil {
		return err
	}
	for _, d := range kept {
		switch d.Code {
		case "dir-shadowed", "default-shadowed", "namespace-dir-empty", "config-path-missing":
			continue // checkShadowingDir and checkDefaultShadowed report the new tree's
		}
		p.addFinding(WarnKeptHostsFile, d)
	}
	return nil
}

func (p *Plan) addFinding(code string, d diagnose.Finding) {
	if d.Severity == diagnose.Info {
		return
	}
	msg := d.Message
	if d.Versions != "" {
		msg += " (containerd " + d.Versions + ")"
	}
	msg = fmt.Sprintf("check's %s %s: %s", d.Severity, d.Code, msg)
	if d.Fix != "" {
		msg += "; fix: " + d.Fix
	}
	p.Warnings = append(p.Warnings, convert.Warning{Code: code, Message: msg, Pos: d.Pos})
}
